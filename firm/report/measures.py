"""Pure measures of the report: smoothness of trajectories, spread over seeds, reaching a target.

    excess_variation(s) = sum_t |s_{t+1} - s_t| - |s_T - s_0|      (0 iff s is monotone)
    path_length(L)      = sum_t ||L_{t+1} - L_t||_1               (for lambda trajectories (T, M))
    spread(v)           = (median, 25th percentile, 75th percentile) over seeds
"""

from __future__ import annotations

import math

import numpy as np


def _finite_series(values, name: str) -> np.ndarray:
    s = np.asarray(values, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"{name}: the series must be one-dimensional, got shape {s.shape}")
    return s[np.isfinite(s)]


def excess_variation(values) -> float:
    """Total variation beyond the net change: sum |s_{t+1} - s_t| - |s_T - s_0| over the finite entries.
    0 for a monotone series; twice the total size of the moves against the trend otherwise."""
    s = _finite_series(values, "excess_variation")
    if s.size < 2:
        return 0.0
    return float(np.sum(np.abs(np.diff(s))) - abs(s[-1] - s[0]))


def trajectory_oscillation(objectives) -> float:
    """sum over objectives m of excess_variation(F_m(x_t)) for a trajectory (T, M)."""
    f = np.asarray(objectives, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"trajectory_oscillation: `objectives` must have shape (T, M), got {f.shape}")
    return float(sum(excess_variation(f[:, m]) for m in range(f.shape[1])))


def log_phi_oscillation(phi) -> float:
    """excess_variation of log10 phi (phi <= 0 entries are clipped at 1e-300)."""
    p = np.asarray(phi, dtype=np.float64)
    return excess_variation(np.log10(np.clip(p, 1e-300, None)))


def path_length(lambdas) -> float:
    """sum_t ||lambda_{t+1} - lambda_t||_1 over consecutive rounds whose lambdas are finite; lambdas (T, M)."""
    lam = np.asarray(lambdas, dtype=np.float64)
    if lam.ndim != 2:
        raise ValueError(f"path_length: `lambdas` must have shape (T, M), got {lam.shape}")
    steps = np.abs(np.diff(lam, axis=0)).sum(axis=1)
    steps = steps[np.isfinite(steps)]
    return float(steps.sum()) if steps.size else float("nan")


def spread(values) -> dict:
    """{"median", "q25", "q75", "n"} over the finite values (NaN when none is finite)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"median": float("nan"), "q25": float("nan"), "q75": float("nan"), "n": 0}
    q25, med, q75 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q25": float(q25), "q75": float(q75), "n": int(v.size)}


def first_reach(series, target: float) -> int | None:
    """Index of the first entry <= target (None if never)."""
    s = np.asarray(series, dtype=np.float64)
    hit = np.flatnonzero(np.isfinite(s) & (s <= target))
    return int(hit[0]) if hit.size else None


def tuning_score(phi, tail_fraction: float = 0.25) -> float:
    """Mean of log10 phi over the last ``tail_fraction`` of the rounds (+inf when any is non-finite)."""
    p = np.asarray(phi, dtype=np.float64)
    tail = p[-max(1, int(math.ceil(tail_fraction * p.size))):]
    if tail.size == 0 or not np.all(np.isfinite(tail)):
        return float("inf")
    return float(np.mean(np.log10(np.clip(tail, 1e-300, None))))


def monotone_fraction(x, y, *, decreasing: bool, atol: float) -> float:
    """Fraction of neighbouring pairs (sorted by x) along which y moves in the stated direction
    (a move against it of at most ``atol`` counts as following)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    dy = np.diff(y[order])
    if dy.size == 0:
        return float("nan")
    ok = dy <= atol if decreasing else dy >= -atol
    return float(np.mean(ok))
