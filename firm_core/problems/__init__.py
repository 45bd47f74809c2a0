"""Federated multi-objective test problems (pure numpy) with analytic Pareto sets where known."""

from .base import Problem
from .quadratics import HeterogeneousQuadratics, SmoothnessConstants

__all__ = ["HeterogeneousQuadratics", "Problem", "SmoothnessConstants"]
