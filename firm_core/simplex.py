"""Euclidean projection onto the probability simplex."""

from __future__ import annotations

import functools

import numpy as np

from .validation import as_real_array


def project_simplex(v) -> np.ndarray:
    """Project ``v`` onto ``{x : x >= 0, sum x = 1}`` along the last axis (batched, exact).

    Sort-based algorithm (Held et al. 1974; Duchi et al. 2008): with ``u`` sorted descending and
    ``rho = max{j : u_j - (sum_{k<=j} u_k - 1) / j > 0}``, the projection is
    ``max(v - theta, 0)`` with ``theta = (sum_{k<=rho} u_k - 1) / rho = max_j (sum_{k<=j} u_k - 1) / j``.
    O(M log M) per vector. Exact at every finite scale: the kernel works on ``v - max(v)``
    (projection commutes with adding a constant to every entry), so entries of 1e16 or 1e308 do not
    swamp the 1 of the constraint.
    """
    where = "project_simplex"
    x, _ = as_real_array(v, "v", where)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"{where}: `v` must have a non-empty last axis, got shape {x.shape}")
    dtype = getattr(v, "dtype", None)
    out_dtype = dtype if dtype is not None and np.issubdtype(dtype, np.floating) else np.float64
    with np.errstate(over="ignore"):  # x - max(x) beyond -1.8e308 is -inf, which projects to 0
        return _project_simplex(x).astype(out_dtype, copy=False)


def _project_simplex(x: np.ndarray) -> np.ndarray:
    """Unchecked float64 kernel of :func:`project_simplex` (finite input).

    Shifts x by its maximum (the largest entry becomes 0, so the cumulative sums hold the 1 of the
    constraint to full precision and cannot overflow: entries more than ~1.8e308 below the maximum
    become -inf and project to 0, as they must), then uses theta = max_j (sum_{k<=j} u_k - 1) / j
    (Condat 2016, eq. 4), which equals the threshold at rho and avoids an index gather.
    """
    x = x - x.max(axis=-1, keepdims=True)
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
