"""Conformance check of a federated multi-objective problem: ``check_problem(problem)``.

Every problem the engine runs must pass it; run it on your own `Problem`
before trusting a result. Each check either passes, fails with a message saying what is wrong and
the numbers found, or is skipped with the reason:

| check | what must hold |
|---|---|
| `attributes` | `num_clients` N, `num_objectives` M, `dim` d integers >= 1; `noise_std` finite >= 0; `name` a string |
| `client_weights` | shape (N,), finite, >= 0, summing to 1 within `CLIENT_WEIGHT_SUM_TOL` |
| `initial_point` | shape (d,), finite |
| `shapes` | `client_values` (n, M), `client_jacobians` and `stochastic_jacobians` (n, M, d): one row per objective; `values` (M,), `jacobian` (M, d); finite |
| `clients_subset` | oracles on a shuffled subset of clients give those clients' rows of the full call |
| `global_is_weighted_sum` | `values(x)` = sum_i w_i f_i(x) and `jacobian(x)` = sum_i w_i J_i(x) |
| `jacobian_vs_finite_differences` | `client_jacobians` = central differences of `client_values` at random points |
| `stochastic_mean` | the mean of `stochastic_jacobians` over many generators = `client_jacobians` (z-test) |
| `determinism` | same generators, same draws; a client's draw depends only on its own generator |
| `pareto_set` | when `pareto_set_point(w)` is given: phi(x(w)) = 0 (Pareto stationary) and its distance to the set is 0 |
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._checks import CLIENT_WEIGHT_SUM_TOL, lattice_with_at_least
from .base import Problem

__all__ = ["CheckOutcome", "ProblemCheckError", "ProblemCheckReport", "check_problem"]

#: Global = weighted sum of clients, and a subset of clients = their rows of the full call, to this
#: relative accuracy (both are sums of the same floats in a different order).
CONSISTENCY_RTOL = 1e-10
#: stochastic_mean: |mean - J| <= STOCHASTIC_Z * sd / sqrt(S) per entry (a 6-sigma z-test: about 2e-9
#: false alarms per entry under a correct oracle), plus round-off.
STOCHASTIC_Z = 6.0
#: pareto_set: phi(x(w)) <= PARETO_PHI_RTOL * (gradient scale)^2, distance <= PARETO_DIST_RTOL * (1 + ||x||).
PARETO_PHI_RTOL = 1e-8
PARETO_DIST_RTOL = 1e-6
#: Random test points are x_0 + POINT_SPREAD * max(1, ||x_0||_inf) * N(0, I/d).
POINT_SPREAD = 0.5


@dataclass(frozen=True)
class CheckOutcome:
    """One check: ``status`` is "ok", "FAIL" or "skip"; ``detail`` says what was found."""

    name: str
    status: str
    detail: str


@dataclass(frozen=True)
class ProblemCheckReport:
    """Outcome of `check_problem`; ``str(report)`` is a readable table."""

    problem: str
    outcomes: tuple[CheckOutcome, ...]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> tuple[CheckOutcome, ...]:
        return tuple(o for o in self.outcomes if o.status == "FAIL")

    def __str__(self) -> str:
        n_fail = len(self.failures)
        head = f"check_problem({self.problem}): " + (f"{n_fail} of {len(self.outcomes)} checks failed" if n_fail
                                                      else f"all {len(self.outcomes)} checks passed or skipped")
        width = max(len(o.name) for o in self.outcomes)
        return "\n".join([head, *(f"  {o.status:<4}  {o.name:<{width}}  {o.detail}" for o in self.outcomes)])

    def raise_if_failed(self) -> ProblemCheckReport:
        """Raise `ProblemCheckError` (a ValueError carrying this report) if any check failed."""
        if not self.ok:
            raise ProblemCheckError(self)
        return self


class ProblemCheckError(ValueError):
    """A problem failed `check_problem`; ``.report`` holds every outcome."""

    def __init__(self, report: ProblemCheckReport):
        self.report = report
        super().__init__(str(report))


class _Fail(Exception):
    """Raised inside a check with the message of its failure."""


class _Skip(Exception):
    """Raised inside a check with the reason it does not apply."""


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise _Fail(message)


@dataclass
class _Context:
    problem: Problem
    rng: np.random.Generator
    seed: int
    points: int
    oracle_samples: int
    preference_points: int
    xs: list = None  # random test points (d,), set by the initial_point check


# --- checks ---------------------------------------------------------------------------------------

def _is_int(v) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool) and v >= 1


def _attributes(ctx: _Context) -> str:
    p = ctx.problem
    for attr in ("num_clients", "num_objectives", "dim"):
        _require(_is_int(getattr(p, attr, None)), f"`{attr}` must be an integer >= 1, got {getattr(p, attr, None)!r}")
    noise = getattr(p, "noise_std", None)
    _require(isinstance(noise, int | float | np.floating) and math.isfinite(noise) and noise >= 0,
             f"`noise_std` must be a finite number >= 0, got {noise!r}")
    _require(isinstance(getattr(p, "name", None), str), f"`name` must be a string, got {getattr(p, 'name', None)!r}")
    return f"N = {p.num_clients}, M = {p.num_objectives}, d = {p.dim}, noise_std = {p.noise_std:g}"


def _client_weights(ctx: _Context) -> str:
    p = ctx.problem
    w = np.asarray(p.client_weights, dtype=np.float64)
    _require(w.shape == (p.num_clients,), f"shape {w.shape}, expected (N,) = ({p.num_clients},)")
    _require(bool(np.all(np.isfinite(w))), f"non-finite weights {w.tolist()}")
    _require(bool(np.all(w >= 0)), f"negative weights: min {w.min():.6g} at client {int(np.argmin(w))}")
    err = abs(float(w.sum()) - 1.0)
    _require(err <= CLIENT_WEIGHT_SUM_TOL,
             f"sum to {w.sum():.12g}, not 1 (|sum - 1| = {err:.3g} > {CLIENT_WEIGHT_SUM_TOL:g})")
    return f"non-negative, sum 1 (|sum - 1| = {err:.1e}), min {w.min():.3g}, max {w.max():.3g}"


def _initial_point(ctx: _Context) -> str:
    p = ctx.problem
    x0 = np.asarray(p.initial_point(), dtype=np.float64)
    _require(x0.shape == (p.dim,), f"initial_point() has shape {x0.shape}, expected (d,) = ({p.dim},)")
    _require(bool(np.all(np.isfinite(x0))), "initial_point() is not finite")
    spread = POINT_SPREAD * max(1.0, float(np.max(np.abs(x0))))
    ctx.xs = [x0] + [x0 + spread * ctx.rng.standard_normal(p.dim) / np.sqrt(p.dim) for _ in range(ctx.points - 1)]
    return f"shape ({p.dim},), finite; {ctx.points} test points around it"


def _shape_message(what: str, got, want: tuple, *, rows: str = "") -> str:
    msg = f"{what} has shape {tuple(got)}, expected {want}"
    if len(want) >= 2 and tuple(got[-2:]) == (want[-1], want[-2]) and want[-1] != want[-2]:
        msg += " - it looks transposed: Jacobians have one row per objective, shape (..., M, d)"
    return msg + rows


def _check_array(what: str, arr, want: tuple) -> np.ndarray:
    arr = np.asarray(arr)
    _require(arr.shape == want, _shape_message(what, arr.shape, want))
    _require(bool(np.all(np.isfinite(arr))), f"{what} is not finite at the test point")
    return arr


def _all_clients(p):
    clients = np.arange(p.num_clients)
    return clients, lambda x: np.broadcast_to(x, (p.num_clients, p.dim)).copy()


def _generators(seed, clients, draw: int = 0):
    """One generator per client, seeded by (seed, draw, client): client i's stream depends only on i."""
    return [np.random.default_rng([seed, draw, int(i)]) for i in clients]


