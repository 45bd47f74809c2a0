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
from .tolerances import CONFIDENCE, THEOREM1_MIN_RATIO  # noqa: E402

PLOTS = ("cells.png", "rates.png", "beta.png", "limits.png")


def _g(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "inf"
    return f"{x:.{digits}g}"


def plot_cells(res: SuiteResult, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(10, 0.3 * len(res.cells) + 2.5))
    y = np.arange(len(res.cells))[::-1]
    ax.scatter([c.trivial for c in res.cells], y, marker="s", s=30, facecolors="none", edgecolors="0.5",
               label="trivial bound min(C^2, phi(x_0))")
    ax.scatter([c.bound for c in res.cells], y, marker="|", s=200, color="C3", label="a-priori bound")
    ax.scatter([c.local_bound for c in res.cells], y, marker="+", s=60, color="C1", label="min(B1..B4) with the run's own constants")
    ax.scatter([c.a_posteriori for c in res.cells], y, marker="x", color="C2", label="a-posteriori chain bound")
    ax.scatter([c.measured for c in res.cells], y, marker="o", color="C0", label="measured (1/T) sum phi(x_t)")
    ax.set_yticks(y, [c.spec.name + ("" if c.informative() else "  [a-priori not informative]") for c in res.cells], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("(1/T) sum phi(x_t) and its bounds (log scale)")
    ax.set_title("Measured mean phi vs bounds, per cell (left of the grey square = informative)")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.9 / (0.3 * len(res.cells) + 2.5)), ncol=3, frameon=False)
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
    a1.set_ylabel("D_lambda")
    a1.set_title("Client disagreement vs beta", fontsize=10)
    a1.legend(fontsize=8)
    fpos = b.fp_betas > 0
    a2.loglog(b.fp_betas[fpos], b.phi_inf[fpos], "o-", label=f"phi(x_inf) (slope {b.slope:.2f})")
    a2.loglog(b.fp_betas[fpos], b.b3_limit[fpos], "s--", label="B3 as T -> inf")
    a2.axhline(b.phi_inf[~fpos][0], color="C3", ls=":", label=f"beta = 0: {b.phi_inf[~fpos][0]:.3g}")
    a2.set_xlabel("beta")
    a2.set_ylabel("phi(x_inf)")
    a2.set_title("phi at the fixed point (K = 1) vs beta", fontsize=10)
    a2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_limits(res: SuiteResult, path: Path) -> None:
    fp = next(r for r in res.limits if r.name.startswith("fixed points"))
    pf = next(r for r in res.limits if r.name.startswith("preference"))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for j, K in enumerate(sorted({r["K"] for r in fp.rows})):
        rows = [r for r in fp.rows if r["K"] == K]
        b = [r["beta"] for r in rows]
        a1.loglog(b, [r["grad"] for r in rows], "o-", color=f"C{j}", label=f"measured, K = {K}")
        a1.loglog(b, [r["grad_bound"] for r in rows], "s--", color=f"C{j}", alpha=0.6, label=f"bound g_inf, K = {K}")
        if K > 1:
            a1.axhline(rows[0]["floor_bound"], color=f"C{j}", ls=":", label=f"floor bound (beta -> inf), K = {K}")
    a1.set_xlabel("beta")
    a1.set_ylabel("||grad Phi(x_inf)||")
    a1.set_title("Where FIRM ends: offset of the fixed point from x(p)", fontsize=10)
    a1.legend(fontsize=7)
    front = np.array([r["F_front"] for r in pf.rows])
    a2.plot(front[:, 0], front[:, 1], "k-", lw=1, label="analytic front F(x(p)), one client")
    a2.plot(*np.array([r["F_T"] for r in pf.rows]).T, "o", color="C0", label="FIRM F(x_T), one client")
    fh = np.array([r["F_front_het"] for r in pf.rows])
    a2.plot(fh[:, 0], fh[:, 1], "k--", lw=1, label="analytic front, heterogeneous")
    a2.plot(*np.array([r["F_inf_het"] for r in pf.rows]).T, "x", color="C3", label="FIRM F(x_inf), heterogeneous")
    for r in pf.rows:
        a2.annotate(f"p1={r['p1']:g}", r["F_T"], xytext=(4, 4), textcoords="offset points", fontsize=7)
    a2.set_xlabel("f_1")
    a2.set_ylabel("f_2")
    a2.set_title("Preference following: p over the simplex", fontsize=10)
    a2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _federated(res: SuiteResult):
    return [c for c in res.cells if not c.spec.theorem1]


