"""Federated multi-objective test problems (pure numpy) with analytic Pareto sets where known."""

from .base import Problem

__all__ = ["Problem"]