def _shapes(ctx: _Context) -> str:
    p = ctx.problem
    n, m, d = p.num_clients, p.num_objectives, p.dim
    clients, tile = _all_clients(p)
    x = tile(ctx.xs[0])
    _check_array("client_values(clients, x)", p.client_values(clients, x), (n, m))
    _check_array("client_jacobians(clients, x)", p.client_jacobians(clients, x), (n, m, d))
    _check_array("stochastic_jacobians(clients, x, rngs)",
                 p.stochastic_jacobians(clients, x, _generators(ctx.seed, clients)), (n, m, d))
    _check_array("values(x)", p.values(ctx.xs[0]), (m,))
    _check_array("jacobian(x)", p.jacobian(ctx.xs[0]), (m, d))
    return f"client_values ({n}, {m}), client/stochastic_jacobians ({n}, {m}, {d}), values ({m},), jacobian ({m}, {d})"


def _close(a, b, rtol: float) -> tuple[bool, float]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    scale = max(float(np.max(np.abs(a))) if a.size else 0.0, float(np.max(np.abs(b))) if b.size else 0.0, 1e-300)
    return err <= rtol * scale, err / scale


def _clients_subset(ctx: _Context) -> str:
    p = ctx.problem
    clients, tile = _all_clients(p)
    x = tile(ctx.xs[-1])
    sub = ctx.rng.permutation(p.num_clients)[: max(1, (p.num_clients + 1) // 2)]
    for oracle in ("client_values", "client_jacobians"):
        full = getattr(p, oracle)(clients, x)
        part = getattr(p, oracle)(sub, x[sub])
        ok, rel = _close(part, np.asarray(full)[sub], CONSISTENCY_RTOL)
        _require(ok, f"{oracle} on clients {sub.tolist()} differs from their rows of the call on all clients "
                     f"(relative error {rel:.3g}): the oracle must use its `clients` argument")
    return f"clients {sub.tolist()} give their own rows"


def _global_is_weighted_sum(ctx: _Context) -> str:
    p = ctx.problem
    clients, tile = _all_clients(p)
    w = np.asarray(p.client_weights, dtype=np.float64)
    worst = 0.0
    for x in ctx.xs:
        pairs = (("values", p.values(x), w @ np.asarray(p.client_values(clients, tile(x)))),
                 ("jacobian", p.jacobian(x), np.einsum("i,imd->md", w, p.client_jacobians(clients, tile(x)))))
        for what, glob, summed in pairs:
            ok, rel = _close(glob, summed, CONSISTENCY_RTOL)
            _require(ok, f"{what}(x) != sum_i w_i (client {what}) (relative error {rel:.3g} > {CONSISTENCY_RTOL:g})")
            worst = max(worst, rel)
    return f"at {len(ctx.xs)} points, relative error <= {worst:.1e}"


def _jacobian_vs_fd(ctx: _Context) -> str:
    from ..testing.finite_differences import client_jacobian_mismatch

    p = ctx.problem
    clients, tile = _all_clients(p)
    for k, x in enumerate(ctx.xs):
        mismatch = client_jacobian_mismatch(p, clients, tile(x))
        _require(mismatch.ok, f"at test point {k}, (client, objective, coordinate) {mismatch.describe()}"
                              + _transpose_hint(p, clients, tile(x)))
    return f"client_jacobians match central differences of client_values at {len(ctx.xs)} points"


def _transpose_hint(p, clients, x) -> str:
    from ..testing.finite_differences import MAX_FD_COORDINATES, fd_client_jacobians

    if p.num_objectives != p.dim or p.dim > MAX_FD_COORDINATES:
        return ""
    jac = np.asarray(p.client_jacobians(clients, x), dtype=np.float64)
    fd = fd_client_jacobians(p, clients, x)
    ok, _ = _close(np.swapaxes(jac, -1, -2), fd, 1e-5)
    return " - the transposed Jacobian matches: rows must be objectives, shape (n, M, d)" if ok else ""


def _stochastic_mean(ctx: _Context) -> str:
    p = ctx.problem
    clients, tile = _all_clients(p)
    x = tile(ctx.xs[0])
    full = np.asarray(p.client_jacobians(clients, x), dtype=np.float64)
    s = ctx.oracle_samples
    mean, m2 = np.zeros_like(full), np.zeros_like(full)
    for k in range(s):  # Welford's running mean and variance: memory of one draw, not of s
        draw = np.asarray(p.stochastic_jacobians(clients, x, _generators(ctx.seed, clients, k)), dtype=np.float64)
        delta = draw - mean
        mean += delta / (k + 1)
        m2 += delta * (draw - mean)
    sd = np.sqrt(m2 / (s - 1))
    roundoff = 1e3 * np.finfo(np.float64).eps * max(float(np.max(np.abs(full))), 1e-300)
    excess = np.abs(mean - full) - (STOCHASTIC_Z * sd / np.sqrt(s) + roundoff)
    idx = np.unravel_index(int(np.argmax(excess)), excess.shape)
    _require(excess[idx] <= 0, f"biased: at (client, objective, coordinate) {tuple(int(i) for i in idx)} the mean of "
                               f"{s} draws is {mean[idx]:.6g} but client_jacobians gives {full[idx]:.6g} "
                               f"(|difference| {abs(mean[idx] - full[idx]):.3g} > {STOCHASTIC_Z:g} standard errors "
                               f"{STOCHASTIC_Z * sd[idx] / np.sqrt(s):.3g})")
    kind = "noisy" if np.any(sd > 0) else "deterministic"
    return f"mean of {s} draws = client_jacobians within {STOCHASTIC_Z:g} standard errors ({kind} oracle)"


def _determinism(ctx: _Context) -> str:
    p = ctx.problem
    clients, tile = _all_clients(p)
    x = tile(ctx.xs[0])
    first = np.asarray(p.stochastic_jacobians(clients, x, _generators(ctx.seed, clients)))
    again = np.asarray(p.stochastic_jacobians(clients, x, _generators(ctx.seed, clients)))
    _require(np.array_equal(first, again), "stochastic_jacobians gave different draws for generators with the same "
                                           "seeds: draw all randomness from the `rngs` passed in, one per client")
    sub = ctx.rng.permutation(p.num_clients)[: max(1, (p.num_clients + 1) // 2)]
    part = np.asarray(p.stochastic_jacobians(sub, x[sub], _generators(ctx.seed, sub)))
    _require(np.array_equal(part, first[sub]), f"clients {sub.tolist()} drew differently when called without the "
                                               "others: client i's draw must depend only on its own generator rngs[i]")
    for oracle in ("client_values", "client_jacobians"):
        _require(np.array_equal(getattr(p, oracle)(clients, x), getattr(p, oracle)(clients, x)),
                 f"{oracle} gave different results on two identical calls")
    return "same generators give the same draws; each client's draw depends only on its own generator"


def _pareto_set(ctx: _Context) -> str:
    from ..min_norm import pareto_stationarity

    p = ctx.problem
    if ctx.preference_points == 0:
        raise _Skip("preference_points = 0")
    weights = lattice_with_at_least(p.num_objectives, ctx.preference_points)
    if p.pareto_set_point(weights[0]) is None:
        raise _Skip("no analytic Pareto set (pareto_set_point returns None)")
    g0 = np.asarray(p.jacobian(ctx.xs[0]), dtype=np.float64)
    for w in weights:
        x = _check_array(f"pareto_set_point({np.round(w, 4).tolist()})", p.pareto_set_point(w), (p.dim,))
        jac = np.asarray(p.jacobian(x), dtype=np.float64)
        scale = max(float(np.max(np.sum(jac**2, axis=1))), float(np.max(np.sum(g0**2, axis=1))), 1e-300)
        phi = float(pareto_stationarity(jac))
        _require(phi <= PARETO_PHI_RTOL * scale, f"pareto_set_point({np.round(w, 4).tolist()}) is not Pareto "
                                                 f"stationary: phi = {phi:.3g} > {PARETO_PHI_RTOL:g} * {scale:.3g}")
        dist = p.distance_to_pareto_set(x)
        if dist is not None and dist > PARETO_DIST_RTOL * (1 + float(np.linalg.norm(x))):
            raise _Fail(f"distance_to_pareto_set(pareto_set_point({np.round(w, 4).tolist()})) = {dist:.3g}, expected 0")
    return f"{len(weights)} points of the Pareto set are Pareto stationary"


#: The checks in the order they run; a failure of one in _PREREQUISITES skips the rest.
_CHECKS: tuple[tuple[str, Callable[[_Context], str]], ...] = (
    ("attributes", _attributes),
    ("client_weights", _client_weights),
    ("initial_point", _initial_point),
    ("shapes", _shapes),
    ("clients_subset", _clients_subset),
    ("global_is_weighted_sum", _global_is_weighted_sum),
    ("jacobian_vs_finite_differences", _jacobian_vs_fd),
    ("stochastic_mean", _stochastic_mean),
    ("determinism", _determinism),
    ("pareto_set", _pareto_set),
)
_PREREQUISITES = ("attributes", "initial_point", "shapes")


def _run_one(name: str, check, ctx: _Context) -> CheckOutcome:
    try:
        return CheckOutcome(name, "ok", check(ctx))
    except _Fail as exc:
        return CheckOutcome(name, "FAIL", str(exc))
    except _Skip as exc:
        return CheckOutcome(name, "skip", str(exc))
    except Exception as exc:  # noqa: BLE001 - an oracle that raises is a failure to report, not a crash
        return CheckOutcome(name, "FAIL", f"raised {type(exc).__name__}: {exc}")


def check_problem(problem, *, points: int = 3, oracle_samples: int = 200, preference_points: int = 5,
                  seed: int = 0, raise_on_failure: bool = False) -> ProblemCheckReport:
    """Run every conformance check on ``problem`` (see the module docstring) and return the report.

    ``points``: random test points (x_0 and points around it); ``oracle_samples``: stochastic draws
    averaged by the unbiasedness test; ``preference_points``: Pareto-set points checked (0 skips the
    check, e.g. when ``pareto_set_point`` runs an expensive numerical solve). With
    ``raise_on_failure`` a failed check raises `ProblemCheckError` (a ValueError) instead.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"check_problem: `problem` must be a firm_core.problems.Problem, got {type(problem).__name__}")
    for arg, value, low in (("points", points, 1), ("oracle_samples", oracle_samples, 2),
                            ("preference_points", preference_points, 0), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"check_problem: `{arg}` must be an integer >= {low}, got {value!r}")
    ctx = _Context(problem, np.random.default_rng(seed), seed, points, oracle_samples, preference_points)
    outcomes: list[CheckOutcome] = []
    for name, check in _CHECKS:
        broken = [o.name for o in outcomes if o.status == "FAIL" and o.name in _PREREQUISITES]
        outcome = CheckOutcome(name, "skip", f"needs {', '.join(broken)}") if broken else _run_one(name, check, ctx)
        outcomes.append(outcome)
    label = getattr(problem, "name", None)
    report = ProblemCheckReport(label if isinstance(label, str) else type(problem).__name__, tuple(outcomes))
    return report.raise_if_failed() if raise_on_failure else report
