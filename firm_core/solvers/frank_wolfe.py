"""Frank-Wolfe with exact line search: the MGDA-UB baseline (Sener & Koltun 2018)."""

from __future__ import annotations

import numpy as np

DEFAULT_MAX_ITER = 1000


def solve_frank_wolfe(qn: np.ndarray, p: np.ndarray, *, tol: float, max_iter: int | None = None, **_):
    """Start at p; step to the vertex e_t, t = argmin_m (Q l)_m, with the exact line search
    gamma = clip(gap / (l - e_t)^T Q (l - e_t), 0, 1); stop when the FW gap g^T l - g_t <= tol.
    The iteration counter really increments and the cap really fires (unlike the original code).
    """
    bsz, m, _ = qn.shape
    cap = max_iter if max_iter is not None else DEFAULT_MAX_ITER
    lam = np.broadcast_to(p, (bsz, m)).copy()
    iters = np.zeros(bsz, dtype=np.int64)
    active = np.ones(bsz, dtype=bool)
    rows = np.arange(bsz)
    for _ in range(cap):
        g = np.einsum("bij,bj->bi", qn, lam)
        t = np.argmin(g, axis=-1)
        gap = np.einsum("bi,bi->b", g, lam) - g[rows, t]
        active &= gap > tol
        if not active.any():
            break
        # curvature (l - e_t)^T Q (l - e_t) = l^T Q l - 2 (Q l)_t + Q_tt
        curv = np.einsum("bi,bi->b", g, lam) - 2 * g[rows, t] + qn[rows, t, t]
        gamma = np.where(curv > 0, np.clip(gap / np.where(curv > 0, curv, 1.0), 0.0, 1.0), 1.0)
        gamma = np.where(active, gamma, 0.0)
        lam *= (1.0 - gamma)[:, None]
        lam[rows, t] += gamma
        iters += active
    g = np.einsum("bij,bj->bi", qn, lam)
    gap = np.einsum("bi,bi->b", g, lam) - g.min(axis=-1)
    return lam, iters, gap <= tol
