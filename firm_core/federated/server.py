"""Pure server-side aggregation helpers (also called by the Flower strategy).

    aggregate:            x_{t+1} = x_t + eta_g sum_i wbar_i (y_i - x_t),  wbar_i = w_i / sum_j w_j
                          (computed as x_t + eta_g (sum_i wbar_i y_i - (sum_i wbar_i) x_t), the sum row by
                          row (weighted_row_sum): no (n, d) temporary, the same bits for streamed uploads;
                          float32 uploads are upcast a row at a time, never copied to float64 whole)
    aggregate_mgda:       D_m = sum_i wbar_i Delta_{i,m};  lambda = argmin_{simplex} ||D^T lambda||^2;
                          x_{t+1} = x_t - eta_g D^T lambda                       (FMGDA / FSMGDA)
    sketched_jacobian:    G = sum_i wbar_i L_i R_i  (FedCMOO exact-lambda variant: estimate of the global Jacobian)
    official_gram_estimate: FedCMOO's bias-corrected estimate of G G^T from the clients' Grams, sketches
                          and cross terms (official variant)
    projected_scale_descent: FedCMOO's lambda: fixed-count projected gradient steps on the normalized
                          estimate, warm-started (official variant)
"""

from __future__ import annotations

import numpy as np

from ..result import SolverStatus
from ..simplex import _project_simplex
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


#: Rows of an upload array checked for finiteness at once: bounds the check's boolean temporary to
#: about this many entries (one float64 row when a row is larger), whatever the number of clients.
FINITE_CHECK_ENTRIES = 1 << 20


def all_finite(a: np.ndarray) -> bool:
    """np.isfinite(a).all(), checked a block of leading-axis rows at a time (bounded temporary memory)."""
    if a.ndim == 0 or a.size <= FINITE_CHECK_ENTRIES:
        return bool(np.isfinite(a).all())
    rows = max(1, FINITE_CHECK_ENTRIES // max(1, a[0].size))
    return all(bool(np.isfinite(a[i : i + rows]).all()) for i in range(0, a.shape[0], rows))


#: Upload dtypes kept as they come (anything else is converted to float64).
UPLOAD_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))


def _check_uploads(x, uploads, weights, server_lr, where, tail_ndim):
    x = np.asarray(x, dtype=np.float64)
    u = np.asarray(uploads)
    if u.dtype not in UPLOAD_DTYPES:
        u = u.astype(np.float64)
    if x.ndim != 1:
        raise ValueError(f"{where}: `x` must be 1-D, got shape {x.shape}")
    if u.ndim != 1 + tail_ndim or u.shape[-1] != x.shape[0]:
        raise ValueError(f"{where}: `uploads` must have {1 + tail_ndim} axes ending in d = {x.shape[0]}, got shape {u.shape}")
    if not all_finite(u):
        raise ValueError(f"{where}: `uploads` has non-finite entries")
    w = normalized_weights(weights, where=where)
    if w.shape[0] != u.shape[0]:
        raise ValueError(f"{where}: `weights` must have one entry per upload ({u.shape[0]}), got {w.shape[0]}")
    if isinstance(server_lr, bool) or not np.isfinite(server_lr) or server_lr <= 0:
        raise ValueError(f"{where}: `server_lr` must be a finite number > 0, got {server_lr!r}")
    return x, u, w


def weighted_row_sum(weights, rows) -> np.ndarray:
    """sum_i w_i r_i in float64, accumulated row by row in order (rows: an (n, d) array or n vectors (d,)
    of any float dtype, each upcast exactly): the same bits whether the rows come stacked or one at a
    time, and on any BLAS; no (n, d) temporary."""
    acc, term = None, None
    for w, r in zip(weights, rows, strict=True):
        if acc is None:
            acc = np.multiply(r, w, dtype=np.float64)
            term = np.empty_like(acc)
        else:
            acc += np.multiply(r, w, out=term, dtype=np.float64)
    if acc is None:
        raise ValueError("weighted_row_sum: `rows` must hold at least one row")
    return acc


def aggregate(x, uploads, weights, server_lr: float = 1.0) -> np.ndarray:
    """x + eta_g sum_i wbar_i (y_i - x) for uploads y (n, d) and weights (n,) renormalized to sum 1.

    Computed as x + eta_g (sum_i wbar_i y_i - (sum_i wbar_i) x) with the sum taken row by row
    (:func:`weighted_row_sum`), which needs no (n, d) temporary y - x (the server's memory grows by the
    uploads alone) and gives the same bits as a server that sums the uploads one at a time as they
    arrive. Against wbar @ (y - x) only the summation order differs: the result moves by a few ulps of
    max(|x|, |y_i|)."""
    x, y, w = _check_uploads(x, uploads, weights, server_lr, "aggregate", 1)
    return x + server_lr * (weighted_row_sum(w, y) - w.sum() * x)


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


