"""FedCMOO's client side: a rank-r randomized SVD of each client's (M, d) Jacobian, the terms its clients
upload for the server's Gram estimate (official variant), and the floats they exchange."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Extra columns of FedCMOO's randomized range finder beyond the sketch rank (capped at M).
SKETCH_OVERSAMPLE = 2


def randomized_svd_sketch(
    jac: np.ndarray, rank: int, rngs: Sequence[np.random.Generator], *, oversample: int = SKETCH_OVERSAMPLE
) -> tuple[np.ndarray, np.ndarray]:
    """A rank-r randomized SVD of each (M, d) Jacobian (batched over clients).

    Range finder (Halko et al. 2011): Omega ~ N(0, 1)^{d x k}, k = min(r + oversample, M), from the
    client's generator; Q = orth(J Omega); SVD of Q^T J = U S V^T; keep the top r. Returns
    (left (n, M, r) = Q U_r S_r, right (n, r, d) = V_r^T) with J ~ left @ right; the upload is
    r (M + d) floats. With k = M (small M) the range is exact and the sketch is the truncated SVD.
    """
    jac = np.asarray(jac, dtype=np.float64)
    n, m, d = jac.shape
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or not 1 <= rank <= m:
        raise ValueError(f"randomized_svd_sketch: `rank` must be an integer in [1, M = {m}], got {rank!r}")
    k = min(rank + oversample, m, d)
    rank = min(rank, k)
    omega = np.stack([r.standard_normal((d, k)) for r in rngs]) if n else np.empty((0, d, k))
    q, _ = np.linalg.qr(jac @ omega)  # (n, M, k)
    u, s, vt = np.linalg.svd(np.swapaxes(q, -1, -2) @ jac, full_matrices=False)
    left = (q @ u[:, :, :rank]) * s[:, None, :rank]
    return left, vt[:, :rank, :]


def sketch_floats(rank: int, num_objectives: int, dim: int) -> int:
    """Floats in one rank-r sketch of an M x d matrix: r (M + d)."""
    return int(rank) * (int(num_objectives) + int(dim))


def sketch_reconstruction(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The sketched matrices C = left @ right, (..., M, d) from left (..., M, r) and right (..., r, d)."""
    return np.asarray(left, dtype=np.float64) @ np.asarray(right, dtype=np.float64)


def official_client_terms(jac: np.ndarray, sketch: np.ndarray, sum_sketch: np.ndarray):
    """What each FedCMOO client uploads for the server's bias-corrected Gram estimate (batched).

    With B_i its (weighted) Jacobian (M, d), C_i its sketch, D_i = B_i - C_i its residual and S the
    server's compressed sum of the sketches (broadcast to the clients):

        gram_i     = B_i B_i^T              (M, M; sent with the sketch)
        cross_i    = D_i (S - C_i)^T        (M, M; sent once S is known)
        residual_i = D_i D_i^T              (M, M; its trace ||D_i||_F^2 decides the server's 4th term)

    Returns (gram, cross, residual), each (n, M, M).
    """
    b = np.asarray(jac, dtype=np.float64)
    c = np.asarray(sketch, dtype=np.float64)
    s = np.asarray(sum_sketch, dtype=np.float64)
    if b.ndim != 3 or c.shape != b.shape or s.shape != b.shape[1:]:
        raise ValueError(
            "official_client_terms: `jac` (n, M, d), `sketch` (n, M, d) and `sum_sketch` (M, d) do not match, "
            f"got {b.shape}, {c.shape} and {s.shape}"
        )
    resid = b - c
    others = np.swapaxes(s[None] - c, -1, -2)
    return b @ np.swapaxes(b, -1, -2), resid @ others, resid @ np.swapaxes(resid, -1, -2)


def official_upload_floats(rank: int, num_objectives: int, dim: int) -> int:
    """Uplink floats of one FedCMOO client's lambda phase (official variant): its rank-r sketch
    r (M + d), its Gram M^2, then its cross term and residual Gram, M^2 each: r (M + d) + 3 M^2."""
    return sketch_floats(rank, num_objectives, dim) + 3 * int(num_objectives) ** 2


def official_download_floats(rank: int, num_objectives: int, dim: int) -> int:
    """Downlink floats of one FedCMOO client's lambda phase (official variant), the model excluded: the
    server's compressed sum S as a rank-r sketch r (M + d), the client's weight factor (1) and lambda (M)."""
    return sketch_floats(rank, num_objectives, dim) + 1 + int(num_objectives)
