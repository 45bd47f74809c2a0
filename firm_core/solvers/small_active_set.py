"""Kernels for ONE small problem ``min_{l in simplex} 0.5 l^T Qn l`` (the short route's M >= 3).

* :func:`lifted_factor` / :func:`factor_in_place` (Cholesky), :func:`pivoted_lifted_factor` (a
  singular Qn) and :func:`nnls_weights_single`: the least-distance form. With R^T R = Qn, the NNLS
  solution mu of min_{mu >= 0} ||[R; 1^T] mu - e|| normalized, mu / 1^T mu, is the minimizer
  (Lawson & Hanson); one compiled call, the first choice.

The fallbacks solve the equality-constrained problem on a support S (the *affine minimizer*
x = argmin {0.5 x^T Qn_SS x : 1^T x = 1}) with one LAPACK call per step; everything else works on
lists of at most ten floats, which is cheaper than numpy calls on arrays that small.

* :func:`support_search` (primal-dual active set): from a given support (the NNLS one) or S = all,
  the next support keeps the positive weights of x and adds every index whose gradient entry is
  clearly below the support's (g_j < c - tol). Usually 1-3 solves; it can cycle, and then hands over.
* :func:`primal_active_set` (the textbook primal method, Wolfe's for the min-norm point): from the
  vertex with the smallest diagonal entry, the most violated index joins S, and a ratio test keeps
  every weight >= 0. Slower (one index per step) but it always makes progress; the last resort.

Their caller (:func:`firm_core.solvers.single.active_set_single`) accepts an answer only when its
relative KKT residual, recomputed from the unnormalized Gram matrix, meets ``tol``. A singular face
(Qn_SS not positive definite, e.g. duplicate objectives at beta = 0) is solved through the bordered
system [[Qn_SS, 1], [1^T, 0]] [x; nu] = [0; 1].
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.linalg.lapack import dgesv, dposv, dpotrf, dpstrf
from scipy.optimize import nnls

try:  # the compiled Lawson-Hanson kernel behind scipy.optimize.nnls, without its input checks (~7 us)
    from scipy.optimize._slsqplib import nnls as _nnls_kernel
except ImportError:  # older scipy: the public wrapper
    _nnls_kernel = None

#: Support changes the primal-dual search may make before it hands over (it can cycle).
SUPPORT_SEARCH_STEPS = 6
#: Iteration cap of the primal active-set method per objective: each step adds or drops an index.
PRIMAL_STEPS_PER_M = 4


@functools.lru_cache(maxsize=32)
def _ones(k: int) -> np.ndarray:
    ones = np.ones(k)
    ones.flags.writeable = False
    return ones


@functools.lru_cache(maxsize=32)
def _unit_last(k: int) -> np.ndarray:
    e = np.zeros(k + 1)
    e[k] = 1.0
    e.flags.writeable = False
    return e


def affine_minimizer(qn: np.ndarray, free: list, tol: float):
    """The minimizer x of 0.5 x^T Qn_SS x subject to 1^T x = 1 on S = ``free`` (sorted), with a scaled
    gradient to test optimality: (x, h, bar) where index j has g_j = (Qn x)_j < c - tol (c: the value
    of Qn x on S) exactly when h_j < bar.

    By Cholesky (``dposv``): y = Qn_SS^{-1} 1, x = y / 1^T y, h = Qn[:, S] y = (1^T y) Qn x and
    bar = 1 - tol 1^T y; when Qn_SS is not positive definite, from the bordered KKT system
    [[Qn_SS, 1], [1^T, 0]] [x; -c] = [0; 1] (``dgesv``), h = Qn x and bar = c - tol.
    None when that is singular too (an affinely dependent support)."""
    k = len(free)
    if k == qn.shape[0]:
        cols = sub = qn
    else:
        idx = np.array(free)
        cols = qn.take(idx, 1)
        sub = cols.take(idx, 0)
    _, y, info = dposv(sub, _ones(k))
    ys = y.tolist()
    total = sum(ys) if info == 0 else 0.0
    if total > 0.0 and total < math.inf:
        return [yi / total for yi in ys], (cols @ y).tolist(), 1.0 - tol * total
    bordered = np.ones((k + 1, k + 1))
    bordered[:k, :k] = sub
    bordered[k, k] = 0.0
    _, _, sol, info = dgesv(bordered, _unit_last(k))
    if info != 0 or not np.isfinite(sol).all():
        return None
    x = sol[:k]
    return x.tolist(), (cols @ x).tolist(), -float(sol[k]) - tol


def nnls_weights(a: np.ndarray) -> np.ndarray | None:
    """mu = argmin_{mu >= 0} ||A mu - e_last|| (Lawson-Hanson NNLS, compiled), None at its iteration cap."""
    rows, m = a.shape
    if _nnls_kernel is not None:
        try:
            mu, _, info = _nnls_kernel(a, _unit_last(rows - 1), 3 * m)
            return mu if info != 3 else None
        except (TypeError, ValueError):  # a scipy whose private kernel has another signature
            pass
    try:
        return nnls(a, _unit_last(rows - 1), maxiter=3 * m)[0]
    except RuntimeError:
        return None


def factor_in_place(a: np.ndarray) -> bool:
    """Overwrite the top M x M block of ``a`` (M + 1 rows, C order, holding Qn) by its upper Cholesky
    factor U (U^T U = Qn; ``dpotrf`` on the transposed, Fortran-ordered view, so no copy); False
    when Qn is not positive definite (the block is then partly overwritten)."""
    top = a[:-1].T
    low, info = dpotrf(top, lower=1, clean=1, overwrite_a=1)
    if low is not top:  # LAPACK worked on a copy: write the factor back
        a[:-1] = low.T
    return info == 0


def lifted_factor(qn: np.ndarray) -> np.ndarray | None:
    """A = [U; 1^T] with U^T U = Qn (Cholesky), or None when Qn is not positive definite.
    min_{mu >= 0} ||A mu - e_last|| is the least-distance form of the min-norm problem: its solution
    normalized, mu / 1^T mu, is the minimizer of 0.5 l^T Qn l over the simplex (Lawson & Hanson)."""
    m = len(qn)
    a = np.empty((m + 1, m))
    a[:m] = qn
    a[m] = 1.0
    return a if factor_in_place(a) else None


@functools.lru_cache(maxsize=32)
def _upper_ones(m: int) -> np.ndarray:
    upper = np.triu(np.ones((m, m)))
    upper.flags.writeable = False
    return upper


def pivoted_lifted_factor(qn: np.ndarray) -> tuple[np.ndarray, list] | None:
    """([R; 1^T], order) with R (r x M) upper triangular, R^T R = Qn[order][:, order], from the pivoted
    Cholesky factorization of LAPACK's ``dpstrf`` (r = its numerical rank, tolerance M eps max Qn_ii;
    column j of R belongs to objective ``order[j]``): the lifted problem of a singular Qn, whose
    plain Cholesky factor does not exist; r + 1 rows whatever d. None when LAPACK reports an
    argument error or a zero matrix."""
    c, piv, rank, info = dpstrf(qn, lower=0)
    if info < 0 or rank < 1:
        return None
    m = len(qn)
    a = np.empty((rank + 1, m))
    np.multiply(c[:rank], _upper_ones(m)[:rank], out=a[:rank])  # dpstrf leaves Qn's entries below the diagonal
    a[rank] = 1.0
    return a, [k - 1 for k in piv.tolist()]


def nnls_weights_single(a: np.ndarray, order: list | None = None) -> tuple[list, np.ndarray] | None:
    """lam = mu / 1^T mu with mu the NNLS solution of the lifted problem ``a`` (:func:`nnls_weights`;
    column j is objective ``order[j]`` when the columns are permuted), as a list and as an array;
    None at the NNLS cap or when mu = 0."""
    mu = nnls_weights(a)
    if mu is None:
        return None
    values = mu.tolist()
    total = sum(values)
    if not total > 0.0:
        return None
    if order is None:
        mu /= total
        return mu.tolist(), mu
    lam = [0.0] * len(values)
    for k, v in zip(order, values):
        lam[k] = v / total
    return lam, np.array(lam)


def _spread(x: list, free: list, m: int) -> list:
    lam = [0.0] * m
    for i, xi in zip(free, x):
        lam[i] = xi
    return lam


def support_search(qn: np.ndarray, tol: float, start: list | None = None):
    """Primal-dual active set from S = ``start`` (all when None): S <- {i in S : x_i > 0} u
    {j not in S : g_j < c - tol} with x the affine minimizer on S and g = Qn x (= c on S). Stops when
    x >= 0 with no violation, returning (lam, solves); lam is None on a singular face, a repeated
    support or the step cap."""
    m = qn.shape[0]
    free, seen = (list(range(m)) if start is None else start), set()
    for it in range(1, SUPPORT_SEARCH_STEPS + 1):
        step = affine_minimizer(qn, free, tol)
        if step is None:
            return None, it
        x, h, bar = step
        add = [j for j, hj in enumerate(h) if hj < bar and j not in free]
        if min(x) >= 0.0:
            if not add:
                return _spread(x, free, m), it
            keep = free
        else:
            keep = [i for i, xi in zip(free, x) if xi > 0.0]
        seen.add(tuple(free))
        free = sorted(keep + add)
        if tuple(free) in seen:
            return None, it
    return None, SUPPORT_SEARCH_STEPS


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


def primal_active_set(qn: np.ndarray, tol: float):
    """The primal active-set method from the best vertex S = {argmin_i Qn_ii}: the most violated index
    (g_j < c - tol, g = Qn l) joins S, then l steps toward the affine minimizer on S, stopping where
    the first weight reaches 0 (that index leaves S). Returns (lam, solves) once no index violates;
    lam is None on a singular face or at the step cap."""
    m = qn.shape[0]
    diag = qn.diagonal().tolist()
    free = [diag.index(min(diag))]
    lam, h, bar = _spread([1.0], free, m), qn[free[0]].tolist(), diag[free[0]] - tol
    it = 0
    while it <= PRIMAL_STEPS_PER_M * m:
        add = [j for j, hj in enumerate(h) if hj < bar and j not in free]
        if not add:
            return lam, max(it, 1)
        free = sorted(free + [min(add, key=h.__getitem__)])
        while True:  # step toward the affine minimizer on S, dropping blocking indices
            it += 1
            step = affine_minimizer(qn, free, tol)
            if step is None:
                return None, it
            x, h, bar = step
            if min(x) >= 0.0:
                lam = _spread(x, free, m)
                break
            free.remove(_ratio_step(lam, free, x))
    return None, it
