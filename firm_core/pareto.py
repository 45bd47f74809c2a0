"""Pareto-front metrics. Convention: every objective is **minimized**.

- ``non_dominated(points)``: mask of points that no other point dominates (q dominates p iff
  q <= p in every objective and q < p in at least one; equal points do not dominate each other).
- ``hypervolume(points, reference)``: the Lebesgue measure of the region dominated by the points
  and bounded by the reference point, {y : p <= y <= r for some p in points}. Points that do not
  strictly beat the reference in every objective contribute nothing. Exact: a sorted sweep for
  M = 2 (O(n log n)); for M >= 3 slicing along the last objective (each slab is an exact
  (M-1)-dimensional hypervolume; O(n^2 log n) for M = 3, exponential in M beyond).
- ``reference_point(front, margin)``: a hypervolume reference just beyond the front's worst values,
  r = max + margin (max - min) per objective (a common convention; report it with any hypervolume).
- ``igd(points, front)``: inverted generational distance, the mean over the front's points of the
  Euclidean distance to the nearest of ``points`` (0 iff every front point is among the points).
"""

from __future__ import annotations

import numpy as np

from .validation import as_real_array, check_nonneg_float

#: Rows per block when comparing all pairs (bounds memory at block * n * M floats).
_PAIR_BLOCK = 512


def _points(points, name: str, where: str, m: int | None = None, allow_empty: bool = True) -> np.ndarray:
    arr, _ = as_real_array(points, name, where)
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ValueError(f"{where}: `{name}` must have shape (n, M) with M >= 1, got shape {arr.shape}")
    if m is not None and arr.shape[1] != m:
        raise ValueError(f"{where}: `{name}` must have M = {m} columns, got shape {arr.shape}")
    if not allow_empty and arr.shape[0] == 0:
        raise ValueError(f"{where}: `{name}` must hold at least one point, got shape {arr.shape}")
    return arr


def non_dominated(points) -> np.ndarray:
    """Boolean mask (n,): True where no other point dominates the row (minimization)."""
    p = _points(points, "points", "non_dominated")
    n = p.shape[0]
    if p.shape[1] == 2:
        return _non_dominated_2d(p)
    mask = np.ones(n, dtype=bool)
    for start in range(0, n, _PAIR_BLOCK):
        blk = p[start : start + _PAIR_BLOCK]  # candidates being tested
        le = np.all(p[None, :, :] <= blk[:, None, :], axis=-1)  # (b, n): q <= p
        lt = np.any(p[None, :, :] < blk[:, None, :], axis=-1)
        mask[start : start + _PAIR_BLOCK] = ~np.any(le & lt, axis=1)
    return mask


def _non_dominated_2d(p: np.ndarray) -> np.ndarray:
    """O(n log n) for M = 2: sorted by (f1, f2), a point is dominated iff a point with smaller f1 has
    f2 <= its f2, or a point with the same f1 has a smaller f2 (exact duplicates do not count)."""
    n = p.shape[0]
    if n == 0:
        return np.ones(0, dtype=bool)
    order = np.lexsort((p[:, 1], p[:, 0]))
    f1, f2 = p[order, 0], p[order, 1]
    new_group = np.concatenate([[True], f1[1:] != f1[:-1]])
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))
    running_min = np.minimum.accumulate(f2)
    before = np.where(group_start > 0, running_min[np.maximum(group_start - 1, 0)], np.inf)
    dominated = (before <= f2) | (f2[group_start] < f2)
    mask = np.empty(n, dtype=bool)
    mask[order] = ~dominated
    return mask


def _hv2(p: np.ndarray, r: np.ndarray) -> float:
    """Exact 2-D hypervolume of points already strictly below r."""
    if p.shape[0] == 0:
        return 0.0
    order = np.lexsort((p[:, 1], p[:, 0]))  # by f1, ties by f2
    f1, f2 = p[order, 0], p[order, 1]
    prev = np.concatenate([[r[1]], np.minimum.accumulate(f2)[:-1]])
    return float(np.sum((r[0] - f1) * np.maximum(prev - f2, 0.0)))


def _hv(p: np.ndarray, r: np.ndarray) -> float:
    """Exact hypervolume by slicing along the last objective (points strictly below r)."""
    m = p.shape[1]
    if p.shape[0] == 0:
        return 0.0
    if m == 1:
        return float(r[0] - p[:, 0].min())
    if m == 2:
        return _hv2(p, r)
    p = p[non_dominated(p)]
    p = p[np.argsort(p[:, -1], kind="stable")]
    z = np.concatenate([p[:, -1], [r[-1]]])
    total = 0.0
    for k in range(p.shape[0]):
        depth = z[k + 1] - z[k]
        if depth > 0:
            total += depth * _hv(p[: k + 1, :-1], r[:-1])
    return total


def hypervolume(points, reference) -> float:
    """Exact dominated hypervolume of ``points`` (n, M) w.r.t. ``reference`` (M,), minimization."""
    ref, _ = as_real_array(reference, "reference", "hypervolume")
    if ref.ndim != 1 or ref.size == 0:
        raise ValueError(f"hypervolume: `reference` must have shape (M,), got shape {ref.shape}")
    p = _points(points, "points", "hypervolume", m=ref.size)
    p = p[np.all(p < ref, axis=1)]
    return _hv(p, ref)


def igd(points, front) -> float:
    """Inverted generational distance: mean_{f in front} min_{p in points} ||f - p||."""
    q = _points(front, "front", "igd", allow_empty=False)
    p = _points(points, "points", "igd", m=q.shape[1], allow_empty=False)
    dmin = np.empty(q.shape[0])
    for start in range(0, q.shape[0], _PAIR_BLOCK):
        blk = q[start : start + _PAIR_BLOCK]
        dmin[start : start + _PAIR_BLOCK] = np.min(np.linalg.norm(blk[:, None, :] - p[None], axis=-1), axis=1)
    return float(dmin.mean())


def reference_point(front, margin: float = 0.1) -> np.ndarray:
    """Hypervolume reference r_k = max_k + margin (max_k - min_k) (+ margin where the range is 0)."""
    q = _points(front, "front", "reference_point", allow_empty=False)
    margin = check_nonneg_float(margin, "margin", "reference_point")
    lo, hi = q.min(axis=0), q.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return hi + margin * span