#: FedCMOO (official variant): the residual term (N - 1) sum_i D_i D_i^T enters the Gram estimate only
#: when sqrt(sum_i ||C_i||^2 / sum_i ||D_i||^2) <= this (the sketches capture too little of the Jacobians).
RESIDUAL_TERM_RATIO = 1.5

#: FedCMOO (official variant): the estimate is divided by n^2, n = mean_m sqrt(Q_mm + this).
SCALE_NORMALIZATION_EPS = 1e-4

#: FedCMOO (official variant): the lambda iteration reports "converged" when the KKT residual
#: ||l - Proj(l - g)|| of the normalized problem is at most this, else "max_iter".
SCALE_KKT_TOL = 1e-8


def official_gram_estimate(grams, crosses, residuals, sketches, sum_sketch) -> np.ndarray:
    """FedCMOO's bias-corrected estimate (M, M) of G G^T, G = sum_i B_i, from n clients' uploads.

    grams B_i B_i^T, crosses D_i (S - C_i)^T, residuals D_i D_i^T: (n, M, M); sketches C_i: (n, M, d);
    sum_sketch S (M, d), the server's compression of sum_i C_i. With the cross terms
    sum_{i != j} B_i B_j^T = sum_i B_i (G - B_i)^T approximated through B_i = C_i + D_i, G ~ S:

        Q = (1/n) [ sum_i B_i B_i^T + sum_i C_i (S - C_i)^T + 2 sum_i D_i (S - C_i)^T + R ],
        R = (n - 1) sum_i D_i D_i^T  if  sum_i ||C_i||^2 <= RESIDUAL_TERM_RATIO^2 sum_i ||D_i||^2,  else 0

    (||D_i||^2 = trace of residual_i). Q need be neither symmetric nor PSD; it is used as it is.
    """
    g, x, r = (np.asarray(a, dtype=np.float64) for a in (grams, crosses, residuals))
    c, s = np.asarray(sketches, dtype=np.float64), np.asarray(sum_sketch, dtype=np.float64)
    n = g.shape[0] if g.ndim == 3 else -1
    if n < 1 or g.shape[1] != g.shape[2] or x.shape != g.shape or r.shape != g.shape or c.ndim != 3 or (
        c.shape[:2] != g.shape[:2] or s.shape != c.shape[1:]
    ):
        raise ValueError(
            "official_gram_estimate: expected grams, crosses, residuals (n, M, M), sketches (n, M, d), sum_sketch "
            f"(M, d) with n >= 1, got {g.shape}, {x.shape}, {r.shape}, {c.shape}, {s.shape}"
        )
    sketch_terms = c @ np.swapaxes(s[None] - c, -1, -2)
    total = g.sum(axis=0) + sketch_terms.sum(axis=0) + 2.0 * x.sum(axis=0)
    captured, missed = float(np.sum(c * c)), float(np.trace(r, axis1=1, axis2=2).sum())
    if captured <= RESIDUAL_TERM_RATIO**2 * missed:
        total = total + (n - 1) * r.sum(axis=0)
    return total / n


def projected_scale_descent(gram, start, *, iterations: int, lr: float, momentum: float = 0.0,
                            beta: float = 0.0, preference=None) -> tuple[np.ndarray, SolverStatus]:
    """FedCMOO's lambda (official variant): ``iterations`` projected (heavy-ball) gradient steps on
    0.5 l^T Qn l (+ 0.5 beta_n ||l - p||^2) from ``start``, Qn = Q / n^2, n = mean_m sqrt(max(Q_mm, 0) + eps),
    beta_n = beta / n^2:

        g = Qn l + beta_n (l - p);  v <- momentum v + g (v = g at the first step);  l <- Proj_simplex(l - lr v)

    Returns (lambda (M,), status): "converged" when the final KKT residual ||l - Proj(l - g)|| <=
    SCALE_KKT_TOL, else "max_iter". Q may be non-symmetric (g = Qn l as written).
    """
    q = np.asarray(gram, dtype=np.float64)
    w = np.asarray(start, dtype=np.float64)
    m = w.shape[0] if w.ndim == 1 else -1
    if q.shape != (m, m) or not np.all(np.isfinite(q)) or not np.all(np.isfinite(w)):
        raise ValueError(f"projected_scale_descent: `gram` (M, M) and `start` (M,) must be finite and match, "
                         f"got shapes {q.shape} and {w.shape}")
    scale = np.mean(np.sqrt(np.maximum(np.diag(q), 0.0) + SCALE_NORMALIZATION_EPS)) ** 2
    qn, beta_n = q / scale, float(beta) / scale
    p = np.full(m, 1.0 / m) if preference is None else np.asarray(preference, dtype=np.float64)
    grad = lambda v: qn @ v + beta_n * (v - p)  # noqa: E731
    velocity = np.zeros(m)
    for _ in range(int(iterations)):
        velocity = momentum * velocity + grad(w)
        w = _project_simplex(w - lr * velocity)
    kkt = float(np.linalg.norm(w - _project_simplex(w - grad(w))))
    return w, SolverStatus.CONVERGED if kkt <= SCALE_KKT_TOL else SolverStatus.MAX_ITER
