"""The FIRM message protocol on Flower: record keys, the train ConfigRecord, the reply MetricRecord
schema, the node config, and the flat run-config keys. Every other module reads these names from here.

A train exchange (round t, client i)::

    server -> client   RecordDict{"arrays": ArrayRecord (x_t; see ``records``),
                                  "config": ConfigRecord (TrainConfig.to_record())}
    client -> server   RecordDict{"arrays": ArrayRecord (y_i, same layout as x_t),
                                  "metrics": MetricRecord (REPLY_* keys; checked against a MetricSpec each)}

Train ConfigRecord keys (everything a client needs travels here: Flower's ``run_simulation`` leaves
``context.run_config`` empty, so clients never rely on it)::

    "server-round"  Flower's round (1-based)      "round-index"  t (global, 0-based)
    "local-steps"   K     "lr"  eta     "beta"  beta     "preference"  p (M floats)
    "mode"          "firm" | "scalarized"         "method"       min-norm solver
    "seed"          run seed (client generator default_rng([seed, t, i]))
    "backend"       the backend's registered name (``registry``)
    "problem"       JSON of the backend's problem spec

Reply metrics every backend sends: "num-examples" (w_i, which must equal the server's own record),
"partition-id" (i, which must be the partition the node was sent), "lambda-mean" (M floats on the
simplex), "local-steps" (= K). The numpy backend adds "solver-severity" (0, 1 or 2); a backend may
declare more keys with their :class:`MetricSpec`. A reply with an undeclared key is refused.

Node config: "partition-id" (the client id; Flower's simulation sets it, a SuperNode gets it with
``--node-config "partition-id=i num-partitions=N"``).

Run config (``[tool.flwr.app.config]`` of the app, flat dotted keys): the keys of
:data:`RUN_CONFIG_TOP_KEYS`, ``problem.<kwarg>``, ``algorithm.<field>``, ``dp.<field>`` (dashes in
place of underscores), and the backend's own task keys (heads :data:`TASK_KEY_HEADS`, kept whole);
:func:`split_run_config` sorts them into these five sections.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord

# --- RecordDict keys (FedAvg's names, so Flower's DP wrappers and mods work) ------------------------------
ARRAYS_KEY = "arrays"
CONFIG_KEY = "config"
METRICS_KEY = "metrics"
#: Key of the iterate inside the numpy backend's ArrayRecord.
ITERATE_KEY = "x"

# --- node config -------------------------------------------------------------------------------------------
#: node_config key naming the client (Flower's simulation sets it; pass it to each SuperNode).
PARTITION_KEY = "partition-id"

# --- train ConfigRecord keys -------------------------------------------------------------------------------
K_SERVER_ROUND = "server-round"
K_ROUND_INDEX = "round-index"
K_LOCAL_STEPS = "local-steps"
K_LR = "lr"
K_BETA = "beta"
K_PREFERENCE = "preference"
K_MODE = "mode"
K_METHOD = "method"
K_SEED = "seed"
K_PROBLEM = "problem"
K_BACKEND = "backend"
#: Local-update modes: FIRM's min-norm step, or FedAvg-LS on p^T F_i.
MODES = ("firm", "scalarized")

# --- reply MetricRecord keys -------------------------------------------------------------------------------
#: The client's aggregation weight w_i as it reports it (Flower's FedAvg convention).
WEIGHT_KEY = "num-examples"
#: The client's identity (its partition id).
CLIENT_ID_KEY = "partition-id"
#: The client's mean lambda over its local steps (M floats).
LAMBDA_KEY = "lambda-mean"
#: Number of local steps the client ran.
STEPS_KEY = "local-steps"
#: Severity of the worst local min-norm solver status (``firm_core.SolverStatus.severity``: 0 converged,
#: 1 max_iter, 2 numerical).
SOLVER_STATUS_KEY = "solver-severity"
#: Largest solver severity.
MAX_SOLVER_SEVERITY = 2

# --- run config --------------------------------------------------------------------------------------------
#: Top-level run-config keys and the FlowerSettings field each sets.
RUN_CONFIG_TOP_KEYS = {
    "num-server-rounds": "rounds",
    "timeout": "timeout",
    "checkpoint-dir": "checkpoint_dir",
    "resume-from": "resume_from",
    "out-dir": "out_dir",
    "backend": "backend",
}
#: Fields of the ``dp`` section.
DP_FIELDS = ("mode", "noise_multiplier", "clipping_norm")
#: Heads of the keys a backend reads itself (the LoRA RLHF task: ``model.name``, ``model.lora.r``,
#: ``task.rewards``, ``trainer.group-size``, ...); they are kept whole, as flat keys.
TASK_KEY_HEADS = ("model", "task", "trainer")


class ProtocolError(ValueError):
    """A message or config that does not follow this protocol (the reason names the key and value)."""


# === the train ConfigRecord ================================================================================
@dataclass(frozen=True)
class TrainConfig:
    """The hyperparameters of one train message (see the module docstring for the keys)."""

    round_index: int
    local_steps: int
    lr: float
    beta: float
    preference: tuple[float, ...]
    mode: str
    method: str
    seed: int
    problem: str  # JSON of the problem spec
    backend: str

    def to_record(self) -> ConfigRecord:
        """A fresh ConfigRecord holding this config."""
        return ConfigRecord(
            {
                K_SERVER_ROUND: int(self.round_index) + 1,
                K_ROUND_INDEX: int(self.round_index),
                K_LOCAL_STEPS: int(self.local_steps),
                K_LR: float(self.lr),
                K_BETA: float(self.beta),
                K_PREFERENCE: [float(v) for v in self.preference],
                K_MODE: self.mode,
                K_METHOD: self.method,
                K_SEED: int(self.seed),
                K_PROBLEM: self.problem,
                K_BACKEND: self.backend,
            }
        )

    @classmethod
    def from_record(cls, config: ConfigRecord) -> TrainConfig:
        """Read and type-check a train ConfigRecord; a missing or mistyped entry raises (TypeError for a
        wrong type, ProtocolError for a missing key or a wrong value)."""
        integer, real = (numbers.Integral, "an integer"), (numbers.Real, "a number")
        mode = _config_value(config, K_MODE, (str, "a string"))
        if mode not in MODES:
            raise ProtocolError(f"train config {K_MODE!r} must be one of {MODES}, got {mode!r}")
        return cls(
            round_index=int(_config_value(config, K_ROUND_INDEX, integer)),
            local_steps=int(_config_value(config, K_LOCAL_STEPS, integer)),
            lr=float(_config_value(config, K_LR, real)),
            beta=float(_config_value(config, K_BETA, real)),
            preference=tuple(float(v) for v in _config_value(config, K_PREFERENCE, (list, "a list of floats"))),
            mode=mode,
            method=_config_value(config, K_METHOD, (str, "a string")),
            seed=int(_config_value(config, K_SEED, integer)),
            problem=_config_value(config, K_PROBLEM, (str, "a JSON string")),
            backend=_config_value(config, K_BACKEND, (str, "a string")),
        )

    @property
    def problem_spec(self) -> dict:
        """The problem spec decoded from its JSON."""
        try:
            spec = json.loads(self.problem)
        except json.JSONDecodeError as exc:
            raise ProtocolError(f"train config {K_PROBLEM!r} is not valid JSON: {exc}") from None
        if not isinstance(spec, dict):
            raise ProtocolError(f"train config {K_PROBLEM!r} must hold a JSON object, got {self.problem!r}")
        return spec


def _config_value(config: ConfigRecord, key: str, kind):
    types, what = kind
    if key not in config:
        raise ProtocolError(f"train config lacks {key!r} (keys: {sorted(config)})")
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, types):
        raise TypeError(f"train config {key!r} must be {what}, got {value!r}")
    return value


@dataclass(frozen=True)
class TrainRequest:
    """A train message's arrays and its :class:`TrainConfig`."""

    arrays: ArrayRecord
    config: TrainConfig


