"""Argument checks shared by the problems: clean once, fail with a message naming argument and value."""

from __future__ import annotations

import itertools
import math
import numbers

import numpy as np

from .._validate import as_real_array

#: Client weights given by the user must sum to 1 within this (they are then renormalized exactly).
CLIENT_WEIGHT_SUM_TOL = 1e-9


def check_int(x, name: str, where: str, *, minimum: int = 1) -> int:
    if isinstance(x, bool) or not isinstance(x, numbers.Integral) or x < minimum:
        raise ValueError(f"{where}: `{name}` must be an integer >= {minimum}, got {x!r}")
    return int(x)


def check_float(x, name: str, where: str, *, minimum: float = 0.0, strict: bool = False) -> float:
    """A finite real number >= minimum (> minimum when ``strict``)."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or not np.isfinite(x):
        raise ValueError(f"{where}: `{name}` must be a finite real number, got {x!r}")
    if x < minimum or (strict and x == minimum):
        op = ">" if strict else ">="
        raise ValueError(f"{where}: `{name}` must be {op} {minimum}, got {x!r}")
    return float(x)


def check_seed(seed, where: str):
    if seed is None or isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{where}: `seed` must be a non-negative integer, a numpy Generator or None, got {seed!r}")
    return int(seed)


def check_range(r, name: str, where: str) -> tuple[float, float]:
    """A pair (lo, hi) with 0 < lo <= hi < inf."""
    try:
        lo, hi = (float(v) for v in r)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: `{name}` must be a pair (lo, hi), got {r!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo <= hi):
        raise ValueError(f"{where}: `{name}` must satisfy 0 < lo <= hi < inf, got {r!r}")
    return lo, hi


def check_client_weights(w, num_clients: int, where: str) -> np.ndarray:
    """Uniform when None; else a non-negative (N,) vector summing to 1 (renormalized exactly)."""
    if w is None:
        return np.full(num_clients, 1.0 / num_clients)
    arr, _ = as_real_array(w, "client_weights", where)
    if arr.shape != (num_clients,):
        raise ValueError(f"{where}: `client_weights` must have shape ({num_clients},), got shape {arr.shape}")
    if np.any(arr < 0) or abs(arr.sum() - 1.0) > CLIENT_WEIGHT_SUM_TOL:
        raise ValueError(
            f"{where}: `client_weights` must be non-negative and sum to 1, got {arr.tolist()} (sum {arr.sum():.12g})"
        )
    return arr / arr.sum()


def check_simplex_weights(w, m: int, where: str, name: str = "weights") -> np.ndarray:
    """A probability vector of length m (batched over leading axes), entries >= 0 summing to 1."""
    arr, _ = as_real_array(w, name, where, min_ndim=1)
    if arr.shape[-1] != m:
        raise ValueError(f"{where}: `{name}` must have last axis of length M = {m}, got shape {arr.shape}")
    if np.any(arr < 0) or np.any(np.abs(arr.sum(axis=-1) - 1.0) > CLIENT_WEIGHT_SUM_TOL):
        raise ValueError(f"{where}: `{name}` must be probability vectors (>= 0, sum 1), got {arr.tolist()}")
    return arr / arr.sum(axis=-1, keepdims=True)


def check_point(x, dim: int, where: str, name: str = "x") -> np.ndarray:
    """A finite point of shape (d,)."""
    arr, _ = as_real_array(x, name, where)
    if arr.shape != (dim,):
        raise ValueError(f"{where}: `{name}` must have shape ({dim},), got shape {arr.shape}")
    return arr


def check_clients_and_points(clients, x, num_clients: int, dim: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """clients: integer indices (n,) in [0, N); x: (n, d) finite (a (d,) point is broadcast)."""
    c = np.asarray(clients)
    if c.ndim != 1 or not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"{where}: `clients` must be a 1-D integer array, got dtype {c.dtype} shape {c.shape}")
    if c.size and (c.min() < 0 or c.max() >= num_clients):
        raise ValueError(f"{where}: `clients` must lie in [0, {num_clients}), got values {c.tolist()}")
    arr, _ = as_real_array(x, "x", where)
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
