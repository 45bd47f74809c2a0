"""Exact vectorized support enumeration for small M (batched over problems)."""

from __future__ import annotations

import itertools

import numpy as np

#: Support enumeration visits 2^M - 1 supports; above this M the active-set method is used instead.
ENUMERATION_MAX_M = 8

_SUPPORT_CACHE: dict[tuple[int, int], np.ndarray] = {}


def _supports(m: int, n: int) -> np.ndarray:
    key = (m, n)
    if key not in _SUPPORT_CACHE:
        _SUPPORT_CACHE[key] = np.array(list(itertools.combinations(range(m), n)), dtype=np.intp)
    return _SUPPORT_CACHE[key]


def solve_enumeration(qn: np.ndarray, p: np.ndarray, *, feas_tol: float = 1e-13, **_):
    """Solve the KKT system on every support S and keep the feasible candidate of least value.

    On S the minimizer of 0.5 l^T Q l over {1^T l = 1} solves [[Q_SS, 1], [1^T, 0]] [l; -nu] = [0; 1].
    The optimum is supported on an affinely independent set of gradients, on which this bordered
    matrix is nonsingular (x in its kernel would give G_S x = 0 with 1^T x = 0); singular systems
    are skipped. All supports of one size are solved in one batched LAPACK call.
    """
    bsz, m, _ = qn.shape
    best_val = np.full(bsz, np.inf)
    best = np.zeros((bsz, m))
    for n in range(1, m + 1):
        sup = _supports(m, n)  # (S, n)
        if n == 1:
            vals = 0.5 * qn[:, sup[:, 0], sup[:, 0]]  # (B, S)
            lam_s = np.ones((bsz, len(sup), 1))
            ok = np.ones_like(vals, dtype=bool)
        else:
            sub = qn[:, sup[:, :, None], sup[:, None, :]]  # (B, S, n, n)
            kkt = np.zeros((bsz, len(sup), n + 1, n + 1))
            kkt[..., :n, :n] = sub
            kkt[..., :n, n] = 1.0
            kkt[..., n, :n] = 1.0
            rhs = np.zeros((n + 1, 1))
            rhs[n] = 1.0
            ok = np.ones((bsz, len(sup)), dtype=bool)
            try:
                sol = np.linalg.solve(kkt, np.broadcast_to(rhs, kkt.shape[:-1] + (1,)))[..., 0]
            except np.linalg.LinAlgError:
                sign, _ = np.linalg.slogdet(kkt)
                ok = sign != 0
                kkt[~ok] = np.eye(n + 1)
                sol = np.linalg.solve(kkt, np.broadcast_to(rhs, kkt.shape[:-1] + (1,)))[..., 0]
            lam_s = sol[..., :n]
            ok &= np.all(lam_s >= -feas_tol, axis=-1)  # False for NaN too
            # Q_SS l = -t 1 with 1^T l = 1, so the value 0.5 l^T Q_SS l is -t / 2: no quadratic form needed.
            vals = -0.5 * sol[..., n]
        vals = np.where(ok & np.isfinite(vals), vals, np.inf)
        j = np.argmin(vals, axis=1)
        v = vals[np.arange(bsz), j]
        better = v < best_val
        if np.any(better):
            idx = np.nonzero(better)[0]
            best[idx] = 0.0
            best[idx[:, None], sup[j[idx]]] = lam_s[idx, j[idx]]
            best_val[idx] = v[idx]
    best = np.maximum(best, 0.0)
    best /= best.sum(axis=-1, keepdims=True)
    ones = np.ones(bsz, dtype=np.int64) * (2**m - 1)
    return best, ones, np.ones(bsz, dtype=bool)