def read_train_message(message: Message) -> TrainRequest:
    """The arrays and config of a train message (see :meth:`TrainConfig.from_record`)."""
    content = message.content
    config = content.config_records.get(CONFIG_KEY)
    arrays = content.array_records.get(ARRAYS_KEY)
    if config is None or arrays is None:
        raise ProtocolError(f"train message must hold {ARRAYS_KEY!r} and {CONFIG_KEY!r} records, got {list(content)}")
    return TrainRequest(arrays, TrainConfig.from_record(config))


def message_backend(message: Message, default: str) -> str:
    """The ``backend`` a train message asks for (``default`` when it carries no train config)."""
    config = message.content.config_records.get(CONFIG_KEY) if message.has_content() else None
    if config is None:
        return default
    return _config_value(config, K_BACKEND, (str, "a string"))


# === node config ===========================================================================================
def partition_id(node_config: Mapping[str, Any], num_clients: int | None = None) -> int:
    """The client id from ``node_config["partition-id"]`` (``--node-config`` values may be strings),
    checked to be an integer >= 0 and, when ``num_clients`` is given, < N."""
    cid = node_config.get(PARTITION_KEY)
    if isinstance(cid, str) and cid.strip().lstrip("-").isdigit():
        cid = int(cid)
    upper = "" if num_clients is None else f", {num_clients})"
    if (isinstance(cid, bool) or not isinstance(cid, numbers.Integral) or cid < 0
            or (num_clients is not None and cid >= num_clients)):
        where = f"in [0{upper}" if num_clients is not None else ">= 0"
        raise ProtocolError(f"node_config {PARTITION_KEY!r} must be an integer {where}, got {cid!r} "
                            f"(node_config: {dict(node_config)})")
    return int(cid)


