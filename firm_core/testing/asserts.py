"""Assertions on min-norm answers, recomputed independently of firm_core's solvers.

Use them on any solver of the regularized min-norm problem (yours, or a ``firm_core`` method): each
raises ``AssertionError`` with a message naming the violated property and the numbers found, and
returns quietly otherwise, so they work under pytest, hypothesis or a plain script.

Problem: h(l) = 0.5 l^T Q l + 0.5 beta ||l - p||^2 over the simplex, gradient g = Q l + beta (l - p),
scale s = max|Q| + beta (the same normalization firm_core documents for its relative certificates).

Everything here is derived from one inequality. For a feasible l, the relative Frank-Wolfe gap
``gap = (g^T l - min_m g_m) / s`` is exactly the worst violation of the variational inequality:

    <g(l), mu - l> >= -s * gap    for every mu in the simplex.                          (VI)

Each property assertion takes the *claimed* relative gap of the answer (``gap``), first checks that
the recomputed gap does not exceed it (plus round-off), then checks its property with the slack
(VI) implies. So the same helper serves exact methods (gap ~ 1e-16) and inexact ones (their honest,
reported gap), and every bound below holds for *any* feasible l with that gap:

* strong convexity: h(l) - h* >= 0.5 ||G(l - l*)||^2 + 0.5 beta ||l - l*||^2 and h(l) - h* <= s gap;
* Lemma 0 (docs/theory.md) with slack s gap;
* Lemma 1 with both VIs relaxed: beta D^2 <= a D + e + e', D = ||l - l'||, a = ||P_perp (Q - Q') l'||.

The simplex projection used for the KKT residual is computed here by bisection on the threshold,
not by firm_core's sort-based kernel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BISECTION_STEPS",
    "FLOAT32_RTOL",
    "FLOAT64_RTOL",
    "ROUNDOFF",
    "SIMPLEX_ATOL",
    "Certificate",
    "assert_claim",
    "assert_kkt",
    "assert_lemma0",
    "assert_lemma0c",
    "assert_lemma1",
    "assert_near_preference",
    "assert_non_conflicting",
    "assert_on_simplex",
    "assert_permutation_equivariant",
    "assert_result_consistent",
    "assert_same_solution",
    "assert_scale_invariant",
    "assert_stationarity",
    "assert_status_honest",
    "certificate",
    "lemma1_bound",
    "project_simplex_bisection",
]

#: Round-off allowance, relative to the problem scale s, for quantities recomputed in float64.
ROUNDOFF = 1e-13
#: A returned weight may be this far below 0, and the sum this far from 1 (times M).
SIMPLEX_ATOL = 1e-12
#: Relative agreement of reported value / norm_sq / direction with their recomputation from the weights,
#: for results returned in float64 and in float32 (rounded from a float64 solve).
FLOAT64_RTOL = 1e-12
FLOAT32_RTOL = 1e-5
#: Bisection steps of the independent simplex projection: they locate the support {v > theta} (to
#: 2^-60 of max(v) - min(v) + 1); theta is then computed exactly from the support.
BISECTION_STEPS = 60


def project_simplex_bisection(v: np.ndarray) -> np.ndarray:
    """Projection onto the simplex as max(v - theta, 0) with sum = 1, theta found by bisection."""
    v = np.asarray(v, dtype=np.float64)
    lo = v.min(axis=-1, keepdims=True) - 1.0  # sum(max(v - lo, 0)) >= 1
    hi = v.max(axis=-1, keepdims=True)  # sum(max(v - hi, 0)) = 0
    for _ in range(BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        big = np.maximum(v - mid, 0.0).sum(axis=-1, keepdims=True) > 1.0
        lo, hi = np.where(big, mid, lo), np.where(big, hi, mid)
    support = v > lo
    theta = (np.sum(np.where(support, v, 0.0), axis=-1, keepdims=True) - 1.0) / support.sum(axis=-1, keepdims=True)
    return np.maximum(v - theta, 0.0)


@dataclass(frozen=True)
class Certificate:
    """Recomputed optimality certificate of a feasible l (single problem)."""

    scale: float  # s = max|Q| + beta (1 when that is 0)
    grad: np.ndarray  # g = Q l + beta (l - p)
    kkt_residual: float  # ||l - Proj(l - g / s)||
    gap: float  # (g^T l - min g) / s >= 0, the VI slack
    value: float  # h(l)
    norm_sq: float  # l^T Q l


def certificate(q, lam, beta, p) -> Certificate:
    q, lam, p = (np.asarray(a, dtype=np.float64) for a in (q, lam, p))
    s = float(np.max(np.abs(q))) + beta
    s = s if s > 0 else 1.0
    g = q @ lam + beta * (lam - p)
    res = float(np.linalg.norm(lam - project_simplex_bisection(lam - g / s)))
    gap = max(float(g @ lam - g.min()) / s, 0.0)
    norm_sq = float(lam @ q @ lam)
    value = 0.5 * norm_sq + 0.5 * beta * float(np.sum((lam - p) ** 2))
    return Certificate(s, g, res, gap, value, norm_sq)


def assert_on_simplex(lam, atol: float = SIMPLEX_ATOL) -> None:
    """Every row of ``lam`` (..., M) is in the simplex: entries >= -atol, |sum - 1| <= atol M."""
    lam = np.asarray(lam, dtype=np.float64)
    m = lam.shape[-1]
    if not (np.all(np.isfinite(lam))):
        raise AssertionError(f"weights not finite: {lam}")
    if not (lam.min() >= -atol):
        raise AssertionError(f"negative weight {lam.min():.3e} < -{atol:g}")
    err = np.max(np.abs(lam.sum(axis=-1) - 1.0))
    if not (err <= atol * m):
        raise AssertionError(f"weights sum to 1 +- {err:.3e} > {atol * m:g}")


def assert_kkt(q, lam, beta, p, tol: float, *, cert: Certificate | None = None) -> Certificate:
    """KKT conditions to relative accuracy ``tol``, recomputed here.

    Stationarity + dual feasibility: ||l - Proj(l - g/s)|| <= tol.
    Complementary slackness: sum_m l_m (g_m - min g) / s <= tol (this is the FW gap).
    """
    assert_on_simplex(lam)
    c = cert if cert is not None else certificate(q, lam, beta, p)
    if not (c.kkt_residual <= tol):
        raise AssertionError(f"relative KKT residual {c.kkt_residual:.3e} > {tol:.1e} (lambda={lam})")
    if not (c.gap <= tol):
        raise AssertionError(f"complementary slackness (FW gap) {c.gap:.3e} > {tol:.1e} (lambda={lam})")
    return c


def assert_claim(q, lam, beta, p, gap: float) -> Certificate:
    """The answer is feasible and its recomputed VI slack is at most the claimed ``gap`` (+ round-off)."""
    assert_on_simplex(lam)
    c = certificate(q, lam, beta, p)
    if not (c.gap <= gap + ROUNDOFF):
        raise AssertionError(f"recomputed gap {c.gap:.3e} exceeds the claimed {gap:.3e}")
    return c


def _slack(c: Certificate, gap: float) -> float:
    return c.scale * (gap + ROUNDOFF)


def assert_result_consistent(res, q, beta, p, *, jacobian=None, cert: Certificate | None = None) -> None:
    """A single-problem MinNormResult reports the value, norm, residual, gap and direction of its weights."""
    lam = np.asarray(res.weights, dtype=np.float64)
    c = cert if cert is not None else certificate(q, lam, beta, p)
    s = c.scale
    rtol = FLOAT32_RTOL if res.weights.dtype == np.float32 else FLOAT64_RTOL
    # norm_sq = ||J^T l||^2 >= 0: a Gram within round-off of PSD may give l^T Q l = -tiny, reported as 0
    norm_sq = max(c.norm_sq, 0.0)
    value = c.value + 0.5 * (norm_sq - c.norm_sq)
    if not (abs(float(res.value) - value) <= rtol * s):
        raise AssertionError(f"value {float(res.value)!r} != recomputed {value!r}")
    if not (abs(float(res.norm_sq) - norm_sq) <= rtol * s):
        raise AssertionError(f"norm_sq {float(res.norm_sq)!r} != {norm_sq!r}")
    if not (abs(float(res.kkt_residual) - c.kkt_residual) <= max(ROUNDOFF, 1e-6 * c.kkt_residual)):
        raise AssertionError(f"reported KKT residual {float(res.kkt_residual):.3e} != recomputed {c.kkt_residual:.3e}")
    if not (abs(float(res.gap) - c.gap) <= max(ROUNDOFF, 1e-6 * c.gap)):
        raise AssertionError(f"reported gap {float(res.gap):.3e} != recomputed {c.gap:.3e}")
    if jacobian is not None:
        d = np.asarray(jacobian, dtype=np.float64).T @ lam
        scale = max(float(np.max(np.abs(jacobian))), np.finfo(np.float64).tiny)
        if not (np.allclose(res.direction, d, rtol=rtol, atol=rtol * scale)):
            raise AssertionError("direction != J^T weights")


def assert_status_honest(
    res, q, beta, p, *, tol: float, certificate_name: str, cert: Certificate | None = None
) -> None:
    """CONVERGED only if the method's own certificate (``"kkt"`` or ``"gap"``) meets ``tol``;
    MAX_ITER only if it does not; any other status carries a message naming the method and why.

    Round-off allowance: firm_core counts a certificate <= tol + 1e3 eps as meeting tol (the
    round-off of recomputing it); so do we.
    """
    from firm_core import SolverStatus

    floor = 1e3 * np.finfo(np.float64).eps
    c = cert if cert is not None else certificate(q, np.asarray(res.weights, dtype=np.float64), beta, p)
    achieved = c.kkt_residual if certificate_name == "kkt" else c.gap
    met = achieved <= tol + floor
    if res.status is SolverStatus.CONVERGED:
        if not met:
            raise AssertionError(
                f"status CONVERGED but {certificate_name} {achieved:.3e} > tol {tol:.1e}: {res.message}"
            )
    else:
        if not (res.message and res.method in res.message):
            raise AssertionError(f"status {res.status} with a message that does not name the method: {res.message!r}")
        if res.status is SolverStatus.MAX_ITER:
            if not (achieved > tol - ROUNDOFF):
                raise AssertionError(f"MAX_ITER but {certificate_name} {achieved:.3e} meets tol {tol:.1e}")
            if "iteration cap" not in res.message:
                raise AssertionError(res.message)
        if res.status is SolverStatus.NUMERICAL:
            if "post-check" not in res.message:
                raise AssertionError(res.message)


def assert_same_solution(q, lam_a, lam_b, beta, p, gap_a: float, gap_b: float) -> None:
    """Two answers of the same problem agree to what their certificates allow.

    With e = s * gap: |h_a - h_b| <= max(e_a, e_b); ||G(l_a - l_b)|| <= sqrt(2 e_a) + sqrt(2 e_b)
    (the direction is unique even at beta = 0); if beta > 0 (l is unique), ||l_a - l_b|| is at most
    the smaller of sqrt(2 e_a / beta) + sqrt(2 e_b / beta) and the residual error bound
    (1 + L) (s / beta) (r_a + r_b), r the relative KKT residuals, L = (lambda_max(Q) + beta) / s: for
    a mu-strongly monotone, L-Lipschitz G = grad h / s, ||l - l*|| <= (1 + L) / mu ||l - Proj(l - G(l))||.
    """
    ca = assert_claim(q, lam_a, beta, p, gap_a)
    cb = assert_claim(q, lam_b, beta, p, gap_b)
    ea, eb = _slack(ca, gap_a), _slack(cb, gap_b)
    dv = abs(ca.value - cb.value)
    if not (dv <= max(ea, eb)):
        raise AssertionError(f"values differ by {dv:.3e} > {max(ea, eb):.3e}")
    diff = np.asarray(lam_a, dtype=np.float64) - np.asarray(lam_b, dtype=np.float64)
    dd = float(np.sqrt(max(diff @ q @ diff, 0.0)))
    bound = np.sqrt(2 * ea) + np.sqrt(2 * eb)
    if not (dd <= bound):
        raise AssertionError(f"directions differ by {dd:.3e} > {bound:.3e}")
    if beta > 0:
        dl = float(np.linalg.norm(diff))
        lip = (float(np.linalg.eigvalsh(np.asarray(q, dtype=np.float64))[-1]) + beta) / ca.scale
        by_residual = (1 + lip) * (ca.scale / beta) * (ca.kkt_residual + cb.kkt_residual + 2 * ROUNDOFF)
        bound = min(np.sqrt(2 * ea / beta) + np.sqrt(2 * eb / beta), by_residual)
        if not (dl <= bound):
            raise AssertionError(f"weights differ by {dl:.3e} > {bound:.3e} (beta={beta:.3g})")


def assert_non_conflicting(q, lam, gap: float) -> None:
    """beta = 0: g_m . d = (Q l)_m >= ||d||^2 - s gap for every m (no objective increases to first order)."""
    c = assert_claim(q, lam, 0.0, np.full(len(lam), 1.0 / len(lam)), gap)
    worst = float(np.min(c.grad - c.norm_sq))
    if not (worst >= -_slack(c, gap)):
        raise AssertionError(f"conflict: min_m g_m.d - ||d||^2 = {worst:.3e} < -{_slack(c, gap):.3e}")


def assert_lemma0(q, lam, beta, p, gap: float, *, quarter: float = 0.25) -> None:
    """Lemma 0 (a) <Gp, d> >= ||d||^2 + beta ||l - p||^2 and (b) <g_m, d> >= ||d||^2 - quarter beta ||e_m - p||^2.

    <Gp, d> = p^T Q l and <g_m, d> = (Q l)_m. ``quarter`` is the constant of (b) (1/4 in the lemma).
    """
    c = assert_claim(q, lam, beta, p, gap)
    lam, p = np.asarray(lam, dtype=np.float64), np.asarray(p, dtype=np.float64)
    ql = np.asarray(q, dtype=np.float64) @ lam
    slack = _slack(c, gap)
    lhs_a, rhs_a = float(p @ ql), c.norm_sq + beta * float(np.sum((lam - p) ** 2))
    if not (lhs_a >= rhs_a - slack):
        raise AssertionError(f"Lemma 0(a): <Gp, d> = {lhs_a:.6e} < {rhs_a:.6e} - {slack:.1e}")
    em_p = np.sum(p**2) - 2 * p + 1.0  # ||e_m - p||^2 for every m
    rhs_b = c.norm_sq - quarter * beta * em_p
    worst = int(np.argmin(ql - rhs_b))
    if not (ql[worst] >= rhs_b[worst] - slack):
        raise AssertionError(f"Lemma 0(b), m={worst}: <g_m, d> = {ql[worst]:.6e} < {rhs_b[worst]:.6e} - {slack:.1e}")


def assert_lemma0c(q, lam, beta, p, gap: float, lam_star, gap_star: float) -> None:
    """Lemma 0(c): phi <= ||d||^2 <= phi + beta ||l* - p||^2, l* a minimizer of phi (beta = 0 answer).

    phi is known only as ||G l*||^2 for the computed l* with its own gap: phi_true >= that - 2 s* gap*.
    """
    c = assert_claim(q, lam, beta, p, gap)
    cs = assert_claim(q, lam_star, 0.0, p, gap_star)
    phi_hi = cs.norm_sq
    phi_lo = phi_hi - 2 * _slack(cs, gap_star)
    if not (c.norm_sq >= phi_lo):
        raise AssertionError(f"Lemma 0(c): ||d||^2 = {c.norm_sq:.6e} < phi = {phi_lo:.6e}")
    upper = phi_hi + beta * float(np.sum((np.asarray(lam_star) - p) ** 2)) + 2 * _slack(c, gap)
    if not (c.norm_sq <= upper):
        raise AssertionError(f"Lemma 0(c): ||d||^2 = {c.norm_sq:.6e} > phi + beta||l*-p||^2 = {upper:.6e}")


def lemma1_bound(q, q2, lam2, beta: float, slack: float = 0.0) -> float:
    """Largest D with beta D^2 <= a D + slack, a = ||P_perp (Q - Q') l'||: (a + sqrt(a^2 + 4 beta slack)) / (2 beta)."""
    r = (np.asarray(q) - np.asarray(q2)) @ np.asarray(lam2, dtype=np.float64)
    a = float(np.linalg.norm(r - r.mean()))
    return (a + np.sqrt(a * a + 4 * beta * slack)) / (2 * beta)


def assert_lemma1(q, lam, q2, lam2, beta, p, gap: float, gap2: float, *, factor: float = 1.0) -> float:
    """Lemma 1 (beta > 0, Q PSD, Q' symmetric): ||l(Q) - l(Q')|| <= ||P_perp (Q - Q') l(Q')|| / beta.

    With both VIs relaxed by e = s gap, e' = s' gap' the bound becomes `lemma1_bound` with
    slack e + e'. ``factor`` scales the bound (1 in the lemma; < 1 only to test this checker).
    Returns the ratio ||l - l'|| / (||P_perp (Q - Q') l'|| / beta) of the lemma itself (no slack).
    """
    if not beta > 0:
        raise ValueError(f"assert_lemma1: `beta` must be > 0 (Lemma 1 needs it), got {beta!r}")
    c1 = assert_claim(q, lam, beta, p, gap)
    c2 = assert_claim(q2, lam2, beta, p, gap2)
    bound = factor * lemma1_bound(q, q2, lam2, beta, _slack(c1, gap) + _slack(c2, gap2))
    dist = float(np.linalg.norm(np.asarray(lam, dtype=np.float64) - np.asarray(lam2, dtype=np.float64)))
    if not (dist <= bound + ROUNDOFF):
        raise AssertionError(f"Lemma 1: ||l - l'|| = {dist:.6e} > bound {bound:.6e}")
    exact_bound = lemma1_bound(q, q2, lam2, beta)
    return dist / exact_bound if exact_bound > 0 else 0.0


def assert_near_preference(q, lam, beta, p, gap: float) -> None:
    """beta -> inf gives p, at rate ||l - p|| <= ||P_perp Q p|| / beta (Lemma 1 against Q' = 0, l(0) = p)."""
    if not beta > 0:
        raise ValueError(f"assert_near_preference: `beta` must be > 0, got {beta!r}")
    c = assert_claim(q, lam, beta, p, gap)
    bound = lemma1_bound(q, np.zeros_like(q), p, beta, _slack(c, gap))
    dist = float(np.linalg.norm(np.asarray(lam, dtype=np.float64) - p))
    if not (dist <= bound + ROUNDOFF):
        raise AssertionError(f"||l - p|| = {dist:.3e} > ||P_perp Q p|| / beta = {bound:.3e}")


def assert_permutation_equivariant(solve, q, beta, p, perm) -> None:
    """l(P Q P^T, P p) = P l(Q, p) up to the certificates; ``solve(q, p) -> (lam, claimed gap)``."""
    perm = np.asarray(perm)
    lam, gap = solve(q, p)
    lam_p, gap_p = solve(q[np.ix_(perm, perm)], p[perm])
    assert_same_solution(q, lam, lam_p[np.argsort(perm)], beta, p, gap, gap_p)


def assert_scale_invariant(solve, q, beta, p, c: float) -> None:
    """(Q, beta) -> (c Q, c beta), c > 0, leaves lambda unchanged (up to the certificates, which are
    relative and so carry over); ``solve(q, beta, p) -> (lam, claimed gap)``."""
    if not (np.isfinite(c) and c > 0):
        raise ValueError(f"assert_scale_invariant: `c` must be a finite number > 0, got {c!r}")
    q = np.asarray(q, dtype=np.float64)
    lam, gap = solve(q, beta, p)
    lam_c, gap_c = solve(c * q, c * beta, p)
    assert_same_solution(q, lam, lam_c, beta, p, gap, gap_c)


def assert_stationarity(phi: float, scale: float, *, stationary: bool | None, phi_known: float | None,
                        phi_lower: float, tol: float) -> None:
    """phi == 0 (to tol * scale) exactly when 0 is in the hull; phi >= phi_lower; phi == phi_known."""
    atol = tol * max(scale, np.finfo(np.float64).tiny)
    if not (phi >= -atol):
        raise AssertionError(f"phi = {phi:.3e} < 0")
    if stationary is True:
        if not (phi <= atol):
            raise AssertionError(f"0 is in the hull but phi = {phi:.3e} > {atol:.3e}")
    if stationary is False:
        if not (phi > atol):
            raise AssertionError(f"0 is not in the hull but phi = {phi:.3e} <= {atol:.3e}")
    if not (phi >= phi_lower - atol):
        raise AssertionError(f"phi = {phi:.6e} below the known lower bound {phi_lower:.6e}")
    if phi_known is not None:
        if not (abs(phi - phi_known) <= atol):
            raise AssertionError(f"phi = {phi:.12e} != known {phi_known:.12e}")
