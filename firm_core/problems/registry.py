"""Problems by name: ``make_problem("quadratics", num_clients=20)``, or your own by factory.

Each entry is a "module:Class" target plus fixed keyword arguments, imported only when asked for,
so the real-data problems (which need the ``[data]`` extra when built) cost nothing until used. Other
packages add theirs with `register_problem`.

Your own problem needs no registration: `problem_from_factory` builds it from a factory
spec, ``"package.module:callable"`` (importable) or ``"path/to/file.py:callable"`` (any file), where
the callable takes keyword arguments and returns a `Problem`.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..user_code import run_python_file
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


# --- your own problem: "module:callable" or "path/to/file.py:callable" ---------------------------------

def _is_file_target(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _split_factory(spec) -> tuple[str, str]:
    if not isinstance(spec, str):
        raise TypeError(f"problem factory must be a string 'module:callable' or 'path/to/file.py:callable', "
                        f"got {type(spec).__name__} {spec!r}")
    target, _, attr = spec.rpartition(":")
    if not target or not attr or not all(part.isidentifier() for part in attr.split(".")):
        raise ValueError(f"problem factory {spec!r} must look like 'module:callable' or 'path/to/file.py:callable'")
    return target, attr


def resolve_factory_path(spec: str, base_dir=None) -> str:
    """``spec`` with a relative file path made absolute (against ``base_dir``, default the working
    directory); module specs are returned unchanged."""
    target, attr = _split_factory(spec)
    if not _is_file_target(target):
        return spec
    path = Path(target).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path if base_dir is None else Path(base_dir) / path
    return f"{path.resolve()}:{attr}"


def _load_module(spec: str, target: str):
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise ValueError(f"problem factory {spec!r}: module {target!r} cannot be imported ({exc}); install it or "
                         f"add its folder to PYTHONPATH, or give a file: 'path/to/file.py:callable'") from exc


def load_factory(spec: str, base_dir=None) -> Callable[..., Problem]:
    """The callable named by ``spec`` ("module:callable" or "path/to/file.py:callable"; a relative path is
    taken from ``base_dir``, default the working directory). Errors name the factory and what is wrong."""
    target, attr = _split_factory(resolve_factory_path(spec, base_dir))
    if _is_file_target(target):
        module = run_python_file(target, prefix="_firm_user_problem", what=f"problem factory {spec!r}")
    else:
        module = _load_module(spec, target)
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in dir(module) if not n.startswith("_") and callable(getattr(module, n)))
            raise ValueError(f"problem factory {spec!r}: {target!r} has no attribute {attr!r}; callables there: {public}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"problem factory {spec!r}: {attr!r} is a {type(obj).__name__}, not a callable")
    return obj


def factory_parameters(spec: str, base_dir=None) -> dict[str, Any] | None:
    """The keyword arguments the factory accepts, with defaults (``inspect.Parameter.empty`` when
    required); None when it takes ``**kwargs`` (any name is accepted)."""
    return _parameters_of(load_factory(spec, base_dir))


def _parameters_of(factory) -> dict[str, Any] | None:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: accept anything
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name: p.default for p in params if p.kind in kinds}


def problem_from_factory(spec: str, /, **kwargs: Any) -> Problem:
    """Build your own problem: ``spec`` names a callable returning a Problem, called with ``kwargs``
    (a relative file path is taken from the working directory; see `resolve_factory_path`).

        problem_from_factory("my_problems.py:make_toy", num_clients=10)
    """
    factory = load_factory(spec)
    valid = _parameters_of(factory)
    if valid is not None:
        unknown = sorted(set(kwargs) - set(valid))
        missing = sorted(k for k, v in valid.items() if v is inspect.Parameter.empty and k not in kwargs)
        if unknown or missing:
            what = f"unknown argument(s) {unknown}" if unknown else f"missing required argument(s) {missing}"
            raise ValueError(f"problem factory {spec!r}: {what}; it takes {sorted(valid)}")
    try:
        problem = factory(**kwargs)
    except Exception as exc:
        raise ValueError(f"problem factory {spec!r} raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(problem, Problem):
        raise TypeError(f"problem factory {spec!r} returned {type(problem).__name__}, not a firm_core.problems.Problem "
                        "(subclass Problem and implement initial_point, client_values, client_jacobians)")
    return problem