# === reply metrics =========================================================================================
@dataclass(frozen=True)
class MetricSpec:
    """Type and range of one reply metric. kind "int": an integer (not a bool); "float": a finite real;
    "floats": a list of ``length`` finite reals. Values must lie in [low, high]."""

    kind: str
    low: float = -math.inf
    high: float = math.inf
    length: int | None = None
    required: bool = True

    def __post_init__(self):
        if self.kind not in ("int", "float", "floats"):
            raise ValueError(f"MetricSpec: `kind` must be 'int', 'float' or 'floats', got {self.kind!r}")
        if self.kind == "floats" and (self.length is None or self.length < 1):
            raise ValueError(f"MetricSpec: kind 'floats' needs a `length` >= 1, got {self.length!r}")
        if not self.low <= self.high:
            raise ValueError(f"MetricSpec: `low` must be <= `high`, got {self.low!r} > {self.high!r}")

    def check(self, key: str, value) -> float | int | list[float]:
        """``value`` when it has this spec's type and range; ProtocolError naming ``key`` otherwise."""
        if self.kind == "floats":
            if not isinstance(value, list) or len(value) != self.length:
                raise ProtocolError(f"{key!r} must be a list of {self.length} finite numbers, got {value!r}")
            return [self._scalar(key, v, numbers.Real, "finite numbers") for v in value]
        types, what = (numbers.Integral, "an integer") if self.kind == "int" else (numbers.Real, "a finite number")
        return self._scalar(key, value, types, what)

    def _scalar(self, key, value, types, what):
        if isinstance(value, bool) or not isinstance(value, types) or not math.isfinite(value):
            raise ProtocolError(f"{key!r} must be {what}{self._range()}, got {value!r}")
        if not self.low <= value <= self.high:
            raise ProtocolError(f"{key!r} must be {what}{self._range()}, got {value!r}")
        return value

    def _range(self) -> str:
        if math.isinf(self.low) and math.isinf(self.high):
            return ""
        return f" in [{self.low:g}, {self.high:g}]"


def reply_metric_specs(num_objectives: int, num_clients: int, local_steps: int | None = None, *,
                       solver_severity: bool = True) -> dict[str, MetricSpec]:
    """The metrics every backend's reply carries (see the module docstring): "local-steps" must equal
    ``local_steps`` (any integer >= 1 when None); ``solver_severity``: the backend reports the min-norm
    solver's status."""
    steps = MetricSpec("int", low=1) if local_steps is None else MetricSpec("int", low=local_steps, high=local_steps)
    specs = {
        WEIGHT_KEY: MetricSpec("float", low=0.0),
        CLIENT_ID_KEY: MetricSpec("int", low=0, high=num_clients - 1),
        LAMBDA_KEY: MetricSpec("floats", length=num_objectives),
        STEPS_KEY: steps,
    }
    if solver_severity:
        specs[SOLVER_STATUS_KEY] = MetricSpec("int", low=0, high=MAX_SOLVER_SEVERITY)
    return specs


