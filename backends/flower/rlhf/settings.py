"""Settings job of the "rlhf" backend: the LoRA RLHF task spec and the built task.

- Task spec (:class:`RLHFTaskSpec`): policy ``model`` ("tiny": the offline model cached in
  ``~/.cache/firm`` or ``$FIRM_CACHE``; "smollm2"; or a directory saved by ``save_pretrained``),
  reward ``rewards`` (built-in names or reward-model directories), ``num_clients`` prompt pools
  drawn with ``heterogeneity`` and ``seed``, or from ``client_mixes`` (one {prompt mix: share} per
  client; ``backends.rlhf.client_data.client_pools``), per-client preferences ``client_preferences``
  (N rows of M weights; they replace the algorithm's shared p, as in the engine's ``RLHFTask``), the
  LoRA rank ``lora_r`` / ``lora_alpha`` (initialised with ``seed``), the base model's ``device`` ("cpu",
  "cuda", "cuda:N", "auto") and ``dtype`` ("float32", "bfloat16", "float16"), and the local-step fields of
  ``backends.rlhf.trainer.RLHFConfig`` (group_size, max_new_tokens, ...). algorithm, beta,
  preference and lr come from the Flower algorithm config (the train ConfigRecord). Checking a spec
  loads nothing: a model or reward directory is only checked to hold a parseable ``config.json``.
- Task (:class:`RLHFTask`): one policy (frozen base + LoRA) shared by the process's clients under a
  lock, plus tokenizer, rewards, prompt pools and the initial adapter; built once per process and
  spec (:func:`task_from_json`). It plays the numpy problem's part for the strategy.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import numbers
import threading
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from backends.rlhf.device import check_device_spec, check_dtype_name, resolve_device, resolve_dtype
from backends.rlhf.client_data import check_mix, check_preferences, client_pools
from backends.rlhf.policy import LoraSpec, adapter_state, attach_lora, load_base
from backends.rlhf.rewards import resolve_reward
from backends.rlhf.trainer import RLHFConfig

from ..records import specs_of
from .pretrained import BUILTIN_MODELS, BUILTIN_REWARDS, check_pretrained

#: ``problem["name"]`` of the LoRA RLHF task.
TASK_NAME = "rlhf"
#: RLHFConfig fields set from the Flower algorithm config, not from the task spec.
FROM_ALGORITHM = ("algorithm", "beta", "preference", "lr")
#: RLHFConfig fields the task spec may set.
LOCAL_FIELDS = tuple(f.name for f in dataclasses.fields(RLHFConfig) if f.name not in FROM_ALGORITHM)


def _spec_err(name: str, requirement: str, value) -> ValueError:
    return ValueError(f"RLHFTaskSpec: `{name}` {requirement}, got {value!r}")


@dataclass(frozen=True)
class RLHFTaskSpec:
    """The LoRA RLHF task of a Flower run (see the module docstring); ``local`` holds RLHFConfig fields."""

    model: str = "tiny"
    rewards: tuple[str, ...] = ("positive_sentiment", "brevity")
    num_clients: int = 2
    heterogeneity: float = 0.8
    seed: int = 0
    lora_r: int = 8
    lora_alpha: float = 16.0
    device: str = "cpu"
    dtype: str = "float32"
    client_mixes: tuple | None = None
    client_preferences: tuple | None = None
    local: tuple[tuple[str, object], ...] = ()

    def __post_init__(self):
        if not isinstance(self.model, str) or not self.model:
            raise _spec_err("model", "must be a non-empty string", self.model)
        if not self.rewards or not all(isinstance(r, str) and r for r in self.rewards):
            raise _spec_err("rewards", "must be a non-empty list of reward names", self.rewards)
        if len(set(self.rewards)) != len(self.rewards):
            raise _spec_err("rewards", "must be distinct", self.rewards)
        check_pretrained(self.model, "RLHFTaskSpec: `model`", BUILTIN_MODELS)
        for reward in self.rewards:
            check_pretrained(reward, "RLHFTaskSpec: `rewards`", BUILTIN_REWARDS)
        for name in ("num_clients", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < (1 if name == "num_clients" else 0):
                raise _spec_err(name, f"must be an integer >= {1 if name == 'num_clients' else 0}", v)
        h = self.heterogeneity
        if isinstance(h, bool) or not isinstance(h, numbers.Real) or not 0.0 <= h <= 1.0:
            raise _spec_err("heterogeneity", "must be a number in [0, 1]", h)
        LoraSpec(self.lora_r, self.lora_alpha)  # raises naming `r` / `alpha`
        object.__setattr__(self, "device", check_device_spec(self.device))  # raises naming `device`
        check_dtype_name(self.dtype)
        if self.client_mixes is not None:
            if isinstance(self.client_mixes, str | Mapping) or len(self.client_mixes) != self.num_clients:
                raise _spec_err("client_mixes", f"must hold one mix per client (N = {self.num_clients})",
                                self.client_mixes)
            try:
                mixes = tuple(check_mix(m) for m in self.client_mixes)
            except ValueError as exc:
                raise ValueError(f"RLHFTaskSpec: `client_mixes`: {exc}") from None
            object.__setattr__(self, "client_mixes", mixes)
        if self.client_preferences is not None:
            try:
                p = check_preferences(self.client_preferences, self.num_clients, len(self.rewards))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"RLHFTaskSpec: {exc}") from None
            object.__setattr__(self, "client_preferences", tuple(tuple(float(v) for v in row) for row in p))
        self.local_config("firm", 1e-2, 0.0, None)  # validates the local fields (errors name the field)

    @classmethod
    def from_dict(cls, spec: Mapping) -> RLHFTaskSpec:
        """From the ``problem`` mapping: ``name`` must be "rlhf"; ``rewards`` a list or "a,b"; other
        keys are this class's fields or RLHFConfig's :data:`LOCAL_FIELDS` (unknown keys raise)."""
        if not isinstance(spec, Mapping):
            raise TypeError(f"RLHFTaskSpec: `problem` must be a mapping, got {type(spec).__name__}")
        d = dict(spec)
        name = d.pop("name", None)
        if name != TASK_NAME:
            raise _spec_err("name", f"must be {TASK_NAME!r} for backend 'rlhf'", name)
        own = {f.name for f in dataclasses.fields(cls)} - {"local"}
        unknown = sorted(k for k in d if k not in own and k not in LOCAL_FIELDS)
        if unknown:
            raise ValueError(
                f"RLHFTaskSpec: unknown keys {unknown} (task keys {sorted(own)}, local keys {list(LOCAL_FIELDS)})"
            )
        rewards = d.pop("rewards", cls.rewards)
        if isinstance(rewards, str):
            rewards = [r.strip() for r in rewards.split(",") if r.strip()]
        if not isinstance(rewards, list | tuple):
            raise _spec_err("rewards", "must be a list of reward names or 'a,b'", rewards)
        local = tuple(sorted((k, d.pop(k)) for k in list(d) if k in LOCAL_FIELDS))
        return cls(rewards=tuple(rewards), local=local, **d)

    def client_preference(self, client: int, preference):
        """p_i of ``client``: its row of ``client_preferences`` when given, else the shared ``preference``."""
        return preference if self.client_preferences is None else self.client_preferences[client]

    def local_config(self, mode: str, lr: float, beta: float, preference) -> RLHFConfig:
        """RLHFConfig of one client's steps: mode "scalarized" is FedAvg-LS (lambda = p), "firm" the
        min-norm step with the effective beta (0 = Local-MGDA); ``preference`` None = uniform."""
        if mode not in ("firm", "scalarized"):
            raise ValueError(f"RLHFTaskSpec.local_config: `mode` must be 'firm' or 'scalarized', got {mode!r}")
        pref = None if preference is None else tuple(float(v) for v in preference)
        return RLHFConfig(algorithm="fedavg_ls" if mode == "scalarized" else "firm", beta=float(beta), lr=float(lr),
                          preference=pref, **dict(self.local))


@dataclass
class RLHFTask:
    """A built task: one policy (frozen base + LoRA) shared by this process's clients under ``lock``,
    its tokenizer, reward sources, prompt pools and initial adapter. Plays the numpy problem's part
    for the strategy (``name``, ``dim``, ``num_objectives``, ``num_clients``, ``initial_point``,
    ``describe``)."""

    spec: RLHFTaskSpec
    model: object
    tokenizer: object
    rewards: list
    pools: list[list[str]]
    initial_state: dict
    lock: threading.Lock

    name = TASK_NAME

    @functools.cached_property
    def tensor_specs(self):
        """Layout of the adapter on the wire: (name, shape, dtype) per tensor, names sorted."""
        return specs_of({k: v.detach().cpu().numpy() for k, v in self.initial_state.items()})

    @property
    def dim(self) -> int:
        return int(sum(t.numel() for t in self.initial_state.values()))

    @property
    def num_objectives(self) -> int:
        return len(self.rewards)

    @property
    def num_clients(self) -> int:
        return len(self.pools)

    @property
    def client_weights(self) -> np.ndarray:
        """w_i = size of client i's prompt pool (as the engine's ``RLHFTask`` weighs its clients)."""
        return np.array([len(p) for p in self.pools], dtype=np.float64)

    def initial_point(self) -> np.ndarray:
        """The initial adapter flattened (sorted names, float64)."""
        return np.concatenate([v.detach().cpu().numpy().reshape(-1).astype(np.float64)
                               for _, v in sorted(self.initial_state.items())])

    def describe(self) -> dict:
        """The task's identity (a checkpoint is matched against it): every spec field, and every local-step
        field with its default filled in, so a spec that names a default and one that leaves it out agree."""
        spec = dataclasses.asdict(self.spec)
        del spec["device"]  # where it runs is not what it is: a checkpoint resumes on another device
        local = dataclasses.asdict(self.spec.local_config("firm", 1e-2, 0.0, None))
        spec["local"] = {k: v for k, v in local.items() if k in LOCAL_FIELDS}
        return {"name": TASK_NAME, **spec, "dim": self.dim, "num_objectives": self.num_objectives,
                "objectives": [r.name for r in self.rewards]}


def build_task(spec: Mapping) -> RLHFTask:
    """Load the base model, attach LoRA (seeded), resolve the rewards, draw the prompt pools."""
    s = RLHFTaskSpec.from_dict(spec)
    device = resolve_device(s.device)
    base, tok = load_base(s.model, dtype=resolve_dtype(s.dtype, device))
    base.to(device)
    model = attach_lora(base, LoraSpec(s.lora_r, s.lora_alpha), seed=s.seed)
    sources = [resolve_reward(r) for r in s.rewards]
    pools = client_pools(s.num_clients, mixes=s.client_mixes, heterogeneity=s.heterogeneity, seed=s.seed)
    return RLHFTask(s, model, tok, sources, pools, adapter_state(model), threading.Lock())


@functools.lru_cache(maxsize=2)
def task_from_json(spec_json: str) -> RLHFTask:
    """The task for a JSON spec, built once per process (the server and clients of a process share it)."""
    return build_task(json.loads(spec_json))


def check_spec(problem: Mapping) -> None:
    """Validate the task spec without loading anything (the registry's ``spec`` job)."""
    RLHFTaskSpec.from_dict(problem)


def build_problem(problem: Mapping) -> RLHFTask:
    """The built task for ``problem`` (cached per process and spec)."""
    return task_from_json(json.dumps(dict(problem), sort_keys=True))

