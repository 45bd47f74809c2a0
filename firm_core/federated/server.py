"""Pure server-side aggregation helpers (also called by the Flower strategy).

    aggregate:            x_{t+1} = x_t + eta_g sum_i wbar_i (y_i - x_t),  wbar_i = w_i / sum_j w_j
    aggregate_mgda:       D_m = sum_i wbar_i Delta_{i,m};  lambda = argmin_{simplex} ||D^T lambda||^2;
                          x_{t+1} = x_t - eta_g D^T lambda                       (FMGDA / FSMGDA)
    sketched_jacobian:    G = sum_i wbar_i L_i R_i  (FedCMOO's estimate of the global Jacobian)
"""

from __future__ import annotations

import numpy as np

from ..result import SolverStatus
from ..weighting import combine, firm_weights


def normalized_weights(weights, *, where: str = "normalized_weights") -> np.ndarray:
    """w / sum(w) for non-negative finite weights; ValueError (naming the weights) when the sum is 0."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1:
        raise ValueError(f"{where}: `weights` must be 1-D, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"{where}: `weights` must be finite and >= 0, got {w.tolist()}")
    total = w.sum()
    if not total > 0:
        raise ValueError(f"{where}: `weights` must have a positive sum, got {w.tolist()} (sum {total})")
    return w / total


def _check_uploads(x, uploads, weights, server_lr, where, tail_ndim):
    x = np.asarray(x, dtype=np.float64)
    u = np.asarray(uploads, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"{where}: `x` must be 1-D, got shape {x.shape}")
    if u.ndim != 1 + tail_ndim or u.shape[-1] != x.shape[0]:
        raise ValueError(f"{where}: `uploads` must have {1 + tail_ndim} axes ending in d = {x.shape[0]}, got shape {u.shape}")
    if not np.all(np.isfinite(u)):
        raise ValueError(f"{where}: `uploads` has non-finite entries")
    w = normalized_weights(weights, where=where)
    if w.shape[0] != u.shape[0]:
        raise ValueError(f"{where}: `weights` must have one entry per upload ({u.shape[0]}), got {w.shape[0]}")
    if isinstance(server_lr, bool) or not np.isfinite(server_lr) or server_lr <= 0:
        raise ValueError(f"{where}: `server_lr` must be a finite number > 0, got {server_lr!r}")
    return x, u, w


def aggregate(x, uploads, weights, server_lr: float = 1.0) -> np.ndarray:
    """x + eta_g sum_i wbar_i (y_i - x) for uploads y (n, d) and weights (n,) renormalized to sum 1."""
    x, y, w = _check_uploads(x, uploads, weights, server_lr, "aggregate", 1)
    return x + server_lr * (w @ (y - x))


def aggregate_mgda(x, updates, weights, server_lr: float = 1.0, *, method: str = "auto"):
    """FMGDA server: average each objective's update Delta_{i,m} = x - y_{i,m} over clients, solve MGDA
    (beta = 0) on the M averaged updates, step eta_g along their lambda-combination.

    updates (n, M, d). Returns (x_new, lambda (M,), averaged updates D (M, d), solver status).
    """
    x, u, w = _check_uploads(x, updates, weights, server_lr, "aggregate_mgda", 2)
    avg = np.einsum("i,imd->md", w, u)
    lam, status, _ = firm_weights(jacobian=avg, beta=0.0, method=method)
    return x - server_lr * combine(lam, avg), lam, avg, status


def sketched_jacobian(left, right, weights) -> np.ndarray:
    """FedCMOO: the server's estimate sum_i wbar_i L_i R_i (M, d) of the global Jacobian from client
    sketches left (n, M, r), right (n, r, d)."""
    w = normalized_weights(weights, where="sketched_jacobian")
    left, right = np.asarray(left, dtype=np.float64), np.asarray(right, dtype=np.float64)
    if left.ndim != 3 or right.ndim != 3 or left.shape[0] != right.shape[0] or left.shape[2] != right.shape[1]:
        raise ValueError(
            f"sketched_jacobian: `left` (n, M, r) and `right` (n, r, d) do not match, got {left.shape} and {right.shape}"
        )
    if left.shape[0] != w.shape[0]:
        raise ValueError(f"sketched_jacobian: `weights` must have one entry per client ({left.shape[0]}), got {w.shape[0]}")
    return np.einsum("i,imr,ird->md", w, left, right)


def fedcmoo_weights(jacobian_estimate, *, beta: float, preference, method: str = "auto") -> tuple[np.ndarray, SolverStatus]:
    """FedCMOO server: lambda = lambda*(G G^T; beta, p) (FIRM's weighting) on the estimate G (M, d)."""
    lam, status, _ = firm_weights(jacobian=jacobian_estimate, beta=beta, preference=preference, method=method)
    return lam, status
