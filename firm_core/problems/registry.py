"""Problems by name: ``make_problem("quadratics", num_clients=20)``.

Each entry is a "module:Class" target plus fixed keyword arguments, imported only when asked for,
so the real-data problems (which need the ``[data]`` extra when built) cost nothing until used. Other
packages add theirs with :func:`register_problem`.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from ..validation import short_repr
from .base import Problem

#: name -> (target "module:attribute", fixed keyword arguments)
PROBLEMS: dict[str, tuple[str, dict[str, Any]]] = {
    "quadratics": ("firm_core.problems.quadratics:HeterogeneousQuadratics", {}),
    "vlmop": ("firm_core.problems.toys:VLMOP", {}),
    "fonseca_fleming": ("firm_core.problems.toys:FonsecaFleming", {}),
    "cagrad_toy": ("firm_core.problems.toys:CAGradToy", {}),
    "breast_cancer_logreg": ("firm_core.problems.logistic:DirichletLogisticRegression", {"dataset": "breast_cancer"}),
    "wine_logreg": ("firm_core.problems.logistic:DirichletLogisticRegression", {"dataset": "wine"}),
    "digits_logreg": ("firm_core.problems.logistic:DirichletLogisticRegression", {"dataset": "digits"}),
}


def register_problem(name: str, target: str, **fixed: Any) -> None:
    """Add (or replace) a registry entry: ``target`` is "module:attribute" of a Problem factory."""
    if not isinstance(name, str) or not isinstance(target, str):
        bad, val = ("name", name) if not isinstance(name, str) else ("target", target)
        raise TypeError(f"register_problem: `{bad}` must be a string, got {short_repr(val)} of type {type(val).__name__}")
    if not name:
        raise ValueError(f"register_problem: `name` must be a non-empty string, got {name!r}")
    if target.count(":") != 1:
        raise ValueError(f"register_problem: `target` must look like 'module:attribute', got {target!r}")
    PROBLEMS[name] = (target, dict(fixed))


def _resolve(name: str):
    if name not in PROBLEMS:
        raise ValueError(f"make_problem: unknown problem `name` {name!r}; valid: {sorted(PROBLEMS)}")
    target, fixed = PROBLEMS[name]
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr), fixed


def problem_parameters(name: str) -> dict[str, Any]:
    """The keyword arguments ``make_problem(name, ...)`` accepts, with their defaults."""
    factory, fixed = _resolve(name)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = inspect.signature(factory).parameters.items()
    return {k: p.default for k, p in params if p.kind in kinds and k not in fixed}


def make_problem(name: str, **kwargs: Any) -> Problem:
    """Build the registered problem ``name`` with ``kwargs``; an unknown kwarg is an error naming it."""
    factory, fixed = _resolve(name)
    valid = problem_parameters(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"make_problem({name!r}): unknown argument(s) {unknown}; valid: {sorted(valid)}")
    return factory(**fixed, **kwargs)
