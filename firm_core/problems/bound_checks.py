"""Empirical lower estimates of a problem's constants on a ball, and a check that claimed bounds hold.

On the ball B(center, radius), sampled at points x (half uniform in the ball, half on its sphere):

    C_hat    = max_{x, i, m} ||grad f_{i,m}(x)||
    zeta_hat = max_{x, i, m} ||grad f_{i,m}(x) - grad f_m(x)||
    L_hat    = max_{(x, y), i, m} ||grad f_{i,m}(x) - grad f_{i,m}(y)|| / ||x - y||

Each is <= the true constant, so a claimed upper bound below it is certainly wrong.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._checks import check_float, check_int, check_point
from .base import Problem

#: Relative slack for round-off when comparing a claimed bound with an empirical maximum.
BOUND_CHECK_RTOL = 1e-9


class EmpiricalConstants(NamedTuple):
    L: float
    C: float
    zeta: float


class BoundViolation(ValueError):
    """A claimed upper bound is below a value the problem actually attains."""


def sample_ball(rng: np.random.Generator, center: np.ndarray, radius: float, num: int) -> np.ndarray:
    """num points: the first half uniform in the ball, the rest on its sphere."""
    d = center.shape[0]
    u = rng.normal(size=(num, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    r = np.ones(num)
    half = num // 2
    r[:half] = rng.uniform(size=half) ** (1.0 / d)
    return center + radius * r[:, None] * u


def empirical_constants(problem: Problem, radius: float, center=None, num_points: int = 200, seed: int = 0) -> EmpiricalConstants:
    """Lower estimates (L_hat, C_hat, zeta_hat) of the constants on B(center, radius) (module docstring)."""
    radius = check_float(radius, "radius", "empirical_constants", minimum=0.0, strict=True)
    num_points = check_int(num_points, "num_points", "empirical_constants", minimum=2)
    center = np.zeros(problem.dim) if center is None else check_point(center, problem.dim, "empirical_constants", "center")
    rng = np.random.default_rng(seed)
    xs = sample_ball(rng, center, radius, num_points)
    ys = sample_ball(rng, center, radius, num_points)
    n = problem.num_clients
    clients = np.arange(n)
    c_hat = zeta_hat = l_hat = 0.0
    for x, y in zip(xs, ys, strict=True):
        jx = problem.client_jacobians(clients, np.broadcast_to(x, (n, problem.dim)))  # (N, M, d)
        jy = problem.client_jacobians(clients, np.broadcast_to(y, (n, problem.dim)))
        glob = np.einsum("i,imd->md", problem.client_weights, jx)
        c_hat = max(c_hat, float(np.max(np.linalg.norm(jx, axis=-1))))
        zeta_hat = max(zeta_hat, float(np.max(np.linalg.norm(jx - glob[None], axis=-1))))
        l_hat = max(l_hat, float(np.max(np.linalg.norm(jx - jy, axis=-1)) / np.linalg.norm(x - y)))
    return EmpiricalConstants(l_hat, c_hat, zeta_hat)


def verify_upper_bounds(claimed: dict[str, float], empirical: EmpiricalConstants) -> None:
    """Raise BoundViolation naming each claimed constant (keys among L, C, zeta) below its empirical value
    (or NaN: a claim that cannot be compared is not verified)."""
    bad = []
    for key, value in claimed.items():
        if key not in EmpiricalConstants._fields:
            raise ValueError(f"verify_upper_bounds: unknown constant {key!r}; valid: {EmpiricalConstants._fields}")
        seen = getattr(empirical, key)
        if not value >= seen * (1.0 - BOUND_CHECK_RTOL):  # a NaN claim (or NaN attained value) fails too
            bad.append(f"{key} = {value:.6g} < attained {seen:.6g}")
    if bad:
        raise BoundViolation("claimed upper bounds violated: " + "; ".join(bad))
