"""Public testing kit: what the project's own test suite uses, for testing your solvers and problems.

- `samplers`: Jacobians of known rank and known Pareto stationarity (12 families), and
  `one_of_each` to pin every family into a property.
- `asserts`: simplex, KKT certificate, Lemma 0 and Lemma 1, non-conflicting direction, permutation
  and scale invariance, honest solver status; each raises AssertionError with the numbers found.
- `reference`: `solve_reference`, an independent exact solver (support enumeration).
- `finite_differences`: Jacobians against central differences.
- `strategies`: hypothesis strategies (needs the `hypothesis` package: `pip install "firm[testing]"`).
- `check_problem`: the conformance check every `firm_core.problems.Problem` should pass.

Everything but `strategies` needs only numpy; `strategies` imports hypothesis and, without it,
raises an ImportError naming the extra to install.
"""

from __future__ import annotations

from ..problems.check import ProblemCheckError, ProblemCheckReport, check_problem
from . import asserts, finite_differences, reference, samplers
from .reference import solve_reference

__all__ = [
    "ProblemCheckError",
    "ProblemCheckReport",
    "asserts",
    "check_problem",
    "finite_differences",
    "reference",
    "samplers",
    "solve_reference",
    "strategies",
]


def __getattr__(name: str):
    """``firm_core.testing.strategies`` is imported on first use (it needs hypothesis)."""
    if name == "strategies":
        import importlib

        return importlib.import_module(f"{__name__}.strategies")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
