"""Input checks shared by the public functions: clean once into float64, fail with a named message."""

from __future__ import annotations

import numbers

import numpy as np

from .tolerances import PREFERENCE_SUM_TOL, PSD_TOL, SYMMETRY_TOL


def as_real_array(x, name: str, where: str, *, min_ndim: int = 0) -> tuple[np.ndarray, np.dtype]:
    """Return ``(float64 copy, dtype to return results in)``; TypeError/ValueError name ``name``."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "fiu":  # bool, complex, object, strings are refused
        raise TypeError(f"{where}: `{name}` must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim < min_ndim:
        raise ValueError(f"{where}: `{name}` must have at least {min_ndim} dimensions, got shape {arr.shape}")
    out_dtype = arr.dtype if arr.dtype.kind == "f" and arr.dtype.itemsize in (4, 8) else np.dtype(np.float64)
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{where}: `{name}` has non-finite entries, e.g. {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)}")
    return arr, np.dtype(out_dtype)


def check_gram(q: np.ndarray, where: str) -> np.ndarray:
    """Check a (..., M, M) Gram matrix is square, symmetric and PSD beyond round-off; return it symmetrized."""
    if q.shape[-1] != q.shape[-2]:
        raise ValueError(f"{where}: `gram` must be square in its last two axes, got shape {q.shape}")
    if q.shape[-1] == 0:
        raise ValueError(f"{where}: `gram` must have M >= 1 objectives, got shape {q.shape}")
    scale = np.max(np.abs(q), axis=(-2, -1), keepdims=True)
    asym = np.max(np.abs(q - np.swapaxes(q, -1, -2)), axis=(-2, -1), keepdims=True)
    if np.any(asym > SYMMETRY_TOL * scale):
        worst = float(np.max(asym / np.where(scale > 0, scale, 1.0)))
        raise ValueError(f"{where}: `gram` is not symmetric: max|Q - Q^T| / max|Q| = {worst:.3g} > {SYMMETRY_TOL:g}")
    q = 0.5 * (q + np.swapaxes(q, -1, -2))
    if q.shape[-1] > 1:
        min_eig = np.linalg.eigvalsh(q)[..., 0]
        if np.any(min_eig < -PSD_TOL * scale[..., 0, 0]):
            worst = float(np.min(min_eig))
            raise ValueError(f"{where}: `gram` is not positive semidefinite: smallest eigenvalue {worst:.3g}")
    elif np.any(q < 0):
        raise ValueError(f"{where}: `gram` is not positive semidefinite: a 1x1 entry is {float(np.min(q)):.3g} < 0")
    return q


def check_beta(beta, where: str) -> float:
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real | np.floating | np.integer):
        raise TypeError(f"{where}: `beta` must be a real number, got {beta!r} of type {type(beta).__name__}")
    beta = float(beta)
    if not np.isfinite(beta) or beta < 0:
        raise ValueError(f"{where}: `beta` must be finite and >= 0, got {beta!r}")
    return beta


def check_preference(p, m: int, where: str) -> np.ndarray:
    """Return the preference as a float64 probability vector of length ``m`` (uniform when None)."""
    if p is None:
        return np.full(m, 1.0 / m)
    arr, _ = as_real_array(p, "preference", where)
    if arr.shape != (m,):
        raise ValueError(f"{where}: `preference` must have shape ({m},) to match M = {m}, got shape {arr.shape}")
    if np.any(arr < 0) or abs(arr.sum() - 1.0) > PREFERENCE_SUM_TOL:
        raise ValueError(f"{where}: `preference` must be a probability vector (entries >= 0, sum 1), got {arr.tolist()}")
    return arr


def check_positive_int(x, name: str, where: str, *, allow_none: bool = False):
    if x is None and allow_none:
        return None
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{where}: `{name}` must be a positive integer, got {x!r} of type {type(x).__name__}")
    if x < 1:
        raise ValueError(f"{where}: `{name}` must be a positive integer, got {x!r}")
    return int(x)


def check_positive_float(x, name: str, where: str) -> float:
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{where}: `{name}` must be a real number, got {x!r} of type {type(x).__name__}")
    if not np.isfinite(x) or x <= 0:
        raise ValueError(f"{where}: `{name}` must be a finite number > 0, got {x!r}")
    return float(x)
