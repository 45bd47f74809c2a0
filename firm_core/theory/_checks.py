"""Argument checks for the bound functions: every error names the argument and the value found."""

from __future__ import annotations

import numbers

import numpy as np

from ..tolerances import PREFERENCE_SUM_TOL


def real(x, name: str, where: str, *, minimum: float | None = 0.0, strict: bool = False, allow_inf: bool = False) -> float:
    """A real number (finite unless ``allow_inf``) that is >= ``minimum`` (> when ``strict``)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real | np.floating | np.integer):
        raise TypeError(f"{where}: `{name}` must be a real number, got {x!r} of type {type(x).__name__}")
    x = float(x)
    if np.isnan(x) or (not allow_inf and not np.isfinite(x)):
        raise ValueError(f"{where}: `{name}` must be a finite real number, got {x!r}")
    if minimum is not None and (x < minimum or (strict and x == minimum)):
        op = ">" if strict else ">="
        raise ValueError(f"{where}: `{name}` must be {op} {minimum:g}, got {x!r}")
    return x


def integer(x, name: str, where: str, *, minimum: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral | np.integer):
        raise TypeError(f"{where}: `{name}` must be an integer, got {x!r} of type {type(x).__name__}")
    if x < minimum:
        raise ValueError(f"{where}: `{name}` must be an integer >= {minimum}, got {x!r}")
    return int(x)


def preference(p, m: int | None, where: str) -> np.ndarray:
    """A probability vector (length ``m`` when given)."""
    try:
        arr = np.asarray(p, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: `preference` must be a real vector, got {p!r}") from None
    if arr.ndim != 1 or arr.size == 0 or (m is not None and arr.size != m):
        want = f"({m},)" if m is not None else "(M,)"
        raise ValueError(f"{where}: `preference` must have shape {want}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or abs(arr.sum() - 1.0) > PREFERENCE_SUM_TOL:
        raise ValueError(f"{where}: `preference` must be a probability vector (entries >= 0, sum 1), got {arr.tolist()}")
    return arr


def safe_ratio(num: float, beta: float) -> float:
    """num / beta with the conventions the bounds need: 0 / 0 = 0 and x / 0 = inf for x > 0."""
    if num == 0.0:
        return 0.0
    return np.inf if beta == 0.0 else num / beta


def safe_ratio_array(num, beta: float) -> np.ndarray:
    """:func:`safe_ratio` elementwise: num / beta with 0 / 0 = 0 and x / 0 = inf for x > 0."""
    num = np.asarray(num, dtype=np.float64)
    if beta > 0:
        return num / beta
    return np.where(num > 0, np.inf, 0.0)


def nonneg_array(x, name: str, where: str) -> np.ndarray:
    """A finite, non-negative float64 array (scalars allowed)."""
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: `{name}` must be a real number or array, got {x!r}") from None
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{where}: `{name}` must be finite and >= 0, got {x!r}")
    return arr