def check_reply_metrics(record: MetricRecord, specs: Mapping[str, MetricSpec]) -> dict:
    """The reply's metrics as plain Python values, every key declared in ``specs`` and every value of its
    spec's type and range; ProtocolError naming the first key that is missing, undeclared or wrong."""
    unknown = sorted(set(record) - set(specs))
    if unknown:
        raise ProtocolError(f"MetricRecord holds undeclared keys {unknown} (declared: {sorted(specs)})")
    out = {}
    for key, spec in specs.items():
        if key not in record:
            if spec.required:
                raise ProtocolError(f"MetricRecord lacks {key!r} (keys: {sorted(record)})")
            continue
        value = record[key]
        out[key] = spec.check(key, list(value) if isinstance(value, list) else value)
    return out


def reply_metrics(*, weight: float, client_id: int, lambda_mean, local_steps: int,
                  extra: Mapping[str, Any] | None = None) -> MetricRecord:
    """The reply MetricRecord: the common keys plus a backend's ``extra`` {key: value}."""
    values = {
        WEIGHT_KEY: float(weight),
        CLIENT_ID_KEY: int(client_id),
        LAMBDA_KEY: [float(v) for v in np.asarray(lambda_mean, dtype=np.float64)],
        STEPS_KEY: int(local_steps),
    }
    values.update(extra or {})
    return MetricRecord(values)


# === run config ============================================================================================
@dataclass(frozen=True)
class RunConfigSections:
    """A flat run config sorted into FlowerSettings fields (``top``) and the problem / algorithm / dp
    sections, keys with underscores, plus ``task``: the backend's own flat keys, unchanged."""

    top: dict
    problem: dict
    algorithm: dict
    dp: dict
    task: dict = field(default_factory=dict)


def split_run_config(run_config: Mapping[str, Any], algorithm_fields) -> RunConfigSections:
    """Sort the flat keys of a run config (see the module docstring); an unknown key raises ProtocolError."""
    top, problem, algorithm, dp, task = {}, {}, {}, {}, {}
    for key, value in dict(run_config).items():
        head, _, rest = key.partition(".")
        name = rest.replace("-", "_")
        if key in RUN_CONFIG_TOP_KEYS:
            top[RUN_CONFIG_TOP_KEYS[key]] = value
        elif head == "problem" and rest:
            problem[name] = value
        elif head == "algorithm" and name in algorithm_fields:
            algorithm[name] = value
        elif head == "dp" and name in DP_FIELDS:
            dp[name] = value
        elif head in TASK_KEY_HEADS and rest:
            task[key] = value
        else:
            raise ProtocolError(f"FlowerSettings: unknown run-config key {key!r} (value {value!r})")
    return RunConfigSections(top, problem, algorithm, dp, task)


def join_run_config(sections: RunConfigSections) -> dict:
    """The flat run config of ``sections`` (inverse of :func:`split_run_config`)."""
    field_to_key = {v: k for k, v in RUN_CONFIG_TOP_KEYS.items()}
    flat = {field_to_key[k]: v for k, v in sections.top.items()}
    for head, section in (("algorithm", sections.algorithm), ("dp", sections.dp), ("problem", sections.problem)):
        flat.update({f"{head}.{k.replace('_', '-')}": v for k, v in section.items()})
    flat.update(sections.task)
    return flat


# === the "rlhf" backend's extra reply metrics ==============================================================
#: Mean reward per objective over the client's local steps (M floats).
REWARDS_KEY = "rewards"
#: Mean KL to the reference policy over the client's local steps.
KL_KEY = "kl"
#: Local steps skipped as non-finite (the rest were taken).
SKIPPED_KEY = "skipped-steps"
#: KL to the reference policy of each local step (K floats): the server's KL controller takes their
#: mean over the round's clients, as the engine does (the mean of the clients' means can differ in the
#: last bit, which Adam's normalized steps can amplify).
KL_STEPS_KEY = "kl-steps"


def rlhf_metric_specs(num_objectives: int, local_steps: int | None) -> dict[str, MetricSpec]:
    """Extra reply metrics of the "rlhf" backend: rewards (M finite floats), KL (finite), skipped steps
    (an integer in [0, K - 1]: a client that skipped all K steps fails instead of replying) and, when K
    is known, the KL of each step (K finite floats)."""
    top = math.inf if local_steps is None else local_steps - 1
    specs = {
        REWARDS_KEY: MetricSpec("floats", length=num_objectives),
        KL_KEY: MetricSpec("float"),
        SKIPPED_KEY: MetricSpec("int", low=0, high=top),
    }
    if local_steps is not None:
        specs[KL_STEPS_KEY] = MetricSpec("floats", length=local_steps)
    return specs
