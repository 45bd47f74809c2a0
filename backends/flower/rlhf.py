"""The torch / LoRA backend of the Flower app: FIRM's local RLHF update on a LoRA adapter.

Selected with ``FlowerSettings(backend="rlhf", problem={"name": "rlhf", ...})``; the spec travels in
the train ConfigRecord like a numpy problem's. Needs the [torch] extra.

- Task spec (:class:`RLHFTaskSpec`): policy ``model`` ("tiny": the offline model cached in
  ``~/.cache/firm`` or ``$FIRM_CACHE``), reward ``rewards``, ``num_clients`` prompt pools drawn with
  ``heterogeneity`` and ``seed`` (``backends.rlhf.prompts.client_prompt_pools``), the LoRA rank
  ``lora_r`` / ``lora_alpha`` (initialised with ``seed``), and the local-step fields of
  ``backends.rlhf.trainer.RLHFConfig`` (group_size, max_new_tokens, ...). algorithm, beta,
  preference and lr come from the Flower algorithm config (the train ConfigRecord).
- Arrays: the adapter state dict (PEFT ``get_peft_model_state_dict`` names), one Array per tensor in
  its own dtype, names sorted (``records.tensors_to_record``). Flattened in that order it is
  ``backends.rlhf.policy.state_to_vector``, the vector ``firm_core.federated.server.aggregate`` averages.
- Client (:func:`rlhf_train`): the task is built once per process and spec (:func:`task_from_json`);
  its one model is shared by the clients of the process, one at a time (a lock). It loads the
  received adapter, runs K steps of ``backends.rlhf.trainer.local_steps`` on pool[partition-id] with
  ``default_rng([seed, t, partition-id])`` (as ``backends.rlhf.federated.run_federated``), and replies
  with its adapter tensors, ``num-examples`` = pool size, ``lambda-mean`` over the steps that were
  not skipped, ``rewards`` and ``kl`` (means over its steps), ``skipped-steps``.
- Server (:class:`AdapterStrategy`): FirmStrategy with the adapter's layout as the reply expectation
  (names, shapes, dtypes, finiteness checked by ``validation``). It has no full gradients of an LLM,
  so phi / F / distance are NaN (``nan_point``); the round's mean ``rewards`` and ``kl`` over the
  accepted replies are in its train MetricRecord.
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
from firm_core.federated.client import client_rng
from firm_core.federated.metrics import nan_point
from flwr.app import Context, Message, MetricRecord, RecordDict

from backends.rlhf.policy import LoraSpec, adapter_state, attach_lora, load_adapter_state, load_base, vector_to_state
from backends.rlhf.prompts import client_prompt_pools
from backends.rlhf.rewards import resolve_reward
from backends.rlhf.trainer import RLHFConfig, local_steps

from .client_app import ClientUpdateError, _update_state, partition_id, read_train_message
from .records import (
    ARRAYS_KEY,
    CLIENT_ID_KEY,
    LAMBDA_KEY,
    METRICS_KEY,
    STEPS_KEY,
    WEIGHT_KEY,
    specs_of,
    tensors_to_record,
)
from .strategy import FirmStrategy
from .validation import ReplyExpectation, arrays_to_vector

#: ``problem["name"]`` of the LoRA RLHF task.
TASK_NAME = "rlhf"
#: RLHFConfig fields set from the Flower algorithm config, not from the task spec.
FROM_ALGORITHM = ("algorithm", "beta", "preference", "lr")
#: RLHFConfig fields the task spec may set.
LOCAL_FIELDS = tuple(f.name for f in dataclasses.fields(RLHFConfig) if f.name not in FROM_ALGORITHM)
#: MetricRecord keys of the RLHF diagnostics (M floats, a float, an int).
REWARDS_KEY = "rewards"
KL_KEY = "kl"
SKIPPED_KEY = "skipped-steps"


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
    local: tuple[tuple[str, object], ...] = ()

    def __post_init__(self):
        if not isinstance(self.model, str) or not self.model:
            raise _spec_err("model", "must be a non-empty string", self.model)
        if not self.rewards or not all(isinstance(r, str) and r for r in self.rewards):
            raise _spec_err("rewards", "must be a non-empty list of reward names", self.rewards)
        if len(set(self.rewards)) != len(self.rewards):
            raise _spec_err("rewards", "must be distinct", self.rewards)
        for name in ("num_clients", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < (1 if name == "num_clients" else 0):
                raise _spec_err(name, f"must be an integer >= {1 if name == 'num_clients' else 0}", v)
        h = self.heterogeneity
        if isinstance(h, bool) or not isinstance(h, numbers.Real) or not 0.0 <= h <= 1.0:
            raise _spec_err("heterogeneity", "must be a number in [0, 1]", h)
        LoraSpec(self.lora_r, self.lora_alpha)  # raises naming `r` / `alpha`
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
        """w_i = size of client i's prompt pool (as ``run_federated``)."""
        return np.array([len(p) for p in self.pools], dtype=np.float64)

    def initial_point(self) -> np.ndarray:
        """The initial adapter flattened (sorted names, float64)."""
        return arrays_to_vector(tensors_to_record(_to_numpy(self.initial_state)), self.tensor_specs)

    def describe(self) -> dict:
        spec = dataclasses.asdict(self.spec)
        spec["local"] = dict(self.spec.local)
        return {"name": TASK_NAME, **spec, "dim": self.dim, "num_objectives": self.num_objectives,
                "objectives": [r.name for r in self.rewards]}


