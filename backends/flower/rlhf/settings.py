"""Settings job of the "rlhf" backend: the LoRA RLHF task spec and the built task.

- Task spec: ``backends.rlhf.build.LLMTaskConfig``, the very class ``firm rlhf`` builds its task from
  (model, rewards, prompts file and its split, clients, preferences, LoRA, device / dtype, the KL
  controller, the local-step fields). The ``problem`` mapping of the Flower settings is
  {"name": "rlhf", <LLMTaskConfig fields>} (:func:`task_config`); ``rewards`` may also be "a,b".
  algorithm, beta, preference, lr and K come from the Flower algorithm config (the train ConfigRecord).
  Checking a spec loads no model: model / reward-model directories are checked to hold a parseable
  ``config.json``, reward callables are imported and the prompts file is read and split.
- Task (:class:`RLHFTask`): the engine's task of that spec (``build.build_task``: one policy, frozen
  base + LoRA, the rewards, the prompt pools) shared by the process's clients under a lock; built once
  per process and spec (:func:`task_from_json`). It plays the numpy problem's part for the strategy.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from backends.rlhf.build import LLMTaskConfig, build_task, check_inputs
from backends.rlhf.trainer import RLHFConfig

from ..records import specs_of
from .pretrained import BUILTIN_MODELS, check_pretrained

#: ``problem["name"]`` of the LoRA RLHF task.
TASK_NAME = "rlhf"
#: The task spec of the Flower "rlhf" backend is the engine's task config (one class, one list of fields).
RLHFTaskSpec = LLMTaskConfig
#: Train-config key of the KL coefficient the server's controller sets for the round.
KL_COEF_KEY = "kl-coef"


def task_config(problem: Mapping) -> LLMTaskConfig:
    """The LLMTaskConfig of a ``problem`` mapping: ``name`` must be "rlhf", ``rewards`` a list or "a,b",
    the other keys LLMTaskConfig fields (unknown keys raise ValueError naming them)."""
    if not isinstance(problem, Mapping):
        raise TypeError(f"LLMTaskConfig: `problem` must be a mapping, got {type(problem).__name__}")
    d = dict(problem)
    name = d.pop("name", None)
    if name != TASK_NAME:
        raise ValueError(f"LLMTaskConfig: `name` must be {TASK_NAME!r} for backend 'rlhf', got {name!r}")
    if isinstance(d.get("rewards"), str):
        d["rewards"] = [r.strip() for r in d["rewards"].split(",") if r.strip()]
    return LLMTaskConfig.from_dict(d)


def problem_of(cfg: LLMTaskConfig) -> dict:
    """The ``problem`` mapping (JSON values) of a task config: every field, and ``name``."""
    return {"name": TASK_NAME, **cfg.to_dict()}


@dataclass
class RLHFTask:
    """A built task: ``engine`` is ``build.build_task(config)`` (its one policy is shared by this
    process's clients under ``lock``). Plays the numpy problem's part for the strategy (``name``,
    ``dim``, ``num_objectives``, ``num_clients``, ``client_weights``, ``initial_point``, ``describe``)."""

    config: LLMTaskConfig
    engine: object  # backends.rlhf.task.RLHFTask
    lock: threading.Lock

    name = TASK_NAME

    @property
    def model(self):
        return self.engine.model

    @property
    def tokenizer(self):
        return self.engine.tokenizer

    @property
    def rewards(self) -> list:
        return self.engine.rewards

    @property
    def pools(self) -> list[list[str]]:
        return self.engine.pools

    @functools.cached_property
    def initial_state(self) -> dict:
        """The initial adapter tensors (copies, own dtype and device)."""
        return self.engine.point_state(self.engine.initial_point())

    @functools.cached_property
    def tensor_specs(self):
        """Layout of the adapter on the wire: (name, shape, dtype) per tensor, names sorted."""
        return specs_of({k: v.detach().cpu().numpy() for k, v in self.initial_state.items()})

    @property
    def dim(self) -> int:
        return int(self.engine.dim)

    @property
    def num_objectives(self) -> int:
        return int(self.engine.num_objectives)

    @property
    def num_clients(self) -> int:
        return int(self.engine.num_clients)

    @property
    def client_weights(self) -> np.ndarray:
        """w_i = size of client i's prompt pool (what a client reports as ``num-examples``; the engine
        weighs its clients by the same sizes, normalized)."""
        return np.array([len(p) for p in self.pools], dtype=np.float64)

    def initial_point(self) -> np.ndarray:
        """The initial adapter flattened (sorted names, float64)."""
        return self.engine.initial_point()

    def client_preference(self, client: int, preference) -> tuple[float, ...]:
        """p_i of ``client``: its row of ``client_preferences`` when given, else the shared ``preference``."""
        rows = self.config.client_preferences
        return tuple(float(v) for v in (preference if rows is None else rows[client]))

    def local_config(self, mode: str, lr: float, beta: float, preference, kl_coef: float | None = None) -> RLHFConfig:
        """RLHFConfig of one client's steps, as the engine's task makes it: mode "scalarized" is FedAvg-LS
        (lambda = p, beta 0), "firm" the min-norm step with ``beta`` (0 = Local-MGDA); ``kl_coef`` None =
        the task's starting coefficient."""
        if mode not in ("firm", "scalarized"):
            raise ValueError(f"RLHFTask.local_config: `mode` must be 'firm' or 'scalarized', got {mode!r}")
        kl = self.engine.local.kl_coef if kl_coef is None else float(kl_coef)
        return dataclasses.replace(self.config.local_config(), algorithm="fedavg_ls" if mode == "scalarized" else "firm",
                                   beta=0.0 if mode == "scalarized" else float(beta), lr=float(lr),
                                   preference=tuple(float(v) for v in preference), kl_coef=kl)

    def describe(self) -> dict:
        """The task's identity (a checkpoint is matched against it): the engine task's description
        (every task field but the device, so a checkpoint resumes on another device)."""
        return self.engine.describe()


@functools.lru_cache(maxsize=2)
def task_from_json(spec_json: str) -> RLHFTask:
    """The task for a JSON spec, built once per process (the server and clients of a process share it)."""
    cfg = task_config(json.loads(spec_json))
    return RLHFTask(cfg, build_task(cfg), threading.Lock())


def check_spec(problem: Mapping) -> None:
    """Validate the task spec without loading a model (the registry's ``spec`` job)."""
    cfg = task_config(problem)
    check_pretrained(cfg.model, "LLMTaskConfig: `model`", BUILTIN_MODELS)
    check_inputs(cfg)


def build_problem(problem: Mapping) -> RLHFTask:
    """The built task for ``problem`` (cached per process and spec)."""
    return task_from_json(json.dumps(dict(problem), sort_keys=True))
