"""Federated multi-objective test problems (pure numpy) with analytic Pareto sets where known.

    make_problem("quadratics", num_clients=20, num_objectives=3)   # by name (see PROBLEMS)
"""

from .base import Problem
from .bound_checks import BoundViolation, EmpiricalConstants, empirical_constants, verify_upper_bounds
from .quadratics import HeterogeneousQuadratics, SmoothnessConstants
from .registry import PROBLEMS, make_problem, problem_parameters, register_problem
from .toys import CAGradToy, FonsecaFleming, TiltedToy, VLMOP

__all__ = [
    "PROBLEMS",
    "BoundViolation",
    "CAGradToy",
    "EmpiricalConstants",
    "FonsecaFleming",
    "HeterogeneousQuadratics",
    "Problem",
    "SmoothnessConstants",
    "TiltedToy",
    "VLMOP",
    "empirical_constants",
    "make_problem",
    "problem_parameters",
    "register_problem",
    "verify_upper_bounds",
]