def _to_numpy(state: dict) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in state.items()}


def build_task(spec: Mapping) -> RLHFTask:
    """Load the base model, attach LoRA (seeded), resolve the rewards, draw the prompt pools."""
    s = RLHFTaskSpec.from_dict(spec)
    base, tok = load_base(s.model)
    model = attach_lora(base, LoraSpec(s.lora_r, s.lora_alpha), seed=s.seed)
    sources = [resolve_reward(r) for r in s.rewards]
    pools = client_prompt_pools(s.num_clients, s.heterogeneity, s.seed)
    return RLHFTask(s, model, tok, sources, pools, adapter_state(model), threading.Lock())


@functools.lru_cache(maxsize=2)
def task_from_json(spec_json: str) -> RLHFTask:
    """The task for a JSON spec, built once per process (the server and clients of a process share it)."""
    return build_task(json.loads(spec_json))


def rlhf_train(message: Message, context: Context) -> Message:
    """Handle one train message of the "rlhf" backend (see the module docstring)."""
    req = read_train_message(message)
    task = task_from_json(req.problem)
    cid = partition_id(context, task.num_clients)
    x = arrays_to_vector(req.arrays, task.tensor_specs)  # the received adapter, checked against the task's
    cfg = task.spec.local_config(req.mode, req.lr, req.beta, req.preference)
    with task.lock:  # one shared model: one client trains at a time in this process
        load_adapter_state(task.model, vector_to_state(x, task.initial_state))
        records = local_steps(task.model, task.tokenizer, task.rewards, task.pools[cid], cfg, req.k,
                              client_rng(req.seed, req.t, cid))
        uploaded = _to_numpy(adapter_state(task.model))
    used = [r.weights for r in records if not r.skipped]
    if not used:
        raise ClientUpdateError(f"client {cid}, round {req.t}: all {req.k} local steps were skipped (non-finite)")
    _update_state(context, req.t, req.k)
    metrics = MetricRecord(
        {
            WEIGHT_KEY: float(len(task.pools[cid])),
            CLIENT_ID_KEY: cid,
            LAMBDA_KEY: [float(v) for v in np.mean(used, axis=0)],
            STEPS_KEY: req.k,
            REWARDS_KEY: [float(v) for v in np.mean([r.rewards for r in records], axis=0)],
            KL_KEY: float(np.mean([r.kl for r in records])),
            SKIPPED_KEY: len(records) - len(used),
        }
    )
    return Message(RecordDict({ARRAYS_KEY: tensors_to_record(uploaded), METRICS_KEY: metrics}), reply_to=message)


class AdapterStrategy(FirmStrategy):
    """FirmStrategy over a LoRA adapter: replies must hold exactly the adapter's tensors (names,
    shapes, dtypes, finite); x_{t+1} = aggregate over the flattened adapters."""

    def reply_expectation(self) -> ReplyExpectation:
        return ReplyExpectation(self.problem.dim, self.problem.num_objectives, self.problem.num_clients,
                                tensors=self.problem.tensor_specs)

    def evaluate_at(self, x: np.ndarray) -> dict:
        """No server-side metrics: phi and F of an LLM policy need full gradients / rollouts (NaN)."""
        return nan_point(self.expect.num_objectives)

    def _solver_status(self, pending) -> str:
        return ""  # the RLHF trainer reports no min-norm solver status

    def _round_metrics(self, pending, x_new) -> MetricRecord:
        out = super()._round_metrics(pending, x_new)
        rewards = [r.metrics[REWARDS_KEY] for r in pending.accepted if REWARDS_KEY in r.metrics]
        kls = [r.metrics[KL_KEY] for r in pending.accepted if KL_KEY in r.metrics]
        if rewards:
            out[REWARDS_KEY] = [float(v) for v in np.mean(rewards, axis=0)]
        if kls:
            out[KL_KEY] = float(np.mean(kls))
        return out
