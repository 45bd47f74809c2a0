"""Per-round metrics, computed from full gradients of the global objective.

    phi(x)    = min_{lambda in simplex} ||J(x)^T lambda||^2        (Pareto stationarity)
    D_lambda  = mean_i ||lambda_i - lambda_bar||^2,  lambda_bar = mean_i lambda_i
    D_x       = mean_i ||y_i - x_{t+1}||^2
"""

from __future__ import annotations

import numpy as np

from ..min_norm import pareto_stationarity
from .task import ClientTask

#: The metrics every evaluation returns; any other scalar an evaluation returns is an extra.
CORE_METRICS = ("phi", "objectives", "dist_pareto")


def evaluate_point(problem, x) -> dict:
    """{"phi": phi(x), "objectives": F(x) (M,), "dist_pareto": distance to the Pareto set or None}, plus
    any extra scalars of a ClientTask's ``evaluate`` (a ClientTask is asked; a numpy problem is computed)."""
    if isinstance(problem, ClientTask):
        out = dict(problem.evaluate(x))
        missing = [k for k in CORE_METRICS if k not in out]
        if missing:
            raise ValueError(f"evaluate_point: the task's evaluate() returned no {missing}")
        out["phi"] = float(out["phi"])
        out["objectives"] = np.asarray(out["objectives"], dtype=np.float64)
        out["dist_pareto"] = None if out["dist_pareto"] is None else float(out["dist_pareto"])
        return out
    return problem_metrics(problem, x)


def extra_metrics(point: dict) -> dict[str, float]:
    """The scalars of an evaluation beyond phi, objectives and dist_pareto (what records keep as extras)."""
    out = {}
    for k, v in point.items():
        if k in CORE_METRICS or np.ndim(v) != 0:
            continue
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError):
            continue
    return out


def problem_metrics(problem, x) -> dict:
    """phi, F and the distance to the Pareto set of a numpy problem at x, from full gradients."""
    x = np.asarray(x, dtype=np.float64)
    jac = np.asarray(problem.jacobian(x), dtype=np.float64)
    values = np.asarray(problem.values(x), dtype=np.float64)
    if np.all(np.isfinite(jac)):
        phi = float(pareto_stationarity(jac))
    else:
        phi = float("nan")
    dist = problem.distance_to_pareto_set(x)
    return {"phi": phi, "objectives": values, "dist_pareto": None if dist is None else float(dist)}


def nan_point(num_objectives: int) -> dict:
    """The metrics of a round that was not evaluated."""
    return {"phi": float("nan"), "objectives": np.full(num_objectives, np.nan), "dist_pareto": None}


def lambda_disagreement(lambdas) -> float:
    """mean_i ||lambda_i - lambda_bar||^2 for lambdas (n, M); NaN when n = 0."""
    lam = np.asarray(lambdas, dtype=np.float64)
    if lam.shape[0] == 0:
        return float("nan")
    dev = lam - lam[0]  # shifting by a member first makes identical rows give exactly 0
    return float(np.mean(np.sum((dev - dev.mean(axis=0)) ** 2, axis=1)))


#: model_drift takes the client points a block of rows at a time, about this many entries per block, so
#: its temporaries stay bounded whatever the number of clients (one row when a row is larger).
DRIFT_BLOCK_ENTRIES = 1 << 20


def model_drift(points, x_new) -> float:
    """mean_i ||y_i - x_{t+1}||^2 for client points (n, d) (float64, or float32 kept as is); NaN when n = 0."""
    y = np.asarray(points)
    if y.dtype != np.float32:
        y = y.astype(np.float64, copy=False)
    if y.shape[0] == 0:
        return float("nan")
    x = np.asarray(x_new)
    rows = max(1, DRIFT_BLOCK_ENTRIES // max(1, y.shape[1]))
    sq = np.concatenate([np.sum((y[i : i + rows] - x) ** 2, axis=1) for i in range(0, y.shape[0], rows)])
    return float(np.mean(sq))
