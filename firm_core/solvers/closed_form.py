"""M = 2 closed form."""

from __future__ import annotations

import numpy as np

#: Below this (relative) curvature a - 2b + c the two objectives have the same gradient and every
#: lambda gives the same direction; we return the beta -> 0+ limit, lambda = p.
TIE_CURVATURE = 64 * np.finfo(np.float64).eps


def solve_closed_form(qn: np.ndarray, p: np.ndarray, **_) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lambda_1 = clip((c - b) / (a - 2b + c), 0, 1) on the folded Gram [[a, b], [b, c]].

    On the folded matrix Q' = Q + beta (I - 1p^T)(I - p1^T) this is the regularized formula
    lambda_1 = clip((c - b + 2 beta p_1) / (a - 2b + c + 2 beta), 0, 1) of the unfolded one.
    When the computed curvature is below round-off (a - 2b + c <= TIE_CURVATURE), the quotient is
    meaningless (a - 2b + c cancels; the objective is linear in lambda_1 up to round-off, with slope
    (a - c) / 2): pick the vertex of the smaller diagonal entry, or lambda = p when |a - c| is itself
    within round-off (equal gradients, every lambda gives the same direction).
    """
    a, b, c = qn[:, 0, 0], qn[:, 0, 1], qn[:, 1, 1]
    den = a - 2 * b + c
    tie = den <= TIE_CURVATURE
    weights = np.empty((len(qn), 2))
    l1 = weights[:, 0]
    if tie.any():
        linear = np.where(np.abs(a - c) <= TIE_CURVATURE, p[0], np.where(a < c, 1.0, 0.0))
        l1[:] = np.where(tie, linear, np.clip((c - b) / np.where(tie, 1.0, den), 0.0, 1.0))
    else:  # the common case, in place: clip((c - b) / den, 0, 1)
        np.divide(c - b, den, out=l1)
        np.minimum(np.maximum(l1, 0.0, out=l1), 1.0, out=l1)
    np.subtract(1.0, l1, out=weights[:, 1])
    ones = np.ones(len(qn), dtype=np.int64)
    return weights, ones, np.ones(len(qn), dtype=bool)
