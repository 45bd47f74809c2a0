"""Named numerical tolerances, in one place.

All solver tolerances are *relative*: the min-norm problem is solved on the normalized Gram matrix
``(Q + beta P) / s`` with ``s = max|Q| + beta`` (see :mod:`firm_core.min_norm`), so a residual of
1e-12 means 1e-12 of the problem's own scale whatever that scale is. Tolerances that depend on the
precision of the input are keyed by dtype. Never loosen one to make a test pass.
"""

from __future__ import annotations

import numpy as np

#: Default stopping tolerance of ``solve_min_norm`` (relative KKT residual, or FW gap for Frank-Wolfe).
DEFAULT_TOL = 1e-12

#: The exact methods must certify a relative KKT residual at most this on every instance (float64).
EXACT_KKT_TOL = 1e-10

#: How far below zero a returned weight may be, and how far its sum from 1 (relative), before the
#: post-check calls the answer infeasible.
SIMPLEX_FEASIBILITY_TOL = 1e-12

#: A float64 Gram matrix counts as symmetric when max|Q - Q^T| <= SYMMETRY_TOL * max|Q|.
SYMMETRY_TOL = 1e-8

#: A float64 Gram matrix counts as PSD when its smallest eigenvalue >= -PSD_TOL * max|Q|.
PSD_TOL = 1e-8

#: A float64 Gram matrix whose smallest eigenvalue is below -PSD_REPAIR_TOL * max|Q| (but within the
#: PSD tolerance) is replaced by its nearest PSD matrix before solving. Above it the indefiniteness
#: is round-off that the exact methods absorb at their certified accuracy, and the matrix is solved
#: as given (symmetrized).
PSD_REPAIR_TOL = EXACT_KKT_TOL

#: The same threshold per input dtype: a float32 Gram matrix carries rounding errors (~6e-8) far above
#: the solver's tolerance, so it is repaired as soon as an eigenvalue is negative beyond 64 float64 ulps.
PSD_REPAIR_RTOL = {np.dtype(np.float64): PSD_REPAIR_TOL, np.dtype(np.float32): 64 * float(np.finfo(np.float64).eps)}

#: The symmetry and PSD tolerances for a Gram matrix given in float32 / float64 (other input is
#: converted to float64 and uses the float64 entry). A float32 Gram matrix is only known to about
#: 6e-8 per entry; 1e-5 leaves room for M ~ 100 such errors adding up in an eigenvalue.
GRAM_RTOL = {np.dtype(np.float64): SYMMETRY_TOL, np.dtype(np.float32): 1e-5}

#: A probability vector given by the user (a preference, client weights, a point of the simplex)
#: must have non-negative entries summing to 1 within this; it is then renormalized exactly.
PREFERENCE_SUM_TOL = 1e-9

#: Client weights given by the user must sum to 1 within this (the same rule as a preference).
CLIENT_WEIGHT_SUM_TOL = PREFERENCE_SUM_TOL

#: Round-off tolerance of results returned in the input dtype (float32 results are rounded from
#: float64 solves), used by tests comparing across dtypes.
DTYPE_RTOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-5}


def dtype_rtol(dtype) -> float:
    """Relative comparison tolerance for results returned in ``dtype``."""
    return DTYPE_RTOL[np.dtype(dtype)]


def psd_repair_tol(dtype) -> float:
    """Eigenvalues below -psd_repair_tol(dtype) max|Q| are set to 0 before solving (see PSD_REPAIR_RTOL)."""
    return PSD_REPAIR_RTOL.get(np.dtype(dtype), PSD_REPAIR_TOL)


def gram_rtol(dtype) -> float:
    """Symmetry / PSD tolerance (relative to max|Q|) for a Gram matrix given in ``dtype``."""
    return GRAM_RTOL.get(np.dtype(dtype), SYMMETRY_TOL)
