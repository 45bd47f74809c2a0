"""Input checks shared by the public functions: clean once into float64, fail with a named message."""

from __future__ import annotations

import functools
import numbers

import numpy as np

from .tolerances import PREFERENCE_SUM_TOL, PSD_TOL, SYMMETRY_TOL


def as_real_array(
    x, name: str, where: str, *, min_ndim: int = 0, copy: bool = True, check_finite: bool = True
) -> tuple[np.ndarray, np.dtype]:
    """Return ``(float64 array, dtype to return results in)``; TypeError/ValueError name ``name``.

    The array is a fresh copy unless ``copy=False`` (then float64 input is returned as is, for callers
    that only read it). ``check_finite=False`` leaves the finiteness check to the caller
    (:func:`check_finite`), e.g. one that can infer it from a cheaper derived quantity.
    """
    arr = x if type(x) is np.ndarray else np.asarray(x)
    kind = arr.dtype.kind
    if kind not in "fiu":  # bool, complex, object, strings are refused
        raise TypeError(f"{where}: `{name}` must be a real numeric array, got dtype {arr.dtype}")
    if arr.ndim < min_ndim:
        raise ValueError(f"{where}: `{name}` must have at least {min_ndim} dimensions, got shape {arr.shape}")
    out_dtype = arr.dtype if kind == "f" and arr.dtype.itemsize in (4, 8) else _FLOAT64
    arr = arr.astype(np.float64, copy=copy)
    if check_finite:
        check_finite_array(arr, name, where)
    return arr, out_dtype


_FLOAT64 = np.dtype(np.float64)


def check_finite_array(arr: np.ndarray, name: str, where: str) -> None:
    """ValueError naming ``name``, the first non-finite value and its index, unless all entries are finite."""
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{where}: `{name}` has non-finite entries, e.g. {arr[tuple(bad)]} at index {tuple(int(i) for i in bad)}")


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
    if type(beta) is float and 0.0 <= beta < np.inf:  # fast path for the common case; NaN fails it
        return beta
    if isinstance(beta, bool) or not isinstance(beta, numbers.Real | np.floating | np.integer):
        raise TypeError(f"{where}: `beta` must be a real number, got {beta!r} of type {type(beta).__name__}")
    beta = float(beta)
    if not np.isfinite(beta) or beta < 0:
        raise ValueError(f"{where}: `beta` must be finite and >= 0, got {beta!r}")
    return beta


def check_preference(p, m: int, where: str) -> np.ndarray:
    """Return the preference as a float64 probability vector of length ``m`` (uniform when None)."""
    if p is None:
        return uniform_preference(m)
    arr, _ = as_real_array(p, "preference", where)
    if arr.shape != (m,):
        raise ValueError(f"{where}: `preference` must have shape ({m},) to match M = {m}, got shape {arr.shape}")
    if np.any(arr < 0) or abs(arr.sum() - 1.0) > PREFERENCE_SUM_TOL:
        raise ValueError(f"{where}: `preference` must be a probability vector (entries >= 0, sum 1), got {arr.tolist()}")
    return arr


@functools.lru_cache(maxsize=64)
def uniform_preference(m: int) -> np.ndarray:
    """The uniform probability vector 1/M (cached and read-only: shared by every call)."""
    p = np.full(m, 1.0 / m)
    p.flags.writeable = False
    return p


def check_positive_int(x, name: str, where: str, *, allow_none: bool = False):
    if x is None and allow_none:
        return None
    if isinstance(x, bool) or not isinstance(x, numbers.Integral):
        raise TypeError(f"{where}: `{name}` must be a positive integer, got {x!r} of type {type(x).__name__}")
    if x < 1:
        raise ValueError(f"{where}: `{name}` must be a positive integer, got {x!r}")
    return int(x)


def check_positive_float(x, name: str, where: str) -> float:
    if type(x) is float and 0.0 < x < np.inf:  # fast path for the common case; NaN fails it
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{where}: `{name}` must be a real number, got {x!r} of type {type(x).__name__}")
    if not np.isfinite(x) or x <= 0:
        raise ValueError(f"{where}: `{name}` must be a finite number > 0, got {x!r}")
    return float(x)
