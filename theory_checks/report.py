"""report.md and PNG plots of a :class:`SuiteResult` (the same code paths the tests run)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .suite import SuiteResult  # noqa: E402
from .tolerances import THEOREM1_MIN_RATIO  # noqa: E402

PLOTS = ("cells.png", "rates.png", "beta.png")


def _g(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.{digits}g}"


def plot_cells(res: SuiteResult, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(9, 0.35 * len(res.cells) + 1.5))
    y = np.arange(len(res.cells))[::-1]
    ax.scatter([c.bound for c in res.cells], y, marker="|", s=200, color="C3", label="bound")
    ax.scatter([c.measured for c in res.cells], y, marker="o", color="C0", label="measured (1/T) sum phi(x_t)")
    ax.scatter([c.a_posteriori for c in res.cells], y, marker="x", color="C2", label="a-posteriori bound")
    for c, yy in zip(res.cells, y):
        ax.annotate(f"{c.active} ratio {c.ratio:.2g}", (c.bound, yy), xytext=(6, -3), textcoords="offset points", fontsize=7)
    ax.set_yticks(y, [c.spec.name for c in res.cells], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("value (log scale)")
    ax.set_title("Measured mean phi vs bound, per cell")
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_rates(res: SuiteResult, path: Path) -> None:
    fig, axes = plt.subplots(1, len(res.rates), figsize=(5 * len(res.rates), 4))
    for ax, r in zip(np.atleast_1d(axes), res.rates):
        ax.loglog(r.T, r.measured, "o-", label=f"measured (slope {r.checks[-2].ratio:.3f})")
        ax.loglog(r.T, r.bound, "s--", label=f"bound (slope {r.checks[-1].ratio:.3f})")
        ax.set_xlabel("T")
        ax.set_ylabel("(1/T) sum phi(x_t)")
        ax.set_title(f"{r.name}\nstated rate T^{r.stated_slope:g}", fontsize=9)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_beta(res: SuiteResult, path: Path) -> None:
    b = res.beta
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    pos = b.betas > 0
    a1.loglog(b.betas[pos], b.d_lambda[pos], "o-", label="D_lambda (mean over clients, rounds)")
    a1.axhline(b.d_lambda[~pos][0], color="C3", ls=":", label="beta = 0 (local MGDA)") if (~pos).any() else None
    a1.set_xlabel("beta")
    a1.set_title("Client disagreement vs beta", fontsize=10)
    a1.legend(fontsize=8)
    fpos = b.fp_betas > 0
    a2.loglog(b.fp_betas[fpos], b.phi_inf[fpos], "o-", label=f"phi(x_inf) (slope {b.slope:.2f})")
    a2.loglog(b.fp_betas[fpos], b.b3_limit[fpos], "s--", label="B3 as T -> inf")
    a2.axhline(b.phi_inf[~fpos][0], color="C3", ls=":", label=f"beta = 0: {b.phi_inf[~fpos][0]:.3g}")
    a2.set_xlabel("beta")
    a2.set_title("phi at the fixed point (K = 1) vs beta", fontsize=10)
    a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(res: SuiteResult, out_dir) -> Path:
    """Write report.md, results.json and the PNG plots into ``out_dir``; return the report path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_cells(res, out / "cells.png")
    plot_rates(res, out / "rates.png")
    plot_beta(res, out / "beta.png")
    viol = res.violations()
    L = [f"# firm check-theory report ({'quick' if res.quick else 'default'} grid)", ""]
    L.append(f"**{'PASS' if not viol else 'FAIL'}**: {len(viol)} violation(s); {len(res.cells)} cells, "
             f"{sum(len(c.checks) for c in res.cells)} cell checks, {len(res.rates)} rate checks, beta story, "
             f"{len(res.liveness)} liveness checks; {res.seconds:.1f} s.")
    L += ["", "The theory is derived in docs/theory.md; every bound is a function in `firm_core.theory`. Constants are exact "
          "(L, L_phi, mu_Phi from Hessian eigenvalues, Delta from the exact minimum of Phi) or verified upper bounds (C, zeta on a "
          "ball around x(p) chosen before the run; after the run every visited point is checked to lie in it and C, zeta to "
          "dominate every gradient norm and heterogeneity met). sigma is the injected noise (E||xi||^2 = sigma^2, also checked).", ""]
    if viol:
        L += ["## Violations", ""] + [f"- {v}" for v in viol] + [""]
    L += ["## Measured vs bound per cell", "", "![cells](cells.png)", "",
          f"Theorem 1 cells (N = K = 1, sigma = 0) must be tight: ratio >= {THEOREM1_MIN_RATIO}. Federated cells use min(B1, B2, B3); "
          "'a-post.' is the same proof chain with the run's own drifts and lambdas (Phi(x_T) in place of inf Phi).", "",
          "| cell | M | N | K | beta | sigma | h | eta | eta_g | T | C | zeta | measured | bound | active | ratio | a-post. ratio | checks |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in res.cells:
        r = c.row()
        meas = _g(r["measured"], 4) + (f" ± {_g(r['se'], 1)}" if r["se"] > 0 else "")
        L.append(f"| {r['cell']} | {r['M']} | {r['N']} | {r['K']} | {_g(r['beta'])} | {_g(r['sigma'])} | {_g(r['h'])} | {_g(r['eta'])} | "
                 f"{_g(r['eta_g'])} | {r['T']} | {_g(r['C'])} | {_g(r['zeta'])} | {meas} | {_g(r['bound'], 4)} | {r['active']} | "
                 f"**{_g(r['ratio'])}** | {_g(r['a_post_ratio'])} | {'ok' if c.ok else 'FAIL'} ({len(c.checks)}) |")
    L += ["", "### Bound terms per cell", "",
          "| cell | Delta/(gamma T) | E_b | E_h | E_n | B1 | B2 | B3 (a, rho, variant) |", "|---|---|---|---|---|---|---|---|"]
    for c in res.cells:
        f, t, s = c.federated, c.federated.terms, c.spec
        gam = s.gamma_rel / c.constants.L_phi
        b3 = f"{_g(f.B3.value)} ({_g(f.B3.a)}, {_g(f.B3.rho)}, {f.B3.variant or '–'})"
        L.append(f"| {s.name} | {_g(c.constants.delta / (gam * s.T))} | {_g(t.E_b)} | {_g(t.E_h)} | {_g(t.E_n)} | {_g(f.B1)} | {_g(f.B2)} | {b3} |")
    L += ["", "### Checks along the runs (worst over cells)", "",
          "Ratios are max(lhs / rhs) over every instance (client step, round, objective); inequalities that are equalities for interior "
          "lambda (Lemma 0(a), the descent inequality on quadratics) sit at ratio 1 up to round-off.", "",
          "| check | instances | max ratio | status |", "|---|---|---|---|"]
    agg: dict[str, list] = {}
    for c in res.cells:
        for k in c.checks:
            a = agg.setdefault(k.name, [0, -np.inf, True])
            a[0] += k.count
            a[1] = np.nanmax([a[1], k.ratio]) if not math.isnan(k.ratio) else a[1]
            a[2] = a[2] and k.ok
    for name, (n, ratio, ok) in agg.items():
        L.append(f"| {name} | {n} | {_g(float(ratio), 4) if np.isfinite(ratio) else '–'} | {'ok' if ok else 'VIOLATED'} |")
    rises = [c for c in res.cells if np.isfinite(c.objective_rise)]
    if rises:
        L += ["", "Per-objective price of beta (Lemma 0(b)): largest rise of one objective in one step, as a fraction of its "
              "allowance gamma beta ||e_m - p||^2 / 4: " + ", ".join(f"{c.spec.name}: {_g(c.objective_rise)}" for c in rises)
              + " (a positive value means an objective really rose: the O(beta) term is real)."]
    L += ["", "## Rates", "", "![rates](rates.png)", "", "| rate | T | measured | bound | ratio | slope measured | slope bound | stated |",
          "|---|---|---|---|---|---|---|---|"]
    for r in res.rates:
        L.append(f"| {r.name} | {', '.join(map(str, r.T))} | {', '.join(_g(v) for v in r.measured)} | {', '.join(_g(v) for v in r.bound)} | "
                 f"{', '.join(_g(v) for v in r.measured / r.bound)} | {_g(r.checks[-2].ratio, 4)} | {_g(r.checks[-1].ratio, 4)} | {r.stated_slope:g} |")
    b = res.beta
    L += ["", "## The beta story", "", "![beta](beta.png)", "",
          "| beta | " + " | ".join(_g(x) for x in b.betas) + " |", "|---|" + "---|" * len(b.betas),
          "| D_lambda | " + " | ".join(_g(x) for x in b.d_lambda) + " |", "",
          "| beta | " + " | ".join(_g(x) for x in b.fp_betas) + " |", "|---|" + "---|" * len(b.fp_betas),
          "| phi(x_inf) | " + " | ".join(_g(x) for x in b.phi_inf) + " |",
          "| B3 (T -> inf) | " + " | ".join(_g(x) for x in b.b3_limit) + " |", "",
          f"phi(x_0) = {_g(b.phi0)}; homogeneous control (zeta = 0, beta = 0): phi(x_inf) = {_g(b.phi_inf_homogeneous)}. "
          f"Fitted slope of log phi(x_inf) vs log beta: {b.slope:.3f} (expected -2).", ""]
    L += [f"- {k.line()}" for k in b.checks]
    L += ["", "## Liveness: every checker rejects a wrong input", ""]
    L += [f"- {'flagged' if k.ok else 'NOT FLAGGED'}: {k.name[len('rejects '):]} (checker: {k.detail}; ratio {_g(k.ratio)})" for k in res.liveness]
    path = out / "report.md"
    path.write_text("\n".join(L) + "\n", encoding="utf-8")
    summary = {"ok": res.ok, "violations": viol, "seconds": res.seconds, "cells": [c.row() for c in res.cells],
               "rates": [{"name": r.name, "T": r.T.tolist(), "measured": r.measured.tolist(), "bound": r.bound.tolist()} for r in res.rates],
               "beta": {"betas": b.betas.tolist(), "d_lambda": b.d_lambda.tolist(), "fp_betas": b.fp_betas.tolist(),
                        "phi_inf": b.phi_inf.tolist(), "b3_limit": [float(x) for x in b.b3_limit], "slope": b.slope}}
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=float), encoding="utf-8")
    return path