def classify(c) -> str:
    """What a cell's main bound is: a certificate, a check in expectation, a sanity check, or not informative."""
    if not c.informative():
        return "holds, not informative"
    if c.spec.sigma == 0 and not c.spec.partial:
        return "certificate"
    if c.constants.ball == "global":
        return f"checked in expectation ({c.spec.seeds} seeds)"
    return "sanity check in expectation ((A2) verified on the sampled paths only)"


def summary_counts(res: SuiteResult) -> dict:
    fed = _federated(res)
    t1 = [c for c in res.cells if c.spec.theorem1]
    t1q = [c for c in t1 if c.spec.problem == "quadratics"]
    kinds = [classify(c) for c in res.cells]
    return {
        "cells": len(res.cells), "federated": len(fed), "theorem1": len(t1),
        "informative_apriori": sum(c.informative() for c in fed),
        "informative_local": sum(c.informative("local") for c in fed),
        "informative_a_posteriori": sum(c.informative("a-posteriori") for c in fed),
        "informative_theorem1": sum(c.informative() for c in t1),
        "certificates": kinds.count("certificate"),
        "expectation": sum(k.startswith("checked in expectation") for k in kinds),
        "sanity": sum(k.startswith("sanity") for k in kinds),
        "not_informative": kinds.count("holds, not informative"),
        "theorem1_ratio_min": float(min(c.ratio for c in t1q)) if t1q else float("nan"),
        "theorem1_ratio_median": float(np.median([c.ratio for c in t1q])) if t1q else float("nan"),
        "theorem1_ratio_max": float(max(c.ratio for c in t1q)) if t1q else float("nan"),
        "theorem1_above": sum(c.ratio >= THEOREM1_MIN_RATIO for c in t1q), "theorem1_quadratics": len(t1q),
    }


def _what_is_certified(res: SuiteResult, n: dict) -> list[str]:
    return [
        "## What this run certifies, what is informative, what is only a sanity check", "",
        f"- **Theorem 1** (one client, one local step, no noise): {n['informative_theorem1']} of {n['theorem1']} cells have an "
        "informative bound (below min(C^2, phi(x_0))); these are certificates: every constant is exact or verified on a ball "
        "chosen before the run.",
        f"- **Federated cells** ({n['federated']}): the a-priori bound min(B1, B2, B3, B4) holds in every cell but is informative in "
        f"**{n['informative_apriori']} of {n['federated']}**. With the constants C, zeta, zeta_p, zeta_f measured along the run "
        f"itself, the same bound is informative in **{n['informative_local']} of {n['federated']}** (an a-posteriori bound: valid "
        "for that run, not a prediction). The a-posteriori chain bound, which also uses the run's own lambdas and drifts (it checks the "
        f"algebra of the proof), is informative in **{n['informative_a_posteriori']} of {n['federated']}**.",
        f"- Classification of the main bound of every cell: {n['certificates']} certificates (deterministic, informative), "
        f"{n['expectation']} informative expectation bounds checked over seeds with a {CONFIDENCE:.0%} confidence interval "
        f"on a problem whose constants hold everywhere, {n['sanity']} informative expectation bounds that are sanity checks "
        f"(noise or client sampling on quadratics: the ball holding (A2) is verified on the sampled paths only), "
        f"{n['not_informative']} bounds that hold but "
        "certify nothing (they exceed what (A2) or phi(x_0) already say).",
        "- A bound that is not informative is reported as 'holds, not informative', never as a certificate.",
        f"- **Theorem 1 tightness** is a statistic, not a gate: measured / bound on the quadratic Theorem 1 cells ranges "
        f"{_g(n['theorem1_ratio_min'])}-{_g(n['theorem1_ratio_max'])} (median {_g(n['theorem1_ratio_median'])}); "
        f"{n['theorem1_above']} of {n['theorem1_quadratics']} are above {THEOREM1_MIN_RATIO} (the gradient-descent regime "
        "predicts [1/2, 1]; no theorem says every instance is).",
        "- The rate slopes (-1, -1/2) follow from the chosen step sizes; they check the bookkeeping, not the theory.", "",
    ]


