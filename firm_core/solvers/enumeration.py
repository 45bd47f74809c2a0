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


#: Supports up to this size are solved in closed form (Cramer's rule on the reduced system); larger
#: ones by batched LAPACK solves of the bordered system.
CLOSED_FORM_MAX_SUPPORT = 4


def _adjugate_times(a, r):
    """(adj(A) r, det A) for a symmetric k x k matrix A, k <= 3, given as nested lists of equally
    shaped arrays ``a[i][j]`` and a list ``r[i]`` (elementwise over them): Cramer's rule
    A^{-1} r = adj(A) r / det A."""
    k = len(r)
    if k == 1:
        return [r[0]], a[0][0]
    if k == 2:
        (a00, a01), (_, a11) = a
        return [a11 * r[0] - a01 * r[1], a00 * r[1] - a01 * r[0]], a00 * a11 - a01 * a01
    (a00, a01, a02), (_, a11, a12), (_, _, a22) = a
    c00, c01, c02 = a11 * a22 - a12 * a12, a02 * a12 - a01 * a22, a01 * a12 - a02 * a11
    c11, c12, c22 = a00 * a22 - a02 * a02, a01 * a02 - a00 * a12, a00 * a11 - a01 * a01
    adj = ((c00, c01, c02), (c01, c11, c12), (c02, c12, c22))
    return [row[0] * r[0] + row[1] * r[1] + row[2] * r[2] for row in adj], a00 * c00 + a01 * c01 + a02 * c02


def _closed_form_candidates(qt: np.ndarray, sup: np.ndarray, feas_tol: float):
    """Affine minimizers on the supports ``sup`` (S, n), n <= CLOSED_FORM_MAX_SUPPORT, of the Gram
    matrices ``qt`` (M, M, B) (batch last, so every entry below is a contiguous (S, B) array).

    With u_a = g_a - g_0 (a = 1..n-1) and l = e_0 + sum_a y_a (e_a - e_0), the minimizer of
    ||g_0 + sum_a y_a u_a|| solves A y = -r, A_ab = u_a . u_b = Q_ab - Q_a0 - Q_0b + Q_00,
    r_a = u_a . g_0 = Q_a0 - Q_00, and the value is 0.5 (Q_00 + y . r). det A <= 0 means affinely
    dependent gradients (a singular bordered system) up to round-off: skipped.
    Returns (weights (B, S, n), values (B, S), feasible and nonsingular (B, S)).
    """
    n = sup.shape[1]
    q00 = qt[sup[:, 0], sup[:, 0]]
    c = [qt[sup[:, i], sup[:, 0]] for i in range(1, n)]
    a = [[None] * (n - 1) for _ in range(n - 1)]
    for i in range(n - 1):
        for j in range(i, n - 1):
            a[i][j] = qt[sup[:, i + 1], sup[:, j + 1]] - c[i] - c[j] + q00
    r = [ci - q00 for ci in c]
    adj_r, det = _adjugate_times(a, r)
    ok = det > 0
    det = np.where(ok, det, 1.0)
    y = [-ar / det for ar in adj_r]
    lam_s = np.stack([1.0 - sum(y), *y], axis=-1)  # (S, B, n)
    ok &= lam_s.min(axis=-1) >= -feas_tol  # False for NaN too
    vals = 0.5 * (q00 + sum(yi * ri for yi, ri in zip(y, r)))
    return lam_s.transpose(1, 0, 2), vals.T, ok.T


#: A support's candidate counts as feasible when its smallest weight is >= -FEASIBILITY_TOL (normalized Q).
FEASIBILITY_TOL = 1e-13


def solve_enumeration(qn: np.ndarray, p: np.ndarray, *, feas_tol: float = FEASIBILITY_TOL, **_):
    """Solve the KKT system on every support S and keep the feasible candidate of least value.

    On S the minimizer of 0.5 l^T Q l over {1^T l = 1} solves [[Q_SS, 1], [1^T, 0]] [l; -nu] = [0; 1].
    The optimum is supported on an affinely independent set of gradients, on which this bordered
    matrix is nonsingular (x in its kernel would give G_S x = 0 with 1^T x = 0); singular systems
    are skipped. Supports of size <= CLOSED_FORM_MAX_SUPPORT are solved in closed form
    (:func:`_closed_form_candidates`), all larger supports of one size in one batched LAPACK call.
    """
    bsz, m, _ = qn.shape
    best_val = np.full(bsz, np.inf)
    best = np.zeros((bsz, m))
    qt = np.ascontiguousarray(qn.transpose(1, 2, 0))  # (M, M, B) for the closed-form supports
    for n in range(1, m + 1):
        sup = _supports(m, n)  # (S, n)
        if n == 1:
            vals = 0.5 * qn[:, sup[:, 0], sup[:, 0]]  # (B, S)
            lam_s = np.ones((bsz, len(sup), 1))
            ok = np.ones_like(vals, dtype=bool)
        elif n <= CLOSED_FORM_MAX_SUPPORT:
            lam_s, vals, ok = _closed_form_candidates(qt, sup, feas_tol)
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
