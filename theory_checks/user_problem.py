"""``firm check-theory --problem FILE``: Theorem 1 and the federated a-priori bound on your own problem.

FILE (TOML / YAML / JSON) holds a ``[problem]`` table exactly as a ``firm run`` config (the sections of a
run config are accepted and ignored), an optional ``[constants]`` table (any of L, L_phi, C, zeta, sigma,
delta, stated by the user) and an optional ``[check]`` table (CHECK_DEFAULTS). Constants not stated are
estimated on the ball B(x_0, R) (:mod:`theory_checks.user_constants`); when an iterate leaves the ball,
R grows to BALL_MARGIN times the farthest distance met and everything is redone (at most MAX_BALL_TRIES
times). Two runs, both with round step gamma = gamma_rel / L_phi (or eta_g eta K with ``eta``):
  Theorem 1: N = K = 1 deterministic FIRM on the global objective F = sum_i w_i F_i, bound
             Delta / (gamma (1 - L_phi gamma / 2) T) on (1/T) sum_t [phi(x_t) + beta ||lambda_t - p||^2];
  federated: FIRM on the problem (every client, K local steps), mean phi against min(B1, B2, B3, B4).
Then every constant is compared with what the runs met (C with every gradient norm, L with every
difference quotient, ...): a stated constant below a value the problem attains is a violation.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from firm_core import theory as th
from firm_core.problems.base import Problem

from .cells import check_mean_bound, upper_confidence
from .checks import CheckResult, check_bound, check_le
from .tolerances import BALL_MARGIN, NOISE_Z
from .trace import Trace, run_traced
from .user_constants import CONSTANT_NAMES, ESTIMATE_SAFETY, estimate_constants

#: [check] keys and their defaults (None: derived; see the module docstring and docs/theory.md).
CHECK_DEFAULTS = {"beta": 1.0, "rounds": 100, "K": 5, "gamma_rel": 0.5, "eta": None, "eta_g": 1.0, "radius": None,
                  "seeds": None, "samples": 32, "seed": 0, "preference": None}

#: Seeds of the federated run when the problem is stochastic and [check] seeds is not given.
NOISY_SEEDS = 10

#: Times the ball may grow after an iterate left it.
MAX_BALL_TRIES = 4

#: Top-level sections of a ``firm run`` config, accepted (so the same file serves both) and ignored.
RUN_SECTIONS = ("name", "run", "defaults", "algorithms", "sweep")

STATED, ESTIMATED = "stated by the user", "estimated, not certified"


class UserCheckError(ValueError):
    """A bad check file: the message names the key (``constants.C ...``)."""


@dataclass(frozen=True)
class CheckSettings:
    beta: float = 1.0
    rounds: int = 100
    K: int = 5
    gamma_rel: float = 0.5
    eta: float | None = None
    eta_g: float = 1.0
    radius: float | None = None
    seeds: int | None = None
    samples: int = 32
    seed: int = 0
    preference: tuple[float, ...] | None = None


@dataclass
class UserCheckResult:
    label: str
    problem: dict
    constants: dict[str, float]
    sources: dict[str, str]
    radius: float
    ball_note: str
    settings: CheckSettings
    gamma: float
    eta: float
    theorem1: dict = field(default_factory=dict)
    federated: dict = field(default_factory=dict)
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def estimated(self) -> bool:
        return ESTIMATED in self.sources.values()

    def verdict(self, ok: bool) -> str:
        if not ok:
            return "VIOLATED"
        return "holds with estimated constants" if self.estimated else "holds with the stated constants"

    def violations(self) -> list[str]:
        return [k.line() for k in self.checks if not k.ok]


# --- the file ---------------------------------------------------------------------------------------------
def _positive(value, path: str, *, integer: bool = False, allow_zero: bool = False) -> float | int:
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or not np.isfinite(value):
        raise UserCheckError(f"{path} must be {kind}, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise UserCheckError(f"{path} must be {'>= 0' if allow_zero else 'positive'}, got {value!r}")
    return int(value) if integer else float(value)


def _table(raw: dict, key: str) -> dict:
    table = raw.get(key, {})
    if not isinstance(table, dict):
        raise UserCheckError(f"{key} must be a table, got {table!r}")
    return table


def parse_constants(table: dict) -> dict[str, float]:
    """The stated constants; unknown names and non-positive values (sigma and zeta may be 0) are errors naming the key."""
    out = {}
    for key, value in table.items():
        if key not in CONSTANT_NAMES:
            raise UserCheckError(f"constants.{key} is not a known constant (known: {', '.join(CONSTANT_NAMES)})")
        out[key] = _positive(value, f"constants.{key}", allow_zero=key in ("sigma", "zeta"))
    if "L" in out and "L_phi" in out and out["L_phi"] > out["L"]:
        raise UserCheckError(f"constants.L_phi must be <= constants.L = {out['L']!r} (Phi averages L-smooth functions), got {out['L_phi']!r}")
    return out


def parse_settings(table: dict, num_objectives: int) -> CheckSettings:
    unknown = sorted(set(table) - set(CHECK_DEFAULTS))
    if unknown:
        raise UserCheckError(f"check.{unknown[0]} is not a known setting (known: {', '.join(CHECK_DEFAULTS)})")
    kw = {}
    for key, value in table.items():
        path = f"check.{key}"
        if key == "preference":
            if not isinstance(value, list) or len(value) != num_objectives or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value) or sum(value) <= 0:
                raise UserCheckError(f"{path} must be a list of {num_objectives} non-negative numbers, got {value!r}")
            kw[key] = tuple(float(v) / sum(value) for v in value)
        elif key in ("rounds", "K", "seeds", "samples", "seed"):
            kw[key] = _positive(value, path, integer=True, allow_zero=key == "seed")
        else:
            kw[key] = _positive(value, path, allow_zero=key == "beta")
    if kw.get("gamma_rel", 0.0) >= 2.0:
        raise UserCheckError(f"check.gamma_rel must be < 2 (Theorem 1 needs gamma L_phi < 2), got {kw['gamma_rel']!r}")
    return CheckSettings(**kw)


def load_check_file(path) -> tuple[Problem, str, dict[str, float], CheckSettings]:
    """(problem, label, stated constants, settings) from FILE; ConfigError / UserCheckError name the key."""
    from firm.experiments.config import _check_problem, read_config_file
    from firm.experiments.schema import ConfigError

    try:
        raw = read_config_file(path)
    except ConfigError as exc:
        raise UserCheckError(str(exc)) from None
    unknown = sorted(set(raw) - {"problem", "constants", "check", *RUN_SECTIONS})
    if unknown:
        raise UserCheckError(f"{unknown[0]} is not a known section (known: problem, constants, check)")
    if "problem" not in raw:
        raise UserCheckError(f"problem is required but missing in {str(path)!r}")
    try:
        label, _, problem, _ = _check_problem(raw["problem"])
    except ConfigError as exc:
        raise UserCheckError(str(exc)) from None
    stated = parse_constants(_table(raw, "constants"))
    return problem, label, stated, parse_settings(_table(raw, "check"), int(problem.num_objectives))


# --- the runs ---------------------------------------------------------------------------------------------
class GlobalObjective(Problem):
    """The global objective F = sum_i w_i F_i of a problem as a one-client, noise-free problem (Theorem 1's setting)."""

    def __init__(self, problem: Problem):
        self.inner = problem
        self.name = f"global objective of {problem.name}"
        self.num_clients, self.num_objectives, self.dim = 1, int(problem.num_objectives), int(problem.dim)
        self.client_weights = np.ones(1)
        self.noise_std = 0.0

    def initial_point(self):
        return self.inner.initial_point()

    def client_values(self, clients, x):
        return np.stack([self.inner.values(xi) for xi in x])

    def client_jacobians(self, clients, x):
        return np.stack([self.inner.jacobian(xi) for xi in x])


def _merge_constants(stated: dict, estimated: dict) -> tuple[dict, dict]:
    consts = {k: stated.get(k, estimated.get(k)) for k in CONSTANT_NAMES}
    if "L_phi" not in stated and "L" in stated:
        consts["L_phi"] = min(consts["L_phi"], consts["L"])
    if "L" not in stated:
        consts["L"] = max(consts["L"], consts["L_phi"])
    return consts, {k: STATED if k in stated else ESTIMATED for k in CONSTANT_NAMES}


def _runs(problem, consts, s: CheckSettings, p) -> tuple[float, float, Trace, list[Trace]]:
    K = s.K
    gamma = s.gamma_rel / consts["L_phi"] if s.eta is None else s.eta_g * s.eta * K
    eta = gamma / (s.eta_g * K)
    seeds = s.seeds or (NOISY_SEEDS if consts["sigma"] > 0 else 1)
    with np.errstate(all="ignore"):
        t1 = run_traced(GlobalObjective(problem), beta=s.beta, eta=gamma, eta_g=1.0, local_steps=1, rounds=s.rounds, preference=p)
        fed = [run_traced(problem, beta=s.beta, eta=eta, eta_g=s.eta_g, local_steps=K, rounds=s.rounds, preference=p, seed=k)
               for k in range(seeds)]
    return gamma, eta, t1, fed


def _farthest(traces: list[Trace], x0) -> float:
    pts = np.concatenate([tr.all_points() for tr in traces])
    dist = np.linalg.norm(pts - x0, axis=1)
    return float(np.max(dist)) if np.all(np.isfinite(dist)) else float("inf")


def run_user_check(problem, label: str, stated: dict, s: CheckSettings) -> UserCheckResult:
    """Estimate what is not stated, run both settings, check both bounds and the constants (module docstring)."""
    start = time.perf_counter()
    m = int(problem.num_objectives)
    p = np.full(m, 1.0 / m) if s.preference is None else np.asarray(s.preference)
    x0 = np.asarray(problem.initial_point(), dtype=np.float64)
    radius = s.radius or max(1.0, float(np.linalg.norm(x0)))
    note = "given in [check] radius" if s.radius else "max(1, ||x_0||)"
    missing = set(CONSTANT_NAMES) - set(stated)
    for _ in range(MAX_BALL_TRIES):
        est = estimate_constants(problem, p, radius, samples=s.samples, seed=s.seed) if missing else {}
        consts, sources = _merge_constants(stated, est)
        if not consts["L_phi"] > 0:
            raise UserCheckError(f"constants.L_phi was estimated as {consts['L_phi']!r} (Phi looks affine on the ball of radius "
                                 f"{radius:.4g}); state constants.L_phi")
        gamma, eta, t1, fed = _runs(problem, consts, s, p)
        far = _farthest([t1, *fed], x0)
        if not missing or s.radius or far <= radius or not np.isfinite(far):
            break
        radius, note = BALL_MARGIN * far, f"grown to {BALL_MARGIN} x the farthest iterate after one left the ball"
    res = UserCheckResult(label, problem.describe(), consts, sources, radius, note, s, gamma, eta)
    res.theorem1, c1 = _theorem1(t1, consts, gamma, s, p)
    res.federated, c2 = _federated(fed, consts, eta, s, m)
    res.checks = c1 + c2 + constant_checks(problem, [t1, *fed], fed, consts, p, radius if missing else None, x0)
    res.theorem1["verdict"] = res.verdict(all(k.ok for k in c1))
    res.federated["verdict"] = res.verdict(all(k.ok for k in c2))
    res.seconds = time.perf_counter() - start
    return res


def _theorem1(tr: Trace, c: dict, gamma: float, s: CheckSettings, p) -> tuple[dict, list[CheckResult]]:
    lhs = float(np.mean(tr.phi[:-1] + s.beta * np.sum((tr.lam_server[:-1] - p) ** 2, axis=1)))
    phi0 = float(tr.phi[0])
    if not gamma * c["L_phi"] < 2.0:
        return {"applicable": False, "measured": lhs, "gamma_L_phi": gamma * c["L_phi"], "phi0": phi0}, []
    bound = th.theorem1_bound(c["delta"], gamma, c["L_phi"], s.rounds)
    check = check_bound("Theorem 1: (1/T) sum [phi + beta ||lambda - p||^2] <= Delta / (gamma (1 - L_phi gamma / 2) T)", lhs, bound)
    out = {"applicable": True, "measured": lhs, "bound": bound, "ratio": lhs / bound if bound > 0 else float("inf"),
           "phi0": phi0, "informative": bool(bound < min(c["C"] ** 2, phi0))}
    return out, [check]


def _federated(traces: list[Trace], c: dict, eta: float, s: CheckSettings, m: int) -> tuple[dict, list[CheckResult]]:
    bc = th.BoundConstants(L=c["L"], L_phi=c["L_phi"], C=c["C"], zeta=c["zeta"], sigma=c["sigma"], M=m, beta=s.beta,
                           eta=eta, eta_g=s.eta_g, K=s.K, T=s.rounds, delta=c["delta"])
    fed = th.federated_bound(bc)
    per_seed = np.array([tr.phi[:-1].mean() for tr in traces])
    measured, upper = float(per_seed.mean()), upper_confidence(per_seed)
    phi0 = float(traces[0].phi[0])
    check = check_mean_bound(f"federated: mean phi <= min(B1, B2, B3, B4) (active {fed.active})", per_seed, fed.value)
    out = {"measured": measured, "upper_confidence": upper, "seeds": int(per_seed.size), "bound": fed.value, "active": fed.active,
           "B1": fed.B1, "B2": fed.B2, "B3": fed.B3.value, "B4": None if fed.B4 is None else fed.B4.value,
           "ratio": measured / fed.value if fed.value > 0 else float("inf"), "phi0": phi0,
           "informative": bool(np.isfinite(fed.value) and fed.value < min(c["C"] ** 2, phi0))}
    return out, [check]


def constant_checks(problem, traces: list[Trace], fed: list[Trace], c: dict, p, radius, x0) -> list[CheckResult]:
    """Each constant against what the runs met: a constant below an attained value is a violation."""
    out = []
    if radius is not None:
        out.append(check_le("every iterate in the ball where constants were estimated", _farthest(traces, x0), radius))
    grads = np.concatenate([np.linalg.norm(tr.jac_clean, axis=-1).ravel() for tr in fed])
    out.append(check_le("C >= every ||grad f_{i,m}|| met", grads.max(), c["C"]))
    het = np.concatenate([np.linalg.norm(tr.jac_clean[:, :, 0] - tr.jac_server[:-1, None], axis=-1).ravel() for tr in fed])
    out.append(check_le("zeta >= every ||grad f_{i,m} - grad f_m|| met", het.max(), c["zeta"]))
    out.append(check_le("L >= every difference quotient of a client gradient met", _client_quotients(fed), c["L"]))
    out.append(check_le("L_phi >= every difference quotient of grad Phi met", _phi_quotients(traces, p), c["L_phi"]))
    drop = max(float(tr.potential[0] - np.min(tr.potential)) for tr in traces)
    out.append(check_le("delta >= Phi(x_0) - every Phi met", drop, c["delta"]))
    if any(tr.lam_clean is not None for tr in fed):
        xi_sq = np.concatenate([np.sum((tr.jac_used - tr.jac_clean) ** 2, axis=-1).ravel() for tr in fed])
        se = float(xi_sq.std(ddof=1) / np.sqrt(xi_sq.size))
        out.append(check_le(f"sigma^2 >= mean ||xi||^2 met (less {NOISE_Z:g} standard errors)", float(xi_sq.mean()) - NOISE_Z * se,
                            c["sigma"] ** 2))
    return out


def _quotients(g_a, g_b, x_a, x_b) -> np.ndarray:
    dg = np.linalg.norm(g_a - g_b, axis=-1)
    dx = np.broadcast_to(np.linalg.norm(x_a - x_b, axis=-1), dg.shape)
    keep = dx > 0
    return dg[keep] / dx[keep] if keep.any() else np.zeros(1)


def _client_quotients(fed: list[Trace]) -> float:
    q = [0.0]
    for tr in fed:  # consecutive local steps of a client, and a client's gradient at consecutive server iterates
        if tr.y.shape[2] > 1:
            q.append(float(np.max(_quotients(tr.jac_clean[:, :, 1:], tr.jac_clean[:, :, :-1], tr.y[:, :, 1:, None], tr.y[:, :, :-1, None]))))
        g0 = tr.jac_clean[:, :, 0]
        q.append(float(np.max(_quotients(g0[1:], g0[:-1], tr.x[1:-1, None, None], tr.x[:-2, None, None]))))
    return max(q)


def _phi_quotients(traces: list[Trace], p) -> float:
    q = [0.0]
    for tr in traces:
        u = np.einsum("m,tmd->td", p, tr.jac_server)
        q.append(float(np.max(_quotients(u[1:], u[:-1], tr.x[1:], tr.x[:-1]))))
    return max(q)


# --- the report -------------------------------------------------------------------------------------------
def result_dict(res: UserCheckResult) -> dict:
    return {"problem": res.label, "describe": res.problem, "ball": {"center": "x_0", "radius": res.radius, "how": res.ball_note},
            "constants": {k: {"value": v, "source": res.sources[k]} for k, v in res.constants.items()},
            "safety_factor": ESTIMATE_SAFETY, "settings": res.settings.__dict__, "gamma": res.gamma, "eta": res.eta,
            "theorem1": res.theorem1, "federated": res.federated,
            "checks": [{"name": k.name, "ok": k.ok, "ratio": k.ratio, "count": k.count, "worst": k.worst, "detail": k.detail} for k in res.checks],
            "ok": not res.violations(), "seconds": res.seconds}


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)


