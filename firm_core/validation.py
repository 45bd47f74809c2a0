"""Argument checks for the whole library: one policy, one place.

Policy: a value of the wrong *type* raises ``TypeError``; a value of the right type but a wrong
*value* (out of range, non-finite, wrong shape, not representable in float64) raises ``ValueError``.
Every message starts with the function that was called (``where``), names the argument in back
quotes and shows the value found, shortened to about :data:`REPR_LIMIT` characters::

    solve_min_norm: `beta` must be finite and >= 0, got -1.0

Every check takes ``(value, name, where)`` and returns the cleaned value (a Python int / float or a
float64 array), so a caller writes ``lr = check_positive_float(lr, "lr", "run")``. Tolerances are
named constants in :mod:`firm_core.tolerances`.

Array-likes that carry an autograd graph (anything with a ``.detach()`` method) are detached and
moved to host memory before conversion, so tensors from a deep-learning framework are accepted
without this module knowing the framework.
"""

from __future__ import annotations

import functools
import numbers
import reprlib

import numpy as np

from .tolerances import PREFERENCE_SUM_TOL, gram_rtol, psd_repair_tol

#: Values shown in error messages are shortened to about this many characters.
REPR_LIMIT = 100

_FLOAT64 = np.dtype(np.float64)


def short_repr(x, limit: int = REPR_LIMIT) -> str:
    """``repr(x)`` shortened to at most ``limit`` characters (middle elided with '...');
    arrays are shown by their entries, as a list."""
    if isinstance(x, np.ndarray) and x.ndim > 0:
        text = repr(x.tolist()) if x.size <= 64 else np.array2string(x, threshold=20, edgeitems=3, separator=", ")
    else:
        text = reprlib.repr(x) if isinstance(x, list | tuple | dict | set) else repr(x)
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    keep = (limit - 3) // 2
    return f"{text[:keep]}...{text[len(text) - keep:]}"


def _got(x) -> str:
    return f"got {short_repr(x)} of type {type(x).__name__}"


# ------------------------------------------------------------------------------------------ scalars


def check_int(x, name: str, where: str, *, minimum: int | None = None, allow_none: bool = False):
    """An integer (Python or numpy, not bool) >= ``minimum``; None passes through when ``allow_none``."""
    if x is None and allow_none:
        return None
    if isinstance(x, bool) or not isinstance(x, numbers.Integral | np.integer):
        raise TypeError(f"{where}: `{name}` must be an integer, {_got(x)}")
    if minimum is not None and x < minimum:
        raise ValueError(f"{where}: `{name}` must be an integer >= {minimum}, got {short_repr(x)}")
    return int(x)


def check_positive_int(x, name: str, where: str, *, allow_none: bool = False):
    """An integer >= 1 (None passes through when ``allow_none``)."""
    return check_int(x, name, where, minimum=1, allow_none=allow_none)


