"""A short route for one small problem: same answer, same certificate, a fraction of the overhead.

``solve_min_norm(J)`` on a single float64 Jacobian with M <= SINGLE_MAX_M objectives, method
"auto" and no iteration cap is the call a training loop makes at every step. The general route
pays for batching, rescaling and dtype handling it does not need there; this one takes the input
as it is when every quantity provably stays inside the float64 range (max|Q| and beta within
[2^-SAFE_EXP, 2^SAFE_EXP]), solves with

* M = 2: the closed form of :mod:`firm_core.solvers.closed_form` (the same formula, in floats);
* M >= 3: the least-distance method of :mod:`firm_core.solvers.active_set` in one compiled NNLS
  call on [R; 1^T] (R^T R = Qn: Cholesky for beta > 0, pivoted Cholesky at beta = 0, where Qn is
  often singular), with a primal-dual support search and the primal active-set method of
  :mod:`firm_core.solvers.small_active_set` as fallbacks (:func:`active_set_single`),

and certifies with the general route's certificate (relative KKT residual <= tol + ROUNDOFF_KKT),
computed by :func:`certificates` with the same formulas in Python floats (tests cross-check the two).
The result carries weights and direction; its diagnostic fields are built on first access
(``MinNormResult.deferred``). Anything else (other dtypes, gram input, batches, extreme scales,
invalid arguments, a kernel that cannot certify its answer) returns None and the general route
runs, with its full checks.
"""

from __future__ import annotations

import functools
import math
import operator

import numpy as np
from scipy.linalg.blas import dgemm

from ..result import MinNormResult, SolverStatus
from ..tolerances import PREFERENCE_SUM_TOL
from ..validation import uniform_preference
from . import certify
from .closed_form import TIE_CURVATURE
from .problem import cached_folding_matrix
from .small_active_set import (factor_in_place, nnls_weights_single, pivoted_lifted_factor, primal_active_set,
                               support_search)

#: Largest M the short route takes (its NNLS and fallback solves are cubic in M; beyond, the general route).
SINGLE_MAX_M = 10
#: max|Q| and beta must lie in [2^-SAFE_EXP, 2^SAFE_EXP] (or beta = 0): then Q + beta P, its scale
#: s, the value and the direction are all finite and no entry that matters underflows.
SAFE_EXP = 900
_LO, _HI = 2.0**-SAFE_EXP, 2.0**SAFE_EXP

_FLOAT64 = np.dtype(np.float64)
_EXACT_INT = 2**53  # integers up to this are exact floats (larger ones take the general route and its checks)
_sub, _mul = operator.sub, operator.mul
_F32_MAX = float(np.finfo(np.float32).max)
_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


@functools.lru_cache(maxsize=64)
def _scaled_fold(p_bytes: bytes, beta: float) -> np.ndarray:
    """beta P for the float64 preference with these bytes (cached and read-only: a training loop
    keeps beta and p fixed, so Q + beta P costs one addition per call)."""
    fold = beta * cached_folding_matrix(p_bytes)
    fold.flags.writeable = False
    return fold


def _preference(preference, m: int):
    """The preference if it is a valid float64 (M,) probability vector (or a list / tuple of M Python
    floats, made one), else None (general route)."""
    if preference is None:
        return uniform_preference(m)
    if type(preference) in (list, tuple) and len(preference) == m and all(type(x) is float for x in preference):
        preference = np.array(preference)
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


def relative_gradient(q: np.ndarray, lam: list, inv_s: float, w: float, p: list,
                      lam_array: np.ndarray | None = None) -> tuple[list, list]:
    """(g, Q l) with g = (Q l + beta (l - p)) / s = Q l / s + w (l - p), as lists (w = beta / s);
    ``lam_array`` is lam as an array when the caller has it."""
    ql = q.dot(np.array(lam) if lam_array is None else lam_array).tolist()
    if w == 0.0:
        return [v * inv_s for v in ql], ql
    return [v * inv_s + w * (li - pi) for v, li, pi in zip(ql, lam, p)], ql


def certificates(lam: list, g: list) -> tuple[float, float]:
    """(relative KKT residual ||l - Proj(l - g)||, relative FW gap g^T l - min g): the formulas of
    :func:`firm_core.solvers.certify.certificates` in floats. Proj(v) = max(v - theta, 0) with theta
    from a guessed support (:func:`_residual_on_support`: the support of l, then the one its theta
    implies, which settles ties at degenerate optima), else by sorting."""
    kkt, theta = _residual_on_support(lam, g, [li > 0.0 for li in lam])
    if kkt is None and theta is not None:
        kkt, _ = _residual_on_support(lam, g, [li - gi > theta for li, gi in zip(lam, g)])
    if kkt is None:
        kkt = _residual_by_sorting(lam, g)
    gap = sum(map(_mul, lam, g)) - min(g)
    return kkt, (gap if gap > 0.0 else 0.0)


