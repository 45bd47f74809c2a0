"""FedCMOO's client compression: a rank-r randomized SVD of each client's (M, d) Jacobian."""

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
