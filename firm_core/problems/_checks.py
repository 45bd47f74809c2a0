"""Argument checks shared by the problems: thin wrappers over :mod:`firm_core.validation`
(TypeError for a wrong type, ValueError for a wrong value, messages naming argument and value)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .. import validation as v
from ..tolerances import CLIENT_WEIGHT_SUM_TOL  # noqa: F401  (re-exported: the problems' rule for client weights)


def check_int(x, name: str, where: str, *, minimum: int = 1) -> int:
    """An integer >= minimum."""
    return v.check_int(x, name, where, minimum=minimum)


def check_float(x, name: str, where: str, *, minimum: float = 0.0, strict: bool = False) -> float:
    """A finite real number >= minimum (> minimum when ``strict``)."""
    return v.check_real(x, name, where, minimum=minimum, strict=strict)


def check_seed(seed, where: str):
    """None, a numpy Generator or an integer >= 0."""
    return v.check_seed(seed, where)


def check_range(r, name: str, where: str) -> tuple[float, float]:
    """A pair (lo, hi) of real numbers with 0 < lo <= hi < inf."""
    if isinstance(r, str | bytes) or not hasattr(r, "__len__") or len(r) != 2:
        if isinstance(r, str | bytes) or not hasattr(r, "__len__"):
            raise TypeError(f"{where}: `{name}` must be a pair (lo, hi) of real numbers, got {v.short_repr(r)} "
                            f"of type {type(r).__name__}")
        raise ValueError(f"{where}: `{name}` must be a pair (lo, hi), got {v.short_repr(r)}")
    lo, hi = (v.check_real(x, name, where) for x in r)
    if not 0 < lo <= hi:
        raise ValueError(f"{where}: `{name}` must satisfy 0 < lo <= hi < inf, got {v.short_repr(r)}")
    return lo, hi


def check_client_weights(w, num_clients: int, where: str) -> np.ndarray:
    """Uniform when None; else a non-negative (N,) vector summing to 1 within CLIENT_WEIGHT_SUM_TOL
    (renormalized exactly)."""
    if w is None:
        return np.full(num_clients, 1.0 / num_clients)
    return v.check_probability_vectors(w, num_clients, "client_weights", where, batched=False,
                                       tol=CLIENT_WEIGHT_SUM_TOL, length_name="N")


def check_simplex_weights(w, m: int, where: str, name: str = "weights") -> np.ndarray:
    """Probability vectors of length m (batched over leading axes), entries >= 0 summing to 1."""
    return v.check_probability_vectors(w, m, name, where, batched=True, tol=CLIENT_WEIGHT_SUM_TOL)


def check_point(x, dim: int, where: str, name: str = "x") -> np.ndarray:
    """A finite point of shape (d,)."""
    return v.check_array(x, name, where, shape=(dim,))


def check_clients_and_points(clients, x, num_clients: int, dim: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """clients: integer indices (n,) in [0, N); x: (n, d) finite (a (d,) point is broadcast)."""
    c = np.asarray(clients)
    if c.size and not np.issubdtype(c.dtype, np.integer):
        raise TypeError(f"{where}: `clients` must be an array of integer indices, got dtype {c.dtype}: {v.short_repr(c)}")
    if c.ndim != 1:
        raise ValueError(f"{where}: `clients` must be a 1-D array of indices, got shape {c.shape}")
    c = c.astype(np.int64, copy=False)
    if c.size and (c.min() < 0 or c.max() >= num_clients):
        raise ValueError(f"{where}: `clients` must lie in [0, {num_clients}), got {v.short_repr(c)}")
    arr = v.check_array(x, "x", where)
    if arr.shape == (dim,):
        arr = np.broadcast_to(arr, (c.size, dim))
    if arr.shape != (c.size, dim):
        raise ValueError(f"{where}: `x` must have shape ({c.size}, {dim}) for {c.size} clients, got shape {arr.shape}")
    return c, arr


def simplex_lattice(m: int, k: int) -> np.ndarray:
    """All points of the simplex Delta_m whose coordinates are multiples of 1/k: C(k+m-1, m-1) rows
    (stars and bars: bar positions b_1 < ... < b_{m-1} in [0, k+m-2] give counts b_j - b_{j-1} - 1)."""
    if m == 1:
        return np.ones((1, 1))
    bars = np.array(list(itertools.combinations(range(k + m - 1), m - 1)), dtype=np.int64)
    edges = np.concatenate([np.full((len(bars), 1), -1), bars, np.full((len(bars), 1), k + m - 1)], axis=1)
    return (np.diff(edges, axis=1) - 1).astype(np.float64)[::-1] / k


def lattice_with_at_least(m: int, num: int) -> np.ndarray:
    """``num`` weights spread over the simplex: evenly spaced w_1 for M = 2 (ends included); for
    M >= 3 the coarsest simplex lattice with >= num points, thinned evenly to exactly num rows."""
    if m == 1:
        return np.ones((num, 1))
    if m == 2:
        t = np.linspace(0.0, 1.0, num)
        return np.stack([t, 1.0 - t], axis=1)
    k = 1
    while math.comb(k + m - 1, m - 1) < num:
        k += 1
    grid = simplex_lattice(m, k)
    idx = np.round(np.linspace(0, len(grid) - 1, num)).astype(int)
    return grid[idx]
