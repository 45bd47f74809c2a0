"""An independent, exact reference solver of the regularized min-norm problem, for tests.

    lambda* = argmin_{lambda in simplex} h(lambda) = 0.5 lambda^T Q lambda + 0.5 beta ||lambda - p||^2

It shares no code with firm_core's solvers: it enumerates every support S (all 2^M - 1 faces of the
simplex), solves the equality-constrained problem on the affine hull of each face through its KKT
system

    [Q_SS + beta I   1] [lambda_S]   [beta p_S]
    [     1^T        0] [  -nu   ] = [   1    ]

with a pseudo-inverse (a least-squares solution, exact when the system is consistent, as it is for a
convex problem bounded on the face's hull), keeps the feasible candidates (lambda_S >= 0) and returns
the one of least value. Why that is exact: take an optimal point whose support S* is minimal; it
minimizes h over the hull of face S* and is the unique minimizer there (otherwise moving along the
minimizers would reach a smaller face at the same value), so face S* yields it as a feasible candidate.
Cost grows like 2^M, so M <= `MAX_M`; it is meant for checking answers, not for speed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

__all__ = ["FEASIBILITY_TOL", "MAX_M", "ReferenceSolution", "solve_reference"]

#: Supports enumerated grow like 2^M: the reference refuses larger M.
MAX_M = 12
#: A candidate is feasible when its smallest weight is >= -FEASIBILITY_TOL and its KKT system's
#: residual is <= FEASIBILITY_TOL (both relative: the problem is normalized by s = max|Q| + beta).
FEASIBILITY_TOL = 1e-10


@dataclass(frozen=True)
class ReferenceSolution:
    """The reference answer: ``weights`` (M,), ``value`` h(weights), ``norm_sq`` = w^T Q w, ``support``."""

    weights: np.ndarray
    value: float
    norm_sq: float
    support: tuple[int, ...]


def _check_inputs(gram, beta, preference):
    q = np.asarray(gram, dtype=np.float64)
    if q.ndim != 2 or q.shape[0] != q.shape[1] or q.shape[0] == 0:
        raise ValueError(f"solve_reference: `gram` must be a square (M, M) matrix, got shape {q.shape}")
    if not np.all(np.isfinite(q)):
        raise ValueError("solve_reference: `gram` must be finite, got non-finite entries")
    m = q.shape[0]
    if m > MAX_M:
        raise ValueError(f"solve_reference: M = {m} > {MAX_M} supports would be too many; use M <= {MAX_M}")
    if not (np.isfinite(beta) and beta >= 0):
        raise ValueError(f"solve_reference: `beta` must be a finite number >= 0, got {beta!r}")
    p = np.full(m, 1.0 / m) if preference is None else np.asarray(preference, dtype=np.float64)
    if p.shape != (m,) or np.any(p < 0) or abs(p.sum() - 1.0) > FEASIBILITY_TOL:
        raise ValueError(f"solve_reference: `preference` must be a probability vector of length {m}, got {p}")
    return 0.5 * (q + q.T), float(beta), p


def _face_candidates(q, beta, p, size):
    """Solutions (k, M) of the KKT systems of every support of ``size`` and whether each is feasible."""
    m = q.shape[0]
    supports = np.array(list(itertools.combinations(range(m), size)))
    k = len(supports)
    kkt = np.zeros((k, size + 1, size + 1))
    kkt[:, :size, :size] = q[supports[:, :, None], supports[:, None, :]] + beta * np.eye(size)
    kkt[:, :size, size] = 1.0
    kkt[:, size, :size] = 1.0
    rhs = np.concatenate([beta * p[supports], np.ones((k, 1))], axis=1)
    sol = np.einsum("kij,kj->ki", np.linalg.pinv(kkt), rhs)
    residual = np.max(np.abs(np.einsum("kij,kj->ki", kkt, sol) - rhs), axis=1)
    lam = np.zeros((k, m))
    np.put_along_axis(lam, supports, sol[:, :size], axis=1)
    feasible = (residual <= FEASIBILITY_TOL) & (sol[:, :size].min(axis=1) >= -FEASIBILITY_TOL)
    return lam, feasible, supports


def solve_reference(gram, beta: float = 0.0, preference=None) -> ReferenceSolution:
    """The exact minimizer of 0.5 l^T Q l + 0.5 beta ||l - p||^2 over the simplex, by support enumeration.

    ``gram``: (M, M) symmetric PSD (symmetrized here); ``preference`` p defaults to uniform. Ties at
    beta = 0 (several optimal lambda) return one of them; the value and the direction J^T lambda are unique.
    """
    q, beta, p = _check_inputs(gram, beta, preference)
    s = float(np.max(np.abs(q))) + beta
    s = s if s > 0 else 1.0
    qn, bn = q / s, beta / s  # scale-free: the same relative tolerances at every scale
    best = None
    for size in range(1, q.shape[0] + 1):
        lam, feasible, supports = _face_candidates(qn, bn, p, size)
        lam = np.maximum(lam[feasible], 0.0)
        if not len(lam):
            continue
        lam /= lam.sum(axis=1, keepdims=True)
        values = 0.5 * np.einsum("ki,ij,kj->k", lam, qn, lam) + 0.5 * bn * np.sum((lam - p) ** 2, axis=1)
        i = int(np.argmin(values))
        if best is None or values[i] < best[0]:
            best = (values[i], lam[i], tuple(int(j) for j in supports[feasible][i]))
    _, weights, support = best  # every vertex's KKT system is consistent and feasible: best is set
    norm_sq = max(float(weights @ q @ weights), 0.0)
    value = 0.5 * norm_sq + 0.5 * beta * float(np.sum((weights - p) ** 2))
    return ReferenceSolution(weights=weights, value=value, norm_sq=norm_sq, support=support)