def check_real(x, name: str, where: str, *, minimum: float | None = None, strict: bool = False,
               allow_inf: bool = False) -> float:
    """A real number (not bool), representable in float64, not NaN, finite unless ``allow_inf``,
    and >= ``minimum`` (> when ``strict``). Returns a Python float."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real | np.floating | np.integer):
        raise TypeError(f"{where}: `{name}` must be a real number, {_got(x)}")
    try:
        v = float(x)
    except OverflowError:  # e.g. an int with more than 308 digits
        raise ValueError(f"{where}: `{name}` cannot be represented as a float64, got {short_repr(x)}") from None
    if v != v or (not allow_inf and v in (np.inf, -np.inf)):
        raise ValueError(f"{where}: `{name}` must be a finite real number, got {short_repr(x)}")
    if minimum is not None and (v < minimum or (strict and v == minimum)):
        op = ">" if strict else ">="
        raise ValueError(f"{where}: `{name}` must be {op} {minimum}, got {short_repr(x)}")
    return v


def check_positive_float(x, name: str, where: str) -> float:
    """A finite real number > 0."""
    if type(x) is float and 0.0 < x < np.inf:  # fast path for the common case; NaN fails it
        return x
    return check_real(x, name, where, minimum=0.0, strict=True)


def check_nonneg_float(x, name: str, where: str) -> float:
    """A finite real number >= 0."""
    if type(x) is float and 0.0 <= x < np.inf:  # fast path for the common case; NaN fails it
        return x
    return check_real(x, name, where, minimum=0.0)


def check_beta(beta, where: str) -> float:
    """The regularization weight: a finite real number >= 0."""
    return check_nonneg_float(beta, "beta", where)


def check_choice(x, name: str, where: str, choices) -> str:
    """One of the strings ``choices``."""
    if not isinstance(x, str):
        raise TypeError(f"{where}: `{name}` must be a string, one of {tuple(choices)}, {_got(x)}")
    if x not in choices:
        raise ValueError(f"{where}: `{name}` must be one of {tuple(choices)}, got {short_repr(x)}")
    return x


def check_seed(seed, where: str, name: str = "seed"):
    """None, a numpy Generator (passed through) or an integer >= 0."""
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral | np.integer):
        raise TypeError(f"{where}: `{name}` must be an integer >= 0, a numpy Generator or None, {_got(seed)}")
    return check_int(seed, name, where, minimum=0)


# ------------------------------------------------------------------------------------------- arrays


def _to_numpy(x):
    """``x`` as a numpy array without copying when possible; objects with ``.detach()`` (tensors
    that carry a gradient graph) are detached and moved to host memory first."""
    if type(x) is np.ndarray:
        return x
    if hasattr(x, "detach") and callable(x.detach):
        x = x.detach()
        if hasattr(x, "cpu") and callable(x.cpu):
            x = x.cpu()
    return np.asarray(x)


def _object_to_float64(arr: np.ndarray, name: str, where: str) -> np.ndarray:
    """An object array of real numbers (e.g. Python ints too large for int64) as float64."""
    flat = arr.ravel()
    if not all(isinstance(v, numbers.Real | np.number) and not isinstance(v, bool | np.bool_) for v in flat):
        raise TypeError(f"{where}: `{name}` must be a real numeric array, got dtype {arr.dtype}: {short_repr(arr)}")
    try:
        return arr.astype(np.float64)
    except OverflowError:
        raise ValueError(f"{where}: `{name}` has entries that cannot be represented as float64: "
                         f"{short_repr(arr)}") from None


def as_real_array(
    x, name: str, where: str, *, min_ndim: int = 0, copy: bool = True, check_finite: bool = True
) -> tuple[np.ndarray, np.dtype]:
    """Return ``(float64 array, dtype to return results in)``; TypeError/ValueError name ``name``.

    The array is a fresh copy unless ``copy=False`` (then float64 input is returned as is, for callers
    that only read it). ``check_finite=False`` leaves the finiteness check to the caller
    (:func:`check_finite_array`), e.g. one that can infer it from a cheaper derived quantity.
    Results are returned in float32 / float64 input's own dtype, else in float64.
    """
    try:
        arr = _to_numpy(x)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{where}: `{name}` must be a real numeric array, {_got(x)} ({exc})") from None
    kind = arr.dtype.kind
    if kind == "O" and arr.size:
        arr, kind = _object_to_float64(arr, name, where), "f"
        out_dtype = _FLOAT64
    elif kind not in "fiu":  # bool, complex, object, strings are refused
        raise TypeError(f"{where}: `{name}` must be a real numeric array, got dtype {arr.dtype}")
    else:
        out_dtype = arr.dtype if kind == "f" and arr.dtype.itemsize in (4, 8) else _FLOAT64
    if arr.ndim < min_ndim:
        raise ValueError(f"{where}: `{name}` must have at least {min_ndim} dimensions, got shape {arr.shape}")
    wide = kind == "f" and arr.dtype.itemsize > 8  # longdouble: finite values may not fit float64
    src = arr
    arr = arr.astype(np.float64, copy=copy)
    if wide and not np.array_equal(np.isfinite(src), np.isfinite(arr)):
        raise ValueError(f"{where}: `{name}` has entries that cannot be represented as float64: {short_repr(src)}")
    if check_finite:
        check_finite_array(arr, name, where)
    return arr, out_dtype


def check_finite_array(arr: np.ndarray, name: str, where: str) -> None:
    """ValueError naming ``name``, the first non-finite value and its index, unless all entries are finite."""
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{where}: `{name}` has non-finite entries, e.g. {arr[tuple(bad)]} at index "
                         f"{tuple(int(i) for i in bad)}")


def check_array(x, name: str, where: str, *, shape: tuple | None = None, ndim: int | None = None,
                min_ndim: int = 0, finite: bool = True, nonneg: bool = False, nonempty: bool = False) -> np.ndarray:
    """A real array as float64 (a fresh copy). ``shape`` may hold None for any length; ``nonneg``
    requires entries >= 0, ``nonempty`` at least one entry."""
    arr, _ = as_real_array(x, name, where, min_ndim=min_ndim, check_finite=finite)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{where}: `{name}` must have {ndim} dimension(s), got shape {arr.shape}")
    if shape is not None and (arr.ndim != len(shape) or any(w is not None and w != n for w, n in zip(shape, arr.shape))):
        want = "(" + ", ".join("n" if w is None else str(w) for w in shape) + ("," if len(shape) == 1 else "") + ")"
        raise ValueError(f"{where}: `{name}` must have shape {want}, got shape {arr.shape}")
    if nonempty and arr.size == 0:
        raise ValueError(f"{where}: `{name}` must not be empty, got shape {arr.shape}")
    if nonneg and np.any(arr < 0):
        raise ValueError(f"{where}: `{name}` must have entries >= 0, got {short_repr(arr)}")
    return arr


def check_probability_vectors(w, m: int, name: str, where: str, *, batched: bool = True,
                              tol: float = PREFERENCE_SUM_TOL, renormalize: bool = True,
                              length_name: str = "M") -> np.ndarray:
    """Probability vectors of length ``m`` along the last axis (a single (m,) vector unless
    ``batched``): entries >= 0 summing to 1 within ``tol``; returned renormalized exactly unless
    ``renormalize=False`` (then as given, in float64). ``length_name`` names m in messages."""
    arr, _ = as_real_array(w, name, where, min_ndim=1)
    if (arr.shape[-1] != m) if batched else (arr.shape != (m,)):
        want = (f"a last axis of length {length_name} = {m}" if batched
                else f"shape ({m},) to match {length_name} = {m}")
        raise ValueError(f"{where}: `{name}` must have {want}, got shape {arr.shape}")
    if np.any(arr < 0) or np.any(np.abs(arr.sum(axis=-1) - 1.0) > tol):
        raise ValueError(f"{where}: `{name}` must be a probability vector (entries >= 0, sum 1 within {tol:g}), "
                         f"got {short_repr(arr)}")
    return arr / arr.sum(axis=-1, keepdims=True) if renormalize else arr


def check_preference(p, m: int, where: str, name: str = "preference") -> np.ndarray:
    """The preference: a float64 probability vector of length ``m`` (uniform when None) within
    PREFERENCE_SUM_TOL of the simplex, returned as given (the solvers use it exactly as passed)."""
    if p is None:
        return uniform_preference(m)
    return check_probability_vectors(p, m, name, where, batched=False, renormalize=False)


@functools.lru_cache(maxsize=64)
def uniform_preference(m: int) -> np.ndarray:
    """The uniform probability vector 1/M (cached and read-only: shared by every call)."""
    p = np.full(m, 1.0 / m)
    p.flags.writeable = False
    return p


def check_gram(q: np.ndarray, where: str, dtype=_FLOAT64) -> np.ndarray:
    """Check a (..., M, M) Gram matrix is square, symmetric and PSD up to the rounding of ``dtype``
    (the dtype it was given in; tolerance :func:`firm_core.tolerances.gram_rtol`); return it
    symmetrized, and where its smallest eigenvalue is below -psd_repair_tol(dtype) max|Q| (yet within
    the tolerance) replaced by the nearest PSD matrix (negative eigenvalues set to 0), so that the
    solvers' certificates refer to a convex problem within the input's rounding.

    The tests are relative to max|Q| per problem and run on Q / 2^k (k from max|Q|), so they
    neither overflow nor underflow at any finite scale.
    """
    if q.shape[-1] != q.shape[-2]:
        raise ValueError(f"{where}: `gram` must be square in its last two axes, got shape {q.shape}")
    if q.shape[-1] == 0:
        raise ValueError(f"{where}: `gram` must have M >= 1 objectives, got shape {q.shape}")
    rtol = gram_rtol(dtype)
    scale = np.max(np.abs(q), axis=(-2, -1), keepdims=True)
    qs = np.ldexp(q, -np.frexp(scale)[1])  # exact power-of-two rescaling: max|qs| in [0.5, 1)
    asym = np.max(np.abs(qs - np.swapaxes(qs, -1, -2)), axis=(-2, -1))
    if np.any(asym > rtol):
        raise ValueError(f"{where}: `gram` is not symmetric: max|Q - Q^T| / max|Q| = {float(np.max(asym)):.3g} "
                         f"> {rtol:g} (tolerance for {np.dtype(dtype)} input)")
    qs = 0.5 * (qs + np.swapaxes(qs, -1, -2))
    min_eig = np.linalg.eigvalsh(qs)[..., 0] if q.shape[-1] > 1 else qs[..., 0, 0]
    if np.any(min_eig < -rtol):
        k = np.unravel_index(np.argmin(min_eig), min_eig.shape)
        worst = float(np.ldexp(min_eig[k], np.frexp(scale)[1][k][0, 0]))
        raise ValueError(f"{where}: `gram` is not positive semidefinite: smallest eigenvalue {worst:.3g} "
                         f"(relative {float(min_eig[k]):.3g} < -{rtol:g} for {np.dtype(dtype)} input)")
    q = 0.5 * q + 0.5 * np.swapaxes(q, -1, -2)  # (halving first: no overflow next to 1.8e308)
    repair = min_eig < -psd_repair_tol(dtype)
    if np.any(repair):  # negative beyond round-off, within the input's rounding: nearest PSD matrix
        w, v = np.linalg.eigh(qs[repair])
        fixed = (v * np.maximum(w, 0.0)[..., None, :]) @ np.swapaxes(v, -1, -2)
        q[repair] = np.ldexp(0.5 * (fixed + np.swapaxes(fixed, -1, -2)), np.frexp(scale[repair])[1])
    return q