def _residual_on_support(lam: list, g: list, inside: list) -> tuple[float | None, float | None]:
    """(||l - Proj(l - g)||, theta) when the projection keeps exactly the guessed support S = {i :
    inside[i]}, else (None, theta) (theta None for an empty guess).

    With v = l - g, theta = (sum_S v_i - 1) / |S| is the projection's threshold iff v_i > theta on S
    and v_j <= theta off S (then sum_i max(v_i - theta, 0) = 1); with h = g + theta the residual is
    h_i on S and l_j off S. Near an optimum S = {l_i > 0} passes (g = c on S, g >= c off S)."""
    total, k = -1.0, 0
    for li, gi, on in zip(lam, g, inside):
        if on:
            total += li - gi
            k += 1
    if not k:
        return None, None
    theta = total / k
    r = []
    for li, gi, on in zip(lam, g, inside):
        h = gi + theta  # v_i - theta = l_i - h
        if (h < li) is not on:
            return None, theta
        r.append(h if on else li)
    return math.hypot(*r), theta


def _residual_by_sorting(lam: list, g: list) -> float:
    """||l - Proj(l - g)|| with theta by sorting v = l - g (shifted by its maximum; Condat's threshold)."""
    v = list(map(_sub, lam, g))
    top = max(v)
    v = [x - top for x in v]
    acc, theta, j = 0.0, -math.inf, 0
    for x in sorted(v, reverse=True):  # theta = max_j t_j, t_j = (sum of the j largest - 1) / j
        j += 1
        acc += x
        t = (acc - 1.0) / j
        if t <= theta:  # t_{j+1} averages t_j and the next entry, so once t falls it keeps falling
            break
        theta = t
    r = [li - (x - theta) if x > theta else li for li, x in zip(lam, v)]
    return math.hypot(*r)


def active_set_single(normalized, gradient, tol: float, lifted: np.ndarray | None = None, order: list | None = None):
    """Certified answer for min 0.5 l^T Qn l over the simplex by active-set methods, or None.

    When the lifted problem ``lifted`` = [R; 1^T] (R^T R = Qn, or its columns permuted: column j is
    objective ``order[j]``) is given, one compiled NNLS solve
    (:func:`~firm_core.solvers.small_active_set.nnls_weights_single`) answers, if it certifies; its
    support is the start of :func:`~firm_core.solvers.small_active_set.support_search` otherwise
    (which starts from all indices without ``lifted``); last,
    :func:`~firm_core.solvers.small_active_set.primal_active_set` from a vertex. ``normalized()``
    returns Qn (called only by the fallbacks); ``gradient(l, l_array)`` returns (g, Q l), g the
    relative gradient of the certificate. An answer is returned only when its relative KKT residual
    is <= tol: (lam, iterations, (g, Q l, kkt, gap), lam as an array or None). Iterations count the
    linear solves, and for NNLS the size of its support (one index joins per Lawson-Hanson step).
    """
    start, used = None, 0
    if lifted is not None:
        found = nnls_weights_single(lifted, order)
        if found is not None:
            lam, array = found
            used = len(lam) - lam.count(0.0)
            cert = _certified(lam, gradient, tol, array)
            if cert is not None:
                return lam, used, cert, array
            start = [i for i, li in enumerate(lam) if li > 0.0]
    qn = normalized()
    lam, it = support_search(qn, tol, start)
    used += it
    cert = _certified(lam, gradient, tol)
    if cert is None:
        lam, it = primal_active_set(qn, tol)
        used += it
        cert = _certified(lam, gradient, tol)
    return None if cert is None else (lam, used, cert, None)


def _certified(lam, gradient, tol: float, array=None):
    """(g, Q l, kkt, gap) at ``lam`` when its relative KKT residual is <= tol, else None (also for None)."""
    if lam is None:
        return None
    g, ql = gradient(lam, array)
    kkt, gap = certificates(lam, g)
    return (g, ql, kkt, gap) if kkt <= tol else None


def _normalized_gram(q: np.ndarray, inv_s: float, beta: float, p: np.ndarray, out=None) -> np.ndarray:
    """Qn = (Q + beta P) / s (written into ``out`` when given)."""
    if beta == 0.0:
        return np.multiply(q, inv_s, out=out)
    qn = np.add(q, _scaled_fold(p.tobytes(), beta), out=out)
    qn *= inv_s
    return qn


