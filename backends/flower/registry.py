"""Where the local update of a Flower run comes from: a small registry of backends.

A backend is named by three modules, one per job, imported only when that job is needed (so the
settings of a torch backend can be checked without building its strategy, and a numpy run never
imports torch):

- ``spec``: ``check_spec(problem: dict) -> None`` (cheap validation: no model loads; errors name
  the key) and ``build_problem(problem: dict)`` (the problem / task object; the strategy reads its
  ``dim``, ``num_objectives``, ``num_clients``, ``client_weights``, ``initial_point()`` and
  ``describe()``); optionally ``problem_from_run_config(flat)`` / ``problem_to_run_config(problem)``
  when the backend's app declares its task as its own flat keys (heads ``protocol.TASK_KEY_HEADS``);
- ``client``: ``train(message, context) -> Message``, the ClientApp's train handler;
- ``strategy``: ``make_strategy(settings, problem)`` returning a ``FirmStrategy``.

``allows_dp`` says whether Flower's differential-privacy wrappers may wrap the backend's strategy.
Built-in backends: "numpy" (firm_core problems) and "rlhf" (LoRA RLHF with torch). A plug-in adds
its own with :func:`register_backend` before the settings are built (in every process that runs a
ServerApp or ClientApp).

This module imports nothing of the Flower layer, so every other module can depend on it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class BackendEntry:
    """Module paths of one backend's three jobs (see the module docstring)."""

    name: str
    spec: str
    client: str
    strategy: str
    allows_dp: bool = False


_BACKENDS: dict[str, BackendEntry] = {}


def register_backend(name: str, *, spec: str, client: str, strategy: str, allows_dp: bool = False) -> BackendEntry:
    """Register (or replace) the backend ``name``; returns its entry."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"register_backend: `name` must be an identifier, got {name!r}")
    for what, path in (("spec", spec), ("client", client), ("strategy", strategy)):
        if not isinstance(path, str) or not all(part.isidentifier() for part in path.split(".")):
            raise ValueError(f"register_backend: `{what}` must be a dotted module path, got {path!r}")
    entry = BackendEntry(name, spec, client, strategy, bool(allows_dp))
    _BACKENDS[name] = entry
    return entry


def backend_names() -> tuple[str, ...]:
    """Names of the registered backends, in registration order."""
    return tuple(_BACKENDS)


def backend_entry(name: str) -> BackendEntry:
    """The entry of backend ``name``; ValueError naming the registered ones otherwise."""
    entry = _BACKENDS.get(name) if isinstance(name, str) else None
    if entry is None:
        raise ValueError(f"`backend` must be one of {backend_names()}, got {name!r}")
    return entry


def load_job(name: str, job: str) -> ModuleType:
    """The module of backend ``name`` doing ``job`` ("spec", "client" or "strategy"), imported now."""
    if job not in ("spec", "client", "strategy"):
        raise ValueError(f"load_job: `job` must be 'spec', 'client' or 'strategy', got {job!r}")
    return importlib.import_module(getattr(backend_entry(name), job))


register_backend("numpy", spec="backends.flower.problems", client="backends.flower.numpy_client",
                 strategy="backends.flower.strategy", allows_dp=True)
register_backend("rlhf", spec="backends.flower.rlhf.spec", client="backends.flower.rlhf.client",
                 strategy="backends.flower.rlhf.strategy")
