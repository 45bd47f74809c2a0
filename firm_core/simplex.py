"""Euclidean projection onto the probability simplex."""

from __future__ import annotations

import functools

import numpy as np

from ._validate import check_finite_array


def project_simplex(v) -> np.ndarray:
    """Project ``v`` onto ``{x : x >= 0, sum x = 1}`` along the last axis (batched, exact).

    Sort-based algorithm (Held et al. 1974; Duchi et al. 2008): with ``u`` sorted descending and
    ``rho = max{j : u_j - (sum_{k<=j} u_k - 1) / j > 0}``, the projection is
    ``max(v - theta, 0)`` with ``theta = (sum_{k<=rho} u_k - 1) / rho = max_j (sum_{k<=j} u_k - 1) / j``.
    O(M log M) per vector.
    """
    v = np.asarray(v)
    if v.ndim == 0 or v.shape[-1] == 0:
        raise ValueError(f"project_simplex: `v` must have a non-empty last axis, got shape {v.shape}")
    if not np.issubdtype(v.dtype, np.number) or np.iscomplexobj(v):
        raise TypeError(f"project_simplex: `v` must be real, got dtype {v.dtype}")
    out_dtype = v.dtype if np.issubdtype(v.dtype, np.floating) else np.float64
    x = v.astype(np.float64)
    check_finite_array(x, "v", "project_simplex")
    return _project_simplex(x).astype(out_dtype, copy=False)


def _project_simplex(x: np.ndarray) -> np.ndarray:
    """Unchecked float64 kernel of :func:`project_simplex`.

    Uses theta = max_j (sum_{k<=j} u_k - 1) / j (Condat 2016, eq. 4), which equals the threshold at
    rho and avoids an index gather.
    """
    u = np.sort(x, axis=-1)[..., ::-1]
    css = np.cumsum(u, axis=-1)
    css -= 1.0
    css /= _counts(x.shape[-1])
    out = x - css.max(axis=-1, keepdims=True)
    return np.maximum(out, 0.0, out=out)


@functools.lru_cache(maxsize=64)
def _counts(m: int) -> np.ndarray:
    """[1, 2, ..., m] as float64 (cached and read-only)."""
    k = np.arange(1.0, m + 1.0)
    k.flags.writeable = False
    return k
