"""Exact method for any M: least-distance programming reduced to NNLS (Lawson & Hanson)."""

from __future__ import annotations

import numpy as np
from scipy.linalg.lapack import dsyevd
from scipy.optimize import nnls


def _factor(q: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """R with R^T R = q, from the symmetric eigendecomposition (robust for singular PSD q):
    R = diag(sqrt(max(w, 0))) V^T for q = V diag(w) V^T; written into ``out`` when given."""
    w, v, info = dsyevd(q)  # LAPACK directly: np.linalg.eigh costs several us of checks per call
    if info != 0:  # did not converge: numpy's driver, which raises LinAlgError as before
        w, v = np.linalg.eigh(q)
    return np.multiply(np.sqrt(np.maximum(w, 0.0))[:, None], v.T, out=out)


def solve_active_set(qn: np.ndarray, p: np.ndarray, *, max_iter: int | None = None, **_):
    """min_{mu >= 0} ||[R; 1^T] mu - [0; 1]||^2 by Lawson-Hanson NNLS, then lambda = mu / sum(mu).

    Restricting mu = t lambda with lambda in the simplex gives t^2 ||R lambda||^2 + (t - 1)^2, minimized
    at t = 1 / (1 + ||R lambda||^2) with value v / (1 + v), v = ||R lambda||^2, increasing in v: so the
    NNLS solution normalized is the min-norm point. NNLS is a finite active-set method.
    """
    bsz, m, _ = qn.shape
    weights = np.empty((bsz, m))
    iters = np.zeros(bsz, dtype=np.int64)
    converged = np.ones(bsz, dtype=bool)
    b = np.zeros(m + 1)
    b[m] = 1.0
    cap = max_iter if max_iter is not None else 10 * (m + 1)
    a = np.empty((m + 1, m))  # [R; 1^T], R rewritten per problem
    for k in range(bsz):
        a[m] = 1.0
        _factor(qn[k], out=a[:m])
        try:
            mu, _ = nnls(a, b, maxiter=cap)
            iters[k] = int(np.count_nonzero(mu)) or 1
        except RuntimeError:  # iteration cap (scipy raises): report the cap, not the fallback's support
            mu, converged[k], iters[k] = np.full(m, 1.0 / m), False, cap
        s = mu.sum()
        weights[k] = mu / s if s > 0 else np.full(m, 1.0 / m)
    return weights, iters, converged
