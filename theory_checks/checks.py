"""Checkers: each compares a measured quantity with its bound and reports the ratio and any violation.

Every checker returns a :class:`CheckResult`; ``ok`` is False as soon as one instance violates its
inequality beyond round-off (tolerances in :mod:`theory_checks.tolerances`). tests/theory feeds each
checker a deliberately wrong bound or a perturbed lambda and asserts that it reports the violation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from firm_core import theory as th

from .tolerances import BOUND_RTOL, RATIO_FLOOR_REL, ROUNDOFF_RTOL


@dataclass(frozen=True)
class CheckResult:
    """name: what was checked; ok: no violation; ratio: max measured / bound over the instances (NaN if
    no instance has a positive bound); count: instances checked; worst: largest (lhs - rhs) found;
    detail: free text for the report."""

    name: str
    ok: bool
    ratio: float
    count: int
    worst: float
    detail: str = ""
    extra: dict = field(default_factory=dict)

    def line(self) -> str:
        status = "ok" if self.ok else "VIOLATED"
        return f"{self.name}: {status} (max ratio {self.ratio:.4g} over {self.count}; worst lhs-rhs {self.worst:.3g}) {self.detail}".rstrip()


def check_le(name: str, lhs, rhs, scale=None, *, rtol: float = ROUNDOFF_RTOL, detail: str = "") -> CheckResult:
    """lhs <= rhs elementwise, accepting lhs - rhs <= rtol * scale (scale: the terms' magnitude;
    default |lhs| + |rhs|). inf on the right always holds; NaN anywhere is a violation."""
    lhs = np.atleast_1d(np.asarray(lhs, dtype=np.float64))
    rhs = np.broadcast_to(np.asarray(rhs, dtype=np.float64), lhs.shape)
    if scale is None:
        scale = np.abs(lhs) + np.where(np.isfinite(rhs), np.abs(rhs), 0.0)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), lhs.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        excess = np.where(np.isinf(rhs) & (rhs > 0), -np.inf, lhs - rhs)
        bad = np.isnan(lhs) | np.isnan(rhs) | (excess > rtol * scale)
        pos = np.isfinite(rhs) & (rhs > 0) & (rhs > RATIO_FLOOR_REL * scale)
        ratios = np.where(pos, lhs / np.where(pos, rhs, 1.0), np.nan)
    finite = ratios[~np.isnan(ratios)]
    ratio = float(finite.max()) if finite.size else float("nan")
    worst = float(np.max(excess)) if excess.size else float("nan")
    return CheckResult(name, bool(not bad.any()), ratio, int(lhs.size), worst, detail)


def check_bound(name: str, measured, bound, *, detail: str = "") -> CheckResult:
    """An average against its bound: measured <= bound (1 + BOUND_RTOL)."""
    b = np.asarray(bound, dtype=np.float64)
    return check_le(name, measured, b, np.abs(b), rtol=BOUND_RTOL, detail=detail)


def check_at_least(name: str, value, floor, *, detail: str = "") -> CheckResult:
    """value >= floor (no tolerance: used for ratios and floors far from round-off); ``ratio`` is
    max(floor / value), so that, as everywhere, a ratio <= 1 means the inequality holds."""
    v = np.atleast_1d(np.asarray(value, dtype=np.float64))
    f = np.broadcast_to(np.asarray(floor, dtype=np.float64), v.shape)
    ok = bool(np.all(v >= f))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.max(f / v)) if np.all(v > 0) else float("nan")
    return CheckResult(name, ok, ratio, int(v.size), float(np.max(f - v)), detail)


# --- Lemma 0 -------------------------------------------------------------------------------------------
def _lemma0_parts(jac, lam, beta, preference):
    jac = np.asarray(jac, dtype=np.float64)  # (..., M, d)
    lam = np.asarray(lam, dtype=np.float64)  # (..., M)
    p = np.asarray(preference, dtype=np.float64)
    d = np.einsum("...m,...md->...d", lam, jac)
    gp = np.einsum("m,...md->...d", p, jac)
    return jac, lam, p, d, gp


def _weights_roundoff_scale(jac, lam, p, d, beta):
    """Magnitude of what a round-off change of lambda moves: ||G||_F (||d|| + ||G p||) + beta (||lambda - p|| + 1).
    d = G lambda is often a near-cancellation of large gradients, so an ulp of lambda moves it by ~eps ||G||."""
    gn = np.linalg.norm(jac, axis=(-2, -1))
    gp = np.einsum("m,...md->...d", p, jac)
    return gn * (np.linalg.norm(d, axis=-1) + np.linalg.norm(gp, axis=-1)) + beta * (np.linalg.norm(lam - p, axis=-1) + 1.0)


def check_lemma0a(jac, lam, beta: float, preference, name: str = "Lemma 0(a)") -> CheckResult:
    """||d||^2 + beta ||lambda - p||^2 <= <G p, d>, d = G lambda, at every instance (batched)."""
    jac, lam, p, d, gp = _lemma0_parts(jac, lam, beta, preference)
    dd = np.sum(d * d, axis=-1)
    reg = beta * np.sum((lam - p) ** 2, axis=-1)
    inner = np.sum(gp * d, axis=-1)
    scale = dd + reg + np.abs(inner) + _weights_roundoff_scale(jac, lam, p, d, beta)
    return check_le(name, dd + reg, inner, scale)


def check_lemma0b(jac, lam, beta: float, preference, name: str = "Lemma 0(b)") -> CheckResult:
    """||d||^2 - <g_m, d> <= beta ||e_m - p||^2 / 4 for every objective m and instance; ``extra['used']``
    is the largest fraction of the allowance used (how tight the constant 1/4 is on these instances)."""
    jac, lam, p, d, _ = _lemma0_parts(jac, lam, beta, preference)
    m = p.size
    dd = np.sum(d * d, axis=-1)[..., None]
    inner = np.einsum("...md,...d->...m", jac, d)
    allow = np.array([th.lemma0b_allowance(beta, p, j) for j in range(m)])
    lhs = dd - inner
    scale = dd + np.abs(inner) + allow + _weights_roundoff_scale(jac, lam, p, d, beta)[..., None]
    res = check_le(name, lhs, np.broadcast_to(allow, lhs.shape), scale)
    used = float(np.max(lhs / allow)) if beta > 0 else float("nan")
    return CheckResult(res.name, res.ok, res.ratio, res.count, res.worst, res.detail, {"used": used})


def check_lemma0c(jac, lam, lam_star, beta: float, preference, name: str = "Lemma 0(c)") -> CheckResult:
    """phi <= ||d||^2 <= phi + (beta / 2) ||lambda* - p||^2 with phi = ||G lambda*||^2 (both inequalities; the
    factor 1/2 sharpens the reference derivation's beta, see docs/theory.md)."""
    jac, lam, p, d, _ = _lemma0_parts(jac, lam, beta, preference)
    dstar = np.einsum("...m,...md->...d", np.asarray(lam_star, dtype=np.float64), jac)
    phi = np.sum(dstar**2, axis=-1)
    dd = np.sum(d * d, axis=-1)
    upper = th.lemma0c_upper(phi, beta, lam_star, p)
    reg = upper - phi
    scale = phi + dd + reg + _weights_roundoff_scale(jac, lam, p, d, beta) + _weights_roundoff_scale(jac, np.asarray(lam_star), p, dstar, beta)
    lo = check_le(name + " lower", phi, dd, scale)
    hi = check_le(name + " upper", dd, upper, scale)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(reg > 0, (dd - phi) / reg, np.nan)
    used = float(np.nanmax(frac)) if np.any(reg > 0) else float("nan")
    return CheckResult(name, lo.ok and hi.ok, hi.ratio, lo.count + hi.count, max(lo.worst, hi.worst), "", {"used": used})


# --- Lemma 1 and 2 -------------------------------------------------------------------------------------
def gram(jac) -> np.ndarray:
    """Q = J J^T for Jacobians (..., M, d) (rows are objectives)."""
    jac = np.asarray(jac, dtype=np.float64)
    return np.einsum("...md,...nd->...mn", jac, jac)


def check_lemma1(gram_a, gram_b, lam_a, lam_b, beta: float, name: str = "Lemma 1") -> CheckResult:
    """||lambda_a - lambda_b|| <= ||P_perp (Q_a - Q_b) lambda_b|| / beta (batched), lambda_a = lambda_beta(Q_a)."""
    qa, qb = np.asarray(gram_a, dtype=np.float64), np.asarray(gram_b, dtype=np.float64)
    lhs = np.linalg.norm(np.asarray(lam_a) - np.asarray(lam_b), axis=-1)
    rhs = th.lemma1_bound(qa, qb, lam_b, beta)
    qscale = np.max(np.abs(qa), axis=(-2, -1)) + np.max(np.abs(qb), axis=(-2, -1))
    scale = 1.0 + qscale / beta if beta > 0 else np.ones_like(lhs)
    return check_le(name, lhs, rhs, scale)


def check_weights_distance(name: str, lam_a, lam_b, bound) -> CheckResult:
    """||lambda_a - lambda_b|| <= bound (Lemma 2's forms), round-off relative to the simplex diameter."""
    lhs = np.linalg.norm(np.asarray(lam_a, dtype=np.float64) - np.asarray(lam_b, dtype=np.float64), axis=-1)
    return check_le(name, lhs, bound, np.full(lhs.shape, th.SIMPLEX_DIAMETER))


def check_direction_distance(name: str, jac, lam_a, lam_b, bound) -> CheckResult:
    """||G (lambda_a - lambda_b)|| <= bound for Jacobians (..., M, d) (rows = objectives): the form of Lemma 2 that
    still means something at beta = 0, where lambda need not be unique but G lambda is."""
    jac = np.asarray(jac, dtype=np.float64)
    diff = np.asarray(lam_a, dtype=np.float64) - np.asarray(lam_b, dtype=np.float64)
    lhs = np.linalg.norm(np.einsum("...m,...md->...d", diff, jac), axis=-1)
    rhs = np.broadcast_to(np.asarray(bound, dtype=np.float64), lhs.shape)
    scale = np.linalg.norm(jac, axis=(-2, -1)) * th.SIMPLEX_DIAMETER + rhs
    return check_le(name, lhs, rhs, scale)


# --- rates and the beta story --------------------------------------------------------------------------
def fit_slope(x, y) -> float:
    """Least-squares slope of log y against log x."""
    lx, ly = np.log(np.asarray(x, dtype=np.float64)), np.log(np.asarray(y, dtype=np.float64))
    return float(np.polyfit(lx, ly, 1)[0])


def check_slope(name: str, x, y, expected: float, tol: float, *, detail: str = "") -> CheckResult:
    """|slope of log y vs log x - expected| <= tol; ``ratio`` holds the fitted slope."""
    y = np.asarray(y, dtype=np.float64)
    if np.any(~np.isfinite(y)) or np.any(y <= 0):
        return CheckResult(name, False, float("nan"), int(y.size), float("nan"), f"non-positive values {y.tolist()}")
    s = fit_slope(x, y)
    return CheckResult(name, abs(s - expected) <= tol, s, int(y.size), abs(s - expected),
                       detail or f"fitted slope {s:.3f}, expected {expected:g} +- {tol:g}")


def check_nonincreasing(name: str, values, *, rtol: float = ROUNDOFF_RTOL) -> CheckResult:
    """values[j+1] <= values[j] (1 + rtol) for every j; ``ratio`` is the largest values[j+1] / values[j]."""
    v = np.asarray(values, dtype=np.float64)
    res = check_le(name, v[1:], v[:-1], np.abs(v[:-1]), rtol=rtol)
    return res
