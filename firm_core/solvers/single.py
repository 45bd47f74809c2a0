"""A short route for one small problem: same answer, same certificate, a fraction of the overhead.

``solve_min_norm(J)`` on a single float64 Jacobian with M <= SINGLE_MAX_M objectives, method
"auto" and no iteration cap is the call a training loop makes at every step. The general route
pays for batching, rescaling and dtype handling it does not need there; this one takes the input
as it is when every quantity provably stays inside the float64 range (max|Q| and beta within
[2^-SAFE_EXP, 2^SAFE_EXP]), solves with

* M = 2: the closed form of :mod:`firm_core.solvers.closed_form` (the same formula, in floats);
* M >= 3: a primal active-set method (:func:`active_set_single`) that stops when the relative KKT
  residual certifies the answer,

and certifies with the general route's certificate (relative KKT residual <= tol + ROUNDOFF_KKT),
computed by :func:`certificates` with the same formulas in Python floats (tests cross-check the two).
Anything else (other dtypes, gram input, batches, extreme scales, invalid arguments, a kernel that
cannot certify its answer) returns None and the general route runs, with its full checks.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.linalg.blas import dgemm
from scipy.linalg.lapack import dposv

from ..result import MinNormResult, SolverStatus
from ..tolerances import PREFERENCE_SUM_TOL
from ..validation import uniform_preference
from . import certify
from .closed_form import TIE_CURVATURE
from .problem import cached_folding_matrix

#: Largest M the short route takes (the primal active-set method is cubic in the support size).
SINGLE_MAX_M = 10
#: max|Q| and beta must lie in [2^-SAFE_EXP, 2^SAFE_EXP] (or beta = 0): then Q + beta P, its scale
#: s, the value and the direction are all finite and no entry that matters underflows.
SAFE_EXP = 900
_LO, _HI = 2.0**-SAFE_EXP, 2.0**SAFE_EXP
#: Iteration cap of the primal active-set method: each step adds or drops an index, and cycling
#: (possible only under degeneracy) ends here and hands over to the general route.
ACTIVE_SET_STEPS_PER_M = 4


_FLOAT64 = np.dtype(np.float64)
_CONVERGED_0D = np.array(SolverStatus.CONVERGED, dtype=object)
_F32_MAX = float(np.finfo(np.float32).max)
_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _preference(preference, m: int):
    """The preference if it is a valid float64 (M,) probability vector, else None (general route)."""
    if preference is None:
        return uniform_preference(m)
    if type(preference) is not np.ndarray or preference.dtype != np.float64 or preference.shape != (m,):
        return None
    if not preference.min() >= 0.0 or not abs(float(preference.sum()) - 1.0) <= PREFERENCE_SUM_TOL:
        return None
    return preference


def _applies(jacobian, gram, beta, method, tol, max_iter) -> bool:
    return (gram is None and method == "auto" and max_iter is None and type(jacobian) is np.ndarray
            and jacobian.ndim == 2 and jacobian.dtype in _DTYPES and 2 <= jacobian.shape[0] <= SINGLE_MAX_M
            and jacobian.shape[1] > 0 and type(beta) is float and (beta == 0.0 or _LO <= beta <= _HI)
            and type(tol) is float and 0.0 < tol < np.inf)


def closed_form_single(a: float, b: float, c: float, p0: float) -> list[float]:
    """M = 2: lambda_1 = clip((c - b) / (a - 2b + c), 0, 1) on Qn = [[a, b], [b, c]], with the tie
    rule of :func:`firm_core.solvers.solve_closed_form` (same formula, Python floats)."""
    den = a - 2.0 * b + c
    if den <= TIE_CURVATURE:
        l1 = p0 if abs(a - c) <= TIE_CURVATURE else (1.0 if a < c else 0.0)
    else:
        l1 = min(max((c - b) / den, 0.0), 1.0)
    return [l1, 1.0 - l1]


def relative_gradient(q: np.ndarray, lam: list, inv_s: float, w: float, p: list) -> tuple[list, list]:
    """(g, Q l) with g = (Q l + beta (l - p)) / s = Q l / s + w (l - p), as lists (w = beta / s)."""
    ql = (q @ np.array(lam)).tolist()
    if w == 0.0:
        return [v * inv_s for v in ql], ql
    return [v * inv_s + w * (li - pi) for v, li, pi in zip(ql, lam, p)], ql


def certificates(lam: list, g: list) -> tuple[float, float]:
    """(relative KKT residual ||l - Proj(l - g)||, relative FW gap g^T l - min g): the formulas of
    :func:`firm_core.solvers.certify.certificates` (shift by the maximum, Condat's threshold) in floats."""
    v = [li - gi for li, gi in zip(lam, g)]
    top = max(v)
    v = [x - top for x in v]
    acc, theta = 0.0, -math.inf
    for j, x in enumerate(sorted(v, reverse=True), 1):
        acc += x
        t = (acc - 1.0) / j
        if t > theta:
            theta = t
    r = [li - (x - theta if x > theta else 0.0) for li, x in zip(lam, v)]
    gap = sum([li * gi for li, gi in zip(lam, g)]) - min(g)
    return math.sqrt(sum([ri * ri for ri in r])), (gap if gap > 0.0 else 0.0)


def _ratio_step(lam: list, free: list, x: list) -> int:
    """Move from lam toward x (on the support ``free``) until the first weight reaches 0; return its index."""
    best, leave = math.inf, free[0]
    for i, xi in zip(free, x):
        ci = lam[i]
        if xi < ci and ci / (ci - xi) < best:
            best, leave = ci / (ci - xi), i
    for i, xi in zip(free, x):
        lam[i] = max(lam[i] + best * (xi - lam[i]), 0.0)
    lam[leave] = 0.0
    return leave


def _affine_minimizer(qn: np.ndarray, free: list) -> list | None:
    """x = Qn_SS^{-1} 1 / (1^T Qn_SS^{-1} 1) on the support S = ``free`` (Cholesky); None if Qn_SS is
    not positive definite. It minimizes 0.5 x^T Qn_SS x subject to 1^T x = 1."""
    if len(free) == qn.shape[0]:
        sub = qn
    else:
        idx = np.array(free)
        sub = qn.take(idx, 0).take(idx, 1)
    _, x, info = dposv(sub, _ones(len(free)))
    x = x.tolist()
    total = sum(x)
    if info != 0 or not total > 0.0:
        return None
    return [xi / total for xi in x]


def active_set_single(qn: np.ndarray, certify_at, tol: float):
    """Primal active-set method for min 0.5 l^T Qn l over the simplex; None when it cannot certify.

    Support guess: starting from S = all, replace S by {i : x_i > 0} until the affine minimizer x
    on S (:func:`_affine_minimizer`) is >= 0; l = x is then feasible. Main loop (the textbook primal
    active-set method): the index j outside S with the smallest relative gradient entry joins S when
    g_j < min_S g - tol (a clear violation); otherwise l is returned once ``certify_at(l)``
    (gradient, Q l, relative KKT residual, gap) has residual <= tol. After a join the step goes
    toward the new affine minimizer, stopping where the first weight reaches 0 (that index leaves S).
    Returns (lam, iterations, certificate) or None (not positive definite on S, or no progress).
    """
    m = qn.shape[0]
    free = list(range(m))
    it = 0
    while True:  # support guess: each pass removes at least one index
        it += 1
        x = _affine_minimizer(qn, free)
        if x is None:
            return None
        if min(x) >= 0.0:
            break
        free = [i for i, xi in zip(free, x) if xi > 0.0]
    lam = [0.0] * m
    for i, xi in zip(free, x):
        lam[i] = xi
    while it <= ACTIVE_SET_STEPS_PER_M * m:
        g = certify_at(lam, full=False)
        outside = [i for i in range(m) if i not in free]
        j = min(outside, key=g.__getitem__) if outside else -1
        if j < 0 or g[j] >= min([g[i] for i in free]) - tol:  # no clear violation: certify
            cert = certify_at(lam)
            if cert[2] <= tol:
                return lam, it, cert
            if j < 0:
                return None  # full support yet above tol: limited by round-off, leave it to the general route
        free = sorted(free + [j])
        while True:  # step toward the affine minimizer on S, dropping blocking indices
            it += 1
            x = _affine_minimizer(qn, free)
            if x is None:
                return None
            if min(x) >= 0.0:
                for i, xi in zip(free, x):
                    lam[i] = xi
                break
            free.remove(_ratio_step(lam, free, x))
    return None


@functools.lru_cache(maxsize=SINGLE_MAX_M + 1)
def _ones(k: int) -> np.ndarray:
    ones = np.ones(k)
    ones.flags.writeable = False
    return ones


def solve_single(jacobian, gram, beta, preference, method, tol, max_iter) -> MinNormResult | None:
    """The certified answer for one small float64 problem, or None when the short route does not apply."""
    if not _applies(jacobian, gram, beta, method, tol, max_iter):
        return None
    m = jacobian.shape[0]
    p = _preference(preference, m)
    if p is None:
        return None
    out_dtype = _FLOAT64 if jacobian.dtype == _FLOAT64 else jacobian.dtype
    if out_dtype is not _FLOAT64:  # float32: solved in float64 like the general route, returned in float32
        jacobian = jacobian.astype(np.float64)
    q = dgemm(1.0, jacobian.T, jacobian.T, trans_a=1)  # J J^T via BLAS (a huge or non-finite J fails below)
    top = float(q.diagonal().max())  # = max|Q| (Cauchy-Schwarz); NaN or inf fails the range test
    if not _LO <= top <= _HI:
        return None
    inv_s = 1.0 / (top + beta)
    w = beta * inv_s
    pl = p.tolist()

    def certify_at(lam, full=True):
        g, ql = relative_gradient(q, lam, inv_s, w, pl)
        return (g, ql, *certificates(lam, g)) if full else g

    qn = q * inv_s if beta == 0.0 else (q + beta * cached_folding_matrix(p.tobytes())) * inv_s
    if m == 2:
        (a, b), (_, c) = qn.tolist()
        lam, iters, name = closed_form_single(a, b, c, pl[0]), 1, "closed_form"
        cert = certify_at(lam)
    else:
        found = active_set_single(qn, certify_at, tol)
        if found is None:
            return None
        (lam, iters, cert), name = found, "active_set"
    _, ql, kkt, gap = cert
    if not kkt <= tol + certify.ROUNDOFF_KKT:
        return None
    return _result(jacobian, lam, ql, beta, pl, iters, kkt, gap, name, tol, out_dtype)


def _result(jacobian, lam, ql, beta, p, iters, kkt, gap, name, tol, dtype) -> MinNormResult | None:
    """The result object of the general route for one certified problem (0-d arrays, in ``dtype``);
    None when value / norm_sq do not fit ``dtype`` (the general route then reports NUMERICAL)."""
    norm_sq = sum([li * v for li, v in zip(lam, ql)])
    norm_sq = norm_sq if norm_sq > 0.0 else 0.0
    value = 0.5 * norm_sq
    if beta > 0.0:
        value += beta * (0.5 * sum([(li - pi) * (li - pi) for li, pi in zip(lam, p)]))
    weights = np.array(lam)
    direction = weights @ jacobian
    if dtype is not _FLOAT64:
        with np.errstate(over="ignore"):
            weights, direction = weights.astype(dtype), direction.astype(dtype)
        if not (value <= _F32_MAX and norm_sq <= _F32_MAX and np.isfinite(direction).all()):
            return None
    return MinNormResult(
        weights=weights,
        direction=direction,
        value=np.array(value, dtype=dtype),
        norm_sq=np.array(norm_sq, dtype=dtype),
        kkt_residual=np.array(kkt),
        gap=np.array(gap),
        iterations=np.array(iters, dtype=np.int64),
        status=SolverStatus.CONVERGED,
        statuses=_CONVERGED_0D.copy(),
        message=f"{name}: converged on 1 problem(s); max relative KKT residual {kkt:.2e} <= tol {tol:.1e}",
        method=name,
    )