def _lifted(q, inv_s: float, beta: float, p: np.ndarray) -> tuple[np.ndarray | None, list | None]:
    """The lifted problem [R; 1^T] with R^T R = Qn and its column order (None: the objectives' order):
    for beta > 0, U from the Cholesky factorization U^T U = Qn (formed in place); for beta = 0, where
    Qn is often singular (no Cholesky factor), the rank x M factor of the pivoted Cholesky
    factorization (rank + 1 rows whatever d; LAPACK ``dpstrf`` costs no more than a failed ``dpotrf``
    and a second try). (None, None) when neither exists."""
    if beta == 0.0:
        return pivoted_lifted_factor(np.multiply(q, inv_s)) or (None, None)
    m = len(q)
    a = np.empty((m + 1, m))
    a[m] = 1.0
    _normalized_gram(q, inv_s, beta, p, out=a[:m])
    return (a, None) if factor_in_place(a) else (None, None)


def solve_single(jacobian, gram, beta, preference, method, tol, max_iter) -> MinNormResult | None:
    """The certified answer for one small float64 problem, or None when the short route does not apply."""
    if type(beta) is int and abs(beta) <= _EXACT_INT:  # (not bool) an integer beta is the same problem
        beta = float(beta)
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
    diag = q.diagonal().tolist()
    top = max(diag)  # = max|Q| (Cauchy-Schwarz); a NaN or inf anywhere in J makes sum(diag) non-finite
    if not (_LO <= top <= _HI and sum(diag) < math.inf):
        return None
    inv_s = 1.0 / (top + beta)
    w = beta * inv_s
    pl = p.tolist()

    def gradient(lam, lam_array=None):
        return relative_gradient(q, lam, inv_s, w, pl, lam_array)

    if m == 2:
        (a, b), (_, c) = _normalized_gram(q, inv_s, beta, p).tolist()
        lam, iters, name, weights = closed_form_single(a, b, c, pl[0]), 1, "closed_form", None
        g, ql = gradient(lam)
        cert = (g, ql, *certificates(lam, g))
    else:
        found = active_set_single(lambda: _normalized_gram(q, inv_s, beta, p), gradient, tol,
                                  *_lifted(q, inv_s, beta, p))
        if found is None:
            return None
        (lam, iters, cert, weights), name = found, "active_set"
    _, ql, kkt, gap = cert
    if not kkt <= tol + certify.ROUNDOFF_KKT:
        return None
    return _result(jacobian, lam, ql, beta, pl, iters, kkt, gap, name, tol, out_dtype, weights)


def _result(jacobian, lam, ql, beta, p, iters, kkt, gap, name, tol, dtype, weights=None) -> MinNormResult | None:
    """The result of the general route for one certified problem, in ``dtype`` (``weights``: lam as a
    fresh array, when there is one): weights and direction now, the diagnostics (0-d arrays and the
    message, from :func:`_diagnostics`) on first access; None when value / norm_sq / direction do not
    fit ``dtype`` (the general route then reports NUMERICAL)."""
    if weights is None:
        weights = np.array(lam)
    direction = np.dot(weights, jacobian)  # BLAS gemv: half the call overhead of `@` here
    if dtype is not _FLOAT64:
        value, norm_sq = _value_and_norm(lam, ql, beta, p)
        with np.errstate(over="ignore"):
            weights, direction = weights.astype(dtype), direction.astype(dtype)
        if not (value <= _F32_MAX and norm_sq <= _F32_MAX and np.isfinite(direction).all()):
            return None
    return MinNormResult.deferred(_diagnostics, (lam, ql, beta, p, iters, kkt, gap, name, tol, dtype),
                                  weights=weights, direction=direction, status=SolverStatus.CONVERGED, method=name)


def _value_and_norm(lam: list, ql: list, beta: float, p: list) -> tuple[float, float]:
    """(0.5 l^T Q l + 0.5 beta ||l - p||^2, max(l^T Q l, 0)) from Q l."""
    norm_sq = sum(map(_mul, lam, ql))
    norm_sq = norm_sq if norm_sq > 0.0 else 0.0
    value = 0.5 * norm_sq
    if beta > 0.0:
        value += beta * (0.5 * sum([(li - pi) * (li - pi) for li, pi in zip(lam, p)]))
    return value, norm_sq


def _diagnostics(lam, ql, beta, p, iters, kkt, gap, name, tol, dtype) -> dict:
    """The fields of a short-route result built on first access (values computed from floats kept
    by the solve, so nothing the caller does to ``weights`` changes them)."""
    value, norm_sq = _value_and_norm(lam, ql, beta, p)
    return dict(
        value=np.array(value, dtype=dtype),
        norm_sq=np.array(norm_sq, dtype=dtype),
        kkt_residual=np.array(kkt),
        gap=np.array(gap),
        iterations=np.array(iters, dtype=np.int64),
        statuses=np.array(SolverStatus.CONVERGED, dtype=object),
        message=f"{name}: converged on 1 problem(s); max relative KKT residual {kkt:.2e} <= tol {tol:.1e}",
    )
