"""Numerical distance from a point to a Pareto set given as the image of the simplex, x(w), w in Delta_M.

    dist(x, P) = min_{w in Delta_M} || x - x(w) ||

M = 2: a grid of PARAM_GRID_M2 values of w_1 in [0, 1], then a bounded scalar refinement (Brent) on the
two grid cells around the best grid point, to |Delta w_1| <= PARAM_XTOL. M >= 3: the simplex lattice
of resolution PARAM_LATTICE_M3, then SLSQP on the simplex from the NUM_STARTS best lattice points
(objective tolerance PARAM_FTOL). The result is an upper bound on the true distance (it is the
distance to an actual point of the set); it is exact up to these tolerances when the grid resolves
the basin of the global minimizer.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize, minimize_scalar

from ._checks import simplex_lattice

#: Grid size on w_1 in [0, 1] for M = 2 before refinement.
PARAM_GRID_M2 = 513
#: Brent's absolute tolerance on w_1 in the refinement (M = 2).
PARAM_XTOL = 1e-12
#: Simplex lattice resolution (coordinates multiples of 1/k) for the starting grid, M >= 3.
PARAM_LATTICE_M3 = 20
#: SLSQP stopping tolerance on the squared distance, M >= 3.
PARAM_FTOL = 1e-14
#: Number of best lattice points SLSQP starts from, M >= 3.
NUM_STARTS = 3


def distance_to_parametric_set(x: np.ndarray, points: Callable[[np.ndarray], np.ndarray], m: int) -> tuple[float, np.ndarray]:
    """Return (distance, minimizing weights w) with ``points(W (n, M)) -> (n, d)`` the set's parametrization."""
    if m == 1:
        w = np.ones(1)
        return float(np.linalg.norm(x - points(w[None])[0])), w
    if m == 2:
        t = np.linspace(0.0, 1.0, PARAM_GRID_M2)
        grid = np.stack([t, 1.0 - t], axis=1)
        d2 = np.sum((points(grid) - x) ** 2, axis=1)
        i = int(np.argmin(d2))
        lo, hi = t[max(i - 1, 0)], t[min(i + 1, len(t) - 1)]

        def f(s: float) -> float:
            return float(np.sum((points(np.array([[s, 1.0 - s]]))[0] - x) ** 2))

        res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": PARAM_XTOL})
        best_t, best = (res.x, res.fun) if res.fun <= d2[i] else (t[i], d2[i])
        return float(np.sqrt(max(best, 0.0))), np.array([best_t, 1.0 - best_t])
    grid = simplex_lattice(m, PARAM_LATTICE_M3)
    d2 = np.sum((points(grid) - x) ** 2, axis=1)
    order = np.argsort(d2)[:NUM_STARTS]
    best_w, best = grid[order[0]], float(d2[order[0]])

    def f(w: np.ndarray) -> float:
        w = np.clip(w, 0.0, None)
        return float(np.sum((points((w / w.sum())[None])[0] - x) ** 2))

    cons = ({"type": "eq", "fun": lambda w: np.sum(w) - 1.0},)
    for j in order:
        res = minimize(f, grid[j], method="SLSQP", bounds=[(0.0, 1.0)] * m, constraints=cons,
                       options={"ftol": PARAM_FTOL, "maxiter": 200})
        w = np.clip(res.x, 0.0, None)
        w = w / w.sum()
        val = f(w)
        if val < best:
            best_w, best = w, val
    return float(np.sqrt(max(best, 0.0))), best_w