def _cell_table(res: SuiteResult) -> list[str]:
    L = ["| cell | M | N | S | w | K | beta | sigma | h | seeds | T | C | zeta / zeta_p | measured | trivial | a-priori bound | ratio | "
         "own constants (ratio) | a-post. (ratio) | verdict | checks |", "|" + "---|" * 21]
    for c in res.cells:
        r = c.row()
        meas = _g(r["measured"], 4) + (f" ± {_g(r['se'], 1)}" if r["se"] > 0 else "")
        loc = f"{_g(c.local_bound)} ({_g(c.measured / c.local_bound)})" if np.isfinite(c.local_bound) else "inf"
        L.append(f"| {r['cell']} | {r['M']} | {r['N']} | {c.spec.participation or 'all'} | {r['weights']} | {r['K']} | {_g(r['beta'])} | "
                 f"{_g(r['sigma'])} | {_g(r['h'])} | {c.spec.seeds} | {r['T']} | {_g(r['C'])} | {_g(r['zeta'])} / {_g(c.constants.zeta_p)} | "
                 f"{meas} | {_g(c.trivial)} | {_g(r['bound'], 4)} ({r['active']}) | **{_g(r['ratio'])}** | {loc} | "
                 f"{_g(c.a_posteriori)} ({_g(r['a_post_ratio'])}) | {classify(c)} | {'ok' if c.ok else 'FAIL'} ({len(c.checks)}) |")
    return L


def _limits_section(res: SuiteResult) -> list[str]:
    L = ["## Where FIRM ends", "", "![limits](limits.png)", ""]
    for r in res.limits:
        L += [f"### {r.name}", ""]
        if r.rows:
            keys = [k for k in r.rows[0] if not isinstance(r.rows[0][k], list)]
            L += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
            L += ["| " + " | ".join(_g(float(x[k])) if not isinstance(x[k], bool | np.bool_) else str(bool(x[k])) for k in keys) + " |"
                  for x in r.rows]
        if r.notes:
            L += ["", "Statistics: " + ", ".join(f"{k} = {_g(float(v))}" for k, v in r.notes.items())]
        L += [""] + [f"- {k.line()}" for k in r.checks] + [""]
    return L


