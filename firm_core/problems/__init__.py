"""Federated multi-objective test problems (pure numpy) with analytic Pareto sets where known."""

from .base import Problem
from .quadratics import HeterogeneousQuadratics, SmoothnessConstants
from .toys import CAGradToy, FonsecaFleming, TiltedToy, VLMOP

__all__ = ["CAGradToy", "FonsecaFleming", "HeterogeneousQuadratics", "Problem", "SmoothnessConstants", "TiltedToy", "VLMOP"]
