"""Argument checks for the bound functions: thin wrappers over :mod:`firm_core.validation`
(TypeError for a wrong type, ValueError for a wrong value; every error names the argument and the value)."""

from __future__ import annotations

import numpy as np

from .. import validation as v


def real(x, name: str, where: str, *, minimum: float | None = 0.0, strict: bool = False, allow_inf: bool = False) -> float:
    """A real number (finite unless ``allow_inf``) that is >= ``minimum`` (> when ``strict``)."""
    return v.check_real(x, name, where, minimum=minimum, strict=strict, allow_inf=allow_inf)


def integer(x, name: str, where: str, *, minimum: int = 1) -> int:
    """An integer >= ``minimum``."""
    return v.check_int(x, name, where, minimum=minimum)


def preference(p, m: int | None, where: str) -> np.ndarray:
    """A probability vector (length ``m`` when given), as given (float64)."""
    arr = v.check_array(p, "preference", where, ndim=1, nonempty=True)
    return v.check_probability_vectors(arr, arr.size if m is None else m, "preference", where, batched=False,
                                       renormalize=False)


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
    return v.check_array(x, name, where, nonneg=True)
