"""Kernels for the plain min-norm problem ``min_{l in simplex} 0.5 l^T Q l`` on a batch.

Every kernel takes the *normalized, regularization-folded* Gram matrices ``Qn`` of shape (B, M, M)
(see :mod:`firm_core.solvers.problem`), and returns ``(weights (B, M), iterations (B,),
converged (B,))``. They are pure functions. Checks, rescaling and folding live in
:mod:`firm_core.solvers.problem`, the post-check in :mod:`firm_core.solvers.certify`, the short route
for one small problem in :mod:`firm_core.solvers.single`, and :mod:`firm_core.min_norm` puts them together.
"""

from .active_set import solve_active_set
from .closed_form import solve_closed_form
from .cvxpy_ref import solve_cvxpy
from .enumeration import ENUMERATION_MAX_M, solve_enumeration
from .frank_wolfe import solve_frank_wolfe
from .projected_gradient import solve_projected_gradient

__all__ = [
    "ENUMERATION_MAX_M",
    "solve_active_set",
    "solve_closed_form",
    "solve_cvxpy",
    "solve_enumeration",
    "solve_frank_wolfe",
    "solve_projected_gradient",
]