def write_user_report(res: UserCheckResult, out_dir) -> Path:
    """report.md and results.json in out_dir; returns the report's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s, t1, fd = res.settings, res.theorem1, res.federated
    lines = [f"# Theory checks on {res.label}", "",
             f"{res.problem.get('name', res.label)}: N = {res.problem['num_clients']} clients, M = {res.problem['num_objectives']} "
             f"objectives, d = {res.problem['dim']}. beta = {s.beta:g}, T = {s.rounds}, K = {s.K}, eta_g = {s.eta_g:g}, "
             f"round step gamma = {res.gamma:.4g} (client step eta = {res.eta:.4g}).", "",
             "## Constants", "",
             (f"Estimated constants are sampled on the ball B(x_0, R), R = {res.radius:.4g} ({res.ball_note}), "
              f"{s.samples} points, times a safety factor {ESTIMATE_SAFETY:g}: estimates, not certified upper bounds."
              if res.estimated else "Every constant is stated by the user; nothing is estimated."), "",
             "| constant | value | source |", "|---|---|---|"]
    lines += [f"| {k} | {v:.4g} | {res.sources[k]} |" for k, v in res.constants.items()]
    lines += ["", "## Theorem 1 (N = K = 1, deterministic FIRM on the global objective)", ""]
    if t1.get("applicable"):
        lines += [f"(1/T) sum [phi + beta ||lambda - p||^2] = {t1['measured']:.4g}, bound {t1['bound']:.4g}, "
                  f"measured / bound = {t1['ratio']:.3g}; informative (bound below min(C^2, phi(x_0)) = "
                  f"{min(res.constants['C'] ** 2, t1['phi0']):.4g}): {'yes' if t1['informative'] else 'no'}.", "",
                  f"**Verdict: {t1['verdict']}.**"]
    else:
        lines += [f"Not applicable: gamma L_phi = {t1['gamma_L_phi']:.3g} >= 2."]
    lines += ["", "## Federated a-priori bound (every client takes part)", "",
              f"mean phi = {fd['measured']:.4g} over {fd['seeds']} seed(s) (upper confidence end {fd['upper_confidence']:.4g}), "
              f"bound min(B1, B2, B3, B4) = {fd['bound']:.4g} (active {fd['active']}; B1 {_fmt(fd['B1'])}, B2 {_fmt(fd['B2'])}, "
              f"B3 {_fmt(fd['B3'])}, B4 {_fmt(fd['B4'])}), measured / bound = {fd['ratio']:.3g}; informative: "
              f"{'yes' if fd['informative'] else 'no'}.", "", f"**Verdict: {fd['verdict']}.**", "",
              "## Every check", ""]
    lines += [f"- {k.line()}" for k in res.checks]
    viol = res.violations()
    lines += ["", f"**{'VIOLATED: ' + str(len(viol)) + ' check(s)' if viol else res.verdict(True).capitalize()}** ({res.seconds:.1f} s)", ""]
    path = out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    (out / "results.json").write_text(json.dumps(result_dict(res), indent=2, default=_json_default), encoding="utf-8")
    return path


def _json_default(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, (np.ndarray, tuple)):
        return list(x)
    return str(x)