def write_report(res: SuiteResult, out_dir) -> Path:
    """Write report.md, results.json and the PNG plots into ``out_dir``; return the report path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plot_cells(res, out / "cells.png")
    plot_rates(res, out / "rates.png")
    plot_beta(res, out / "beta.png")
    plot_limits(res, out / "limits.png")
    viol = res.violations()
    n = summary_counts(res)
    L = [f"# firm check-theory report ({'quick' if res.quick else 'default'} grid)", ""]
    L.append(f"**{'PASS' if not viol else 'FAIL'}**: {len(viol)} violation(s); {len(res.cells)} cells, "
             f"{sum(len(c.checks) for c in res.cells)} cell checks, {len(res.rates)} rate checks, beta story, "
             f"{len(res.limits)} limit experiments, {len(res.liveness)} liveness checks; {res.seconds:.1f} s. "
             f"Informative federated cells: a-priori {n['informative_apriori']}/{n['federated']}, "
             f"with the run's own constants {n['informative_local']}/{n['federated']}, "
             f"a-posteriori chain {n['informative_a_posteriori']}/{n['federated']}.")
    L += ["", "The theory is derived in docs/theory.md; every bound is a function in `firm_core.theory`. Constants are exact "
          "(L, L_phi, mu_Phi from Hessian eigenvalues, Delta from the exact minimum of Phi) or verified upper bounds (C, zeta, "
          "zeta_p, zeta_f on a ball around x(p) chosen before the run; after the run every visited point is checked to lie in it "
          "and every constant to dominate what was met). sigma is the injected noise (E||xi||^2 = sigma^2, also checked). "
          f"Expectation bounds pass when the upper end of the one-sided {CONFIDENCE:.0%} Student-t interval of the mean over "
          "seeds is below them. 'Informative' means below the trivial bound min(C^2, phi(x_0)) (sqrt 2 for weight distances).", ""]
    L += _what_is_certified(res, n)
    if viol:
        L += ["## Violations", ""] + [f"- {v}" for v in viol] + [""]
    L += ["## Measured vs bound per cell", "", "![cells](cells.png)", "",
          "S: clients drawn per round (with replacement, probabilities w; 'all' = full participation); w: client weights. "
          "'a-priori bound' is Theorem 1 or min(B1, B2, B3, B4); 'own constants' evaluates min(B1, B2, B3, B4) with C, zeta, "
          "zeta_p, zeta_f measured on the run; 'a-post.' is the proof chain with the run's own drifts and lambdas (Phi(x_T) in place of inf Phi).", ""]
    L += _cell_table(res)
    L += ["", "### Bound terms per cell", "",
          "| cell | Delta/(gamma T) | E_b | E_h | E_n | B1 | B2 | B3 (a, rho, variant) | B4 (route, floor) |", "|---|---|---|---|---|---|---|---|---|"]
    for c in res.cells:
        f, t, s = c.federated, c.federated.terms, c.spec
        gam = s.gamma_rel / c.constants.L_phi
        b3 = f"{_g(f.B3.value)} ({_g(f.B3.a)}, {_g(f.B3.rho)}, {f.B3.variant or '–'})"
        b4 = f"{_g(f.B4.value)} ({f.B4.route or '–'}, {_g(f.B4.floor)})"
        L.append(f"| {s.name} | {_g(c.constants.delta / (gam * s.T))} | {_g(t.E_b)} | {_g(t.E_h)} | {_g(t.E_n)} | {_g(f.B1)} | {_g(f.B2)} | {b3} | {b4} |")
    L += ["", "### Checks along the runs (worst over cells)", "",
          "Ratios are max(lhs / rhs) over every instance (client step, round, objective); inequalities that are equalities for interior "
          "lambda (Lemma 0(a), the descent inequality on quadratics) sit at ratio 1 up to round-off. 'informative' is the share of "
          "instances whose bound on a weight distance is below sqrt(2) (the rest only restate the simplex diameter); for the one-round "
          "descent inequality it is the share of rounds whose round-off tolerance is below the curvature term L_phi gamma^2 ||v||^2 / 2 "
          "(in the others the iterate barely moves and the check tests the first-order terms only).", "",
          "| check | instances | max ratio | informative | status |", "|---|---|---|---|---|"]
    agg: dict[str, list] = {}
    for c in res.cells:
        for k in c.checks:
            a = agg.setdefault(k.name, [0, -np.inf, True, 0.0, 0])
            a[0] += k.count
            a[1] = np.nanmax([a[1], k.ratio]) if not math.isnan(k.ratio) else a[1]
            a[2] = a[2] and k.ok
            if "informative" in k.extra:
                a[3] += k.extra["informative"] * k.count
                a[4] += k.count
            elif "curvature_hidden" in k.extra:  # the descent check is informative where its tolerance is below the curvature term
                a[3] += (1.0 - k.extra["curvature_hidden"]) * k.count
                a[4] += k.count
    for name, (cnt, ratio, ok, inf_w, inf_n) in agg.items():
        share = f"{inf_w / inf_n:.0%}" if inf_n else "–"
        L.append(f"| {name} | {cnt} | {_g(float(ratio), 4) if np.isfinite(ratio) else '–'} | {share} | {'ok' if ok else 'VIOLATED'} |")
    rises = [c for c in res.cells if np.isfinite(c.objective_rise)]
    if rises:
        L += ["", "Per-objective price of beta (Lemma 0(b)): largest rise of one objective in one step, as a fraction of its "
              "allowance gamma beta ||e_m - p||^2 / 4: " + ", ".join(f"{c.spec.name}: {_g(c.objective_rise)}" for c in rises)
              + " (a positive value means an objective really rose: the O(beta) term is real)."]
    L += ["", "## Rates", "", "![rates](rates.png)", "",
          "The slopes follow from the step sizes chosen (fixed gamma: T^-1; eta K ~ T^-1/2: T^-1/2); they check the bookkeeping.", "",
          "| rate | T | measured | bound | ratio | slope measured | slope bound | stated |", "|---|---|---|---|---|---|---|---|"]
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
    L += [""] + _limits_section(res)
    L += ["## Liveness: every checker rejects a wrong input", ""]
    L += [f"- {'flagged' if k.ok else 'NOT FLAGGED'}: {k.name[len('rejects '):]} (checker: {k.detail}; ratio {_g(k.ratio)})" for k in res.liveness]
    path = out / "report.md"
    path.write_text("\n".join(L) + "\n", encoding="utf-8")
    summary = {"ok": res.ok, "violations": viol, "seconds": res.seconds, "counts": n, "cells": [c.row() | {"verdict": classify(c)} for c in res.cells],
               "rates": [{"name": r.name, "T": r.T.tolist(), "measured": r.measured.tolist(), "bound": r.bound.tolist()} for r in res.rates],
               "beta": {"betas": b.betas.tolist(), "d_lambda": b.d_lambda.tolist(), "fp_betas": b.fp_betas.tolist(),
                        "phi_inf": b.phi_inf.tolist(), "b3_limit": [float(x) for x in b.b3_limit], "slope": b.slope},
               "limits": [{"name": r.name, "rows": r.rows, "notes": r.notes, "ok": r.ok} for r in res.limits]}
    (out / "results.json").write_text(json.dumps(summary, indent=1, default=_json_default), encoding="utf-8")
    return path


def _json_default(x):
    if isinstance(x, np.bool_ | bool):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    return float(x)
