"""Accelerated projected gradient (FISTA with adaptive restart) with exact simplex projection."""

from __future__ import annotations

import numpy as np

from ..simplex import _project_simplex

DEFAULT_MAX_ITER = 20000


def solve_projected_gradient(qn: np.ndarray, p: np.ndarray, *, tol: float, max_iter: int | None = None, **_):
    """FISTA: y -> l+ = Proj(y - Q y / L), momentum (k - 1)/(k + 2), restarted when the value rises
    (O'Donoghue & Candes 2015). L = lambda_max(Q). Stops when the KKT residual
    ||l - Proj(l - Q l)|| <= tol.
    """
    bsz, m, _ = qn.shape
    cap = max_iter if max_iter is not None else DEFAULT_MAX_ITER
    lip = np.linalg.eigvalsh(qn)[:, -1]
    step = 1.0 / np.where(lip > 0, lip, 1.0)
    lam = np.broadcast_to(p, (bsz, m)).copy()
    y = lam.copy()
    t_mom = np.ones(bsz)
    iters = np.zeros(bsz, dtype=np.int64)
    active = np.ones(bsz, dtype=bool)

    def value(x):
        return 0.5 * np.einsum("bi,bij,bj->b", x, qn, x)

    def residual(x):
        return np.linalg.norm(x - _project_simplex(x - np.einsum("bij,bj->bi", qn, x)), axis=-1)

    f_old = value(lam)
    for _ in range(cap):
        active &= residual(lam) > tol
        if not active.any():
            break
        new = _project_simplex(y - step[:, None] * np.einsum("bij,bj->bi", qn, y))
        f_new = value(new)
        restart = f_new > f_old
        t_next = 0.5 * (1 + np.sqrt(1 + 4 * t_mom**2))
        mom = np.where(restart, 0.0, (t_mom - 1) / t_next)
        y_new = new + mom[:, None] * (new - lam)
        sel = active[:, None]
        lam = np.where(sel, new, lam)
        y = np.where(sel, np.where(restart[:, None], new, y_new), y)
        t_mom = np.where(active, np.where(restart, 1.0, t_next), t_mom)
        f_old = np.where(active, f_new, f_old)
        iters += active
    return lam, iters, residual(lam) <= tol
