"""firm_core: backend-agnostic core of the FIRM toolkit (numpy + scipy only).

Public contract (stable names; see docs/)::

    import firm_core as fc
    res = fc.solve_min_norm(jacobian, beta=0.1)      # or gram=...
    fc.pareto_stationarity(jacobian)
    fc.project_simplex(v)
"""

from .min_norm import EXACT_METHODS, METHODS, folding_matrix, pareto_stationarity, solve_min_norm
from .result import MinNormResult, SolverStatus
from .simplex import project_simplex

from ._version import __version__

# Subpackages, importable as attributes (fc.federated.run, fc.problems.make_problem, ...).
from . import federated, pareto, problems, theory  # noqa: E402

__all__ = [
    "EXACT_METHODS",
    "METHODS",
    "MinNormResult",
    "SolverStatus",
    "federated",
    "folding_matrix",
    "pareto",
    "pareto_stationarity",
    "problems",
    "project_simplex",
    "solve_min_norm",
    "theory",
]
