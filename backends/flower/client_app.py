"""The FIRM ClientApp: one client's K local steps, exactly as the in-memory engine runs them.

On a train message the client reads x_t and the hyperparameters from the message (see
``settings``), takes its identity from ``context.node_config["partition-id"]``, draws from
``default_rng([seed, t, partition-id])`` (the engine's ``client_rng``) and calls
``firm_core.federated.client.local_update`` with n = 1. It replies with y_i and its diagnostics
(``records``). A client whose local update fails (non-finite oracle output, wrong shapes, a stale
round) raises, which Flower turns into an error reply that the server records and drops. The train
config's ``backend`` picks the update (:func:`train_by_backend`): "numpy" runs the above, "rlhf" the
LoRA RLHF steps of ``backends.flower.rlhf``.

Per-client state lives in ``context.state["firm-client"]`` (a ConfigRecord): rounds trained, the
last round index (a message for an older or the same round is refused), local steps run so far.
"""

from __future__ import annotations

import functools
import json
import numbers
from dataclasses import dataclass

import numpy as np
from firm_core.federated.client import client_rng, local_update
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.clientapp.mod import fixedclipping_mod
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM

from . import settings as S
from .records import (
    ARRAYS_KEY,
    CLIENT_ID_KEY,
    CONFIG_KEY,
    LAMBDA_KEY,
    METRICS_KEY,
    SOLVER_STATUS_KEY,
    STEPS_KEY,
    WEIGHT_KEY,
    iterate_to_record,
    record_to_iterate,
)

#: context.state key of the client's own bookkeeping.
STATE_KEY = "firm-client"
#: node_config key naming the client (Flower's simulation sets it; pass it to each SuperNode).
PARTITION_KEY = "partition-id"


class ClientUpdateError(RuntimeError):
    """The local update could not produce a valid y_i (the reason is in the message)."""


@functools.lru_cache(maxsize=8)
def problem_from_json(spec_json: str):
    """The problem for a JSON spec, built once per process (clients of one run share it)."""
    return S.build_problem(json.loads(spec_json))


def _config_value(config: ConfigRecord, key: str, kinds, what: str):
    if key not in config:
        raise ValueError(f"train config lacks {key!r} (keys: {sorted(config)})")
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise TypeError(f"train config {key!r} must be {what}, got {value!r}")
    return value


def partition_id(context: Context, num_clients: int) -> int:
    """The client's id from ``node_config["partition-id"]``, checked to be in [0, N)."""
    cid = context.node_config.get(PARTITION_KEY)
    if isinstance(cid, str) and cid.strip().lstrip("-").isdigit():  # --node-config values may be strings
        cid = int(cid)
    if isinstance(cid, bool) or not isinstance(cid, numbers.Integral) or not 0 <= cid < num_clients:
        raise ValueError(
            f"node_config {PARTITION_KEY!r} must be an integer in [0, {num_clients}), got {cid!r} "
            f"(node_config: {dict(context.node_config)})"
        )
    return int(cid)


def _update_state(context: Context, round_index: int, local_steps: int) -> ConfigRecord:
    """Check the round is new for this client and record it in ``context.state``."""
    state = context.state.config_records.get(STATE_KEY)
    if state is None:
        state = ConfigRecord({"rounds-trained": 0, "last-round-index": -1, "local-steps-total": 0})
    last = int(state["last-round-index"])
    if round_index <= last:
        raise ClientUpdateError(f"round index {round_index} is not newer than the last one trained ({last})")
    new = ConfigRecord(
        {
            "rounds-trained": int(state["rounds-trained"]) + 1,
            "last-round-index": int(round_index),
            "local-steps-total": int(state["local-steps-total"]) + int(local_steps),
        }
    )
    context.state[STATE_KEY] = new
    return new


@dataclass(frozen=True)
class TrainRequest:
    """A train message's arrays and hyperparameters, read and type-checked (see ``settings``)."""

    arrays: ArrayRecord
    problem: str
    t: int
    k: int
    lr: float
    beta: float
    preference: np.ndarray
    mode: str
    method: str
    seed: int


def read_train_message(message: Message) -> TrainRequest:
    """The :class:`TrainRequest` of a train message; a missing or mistyped entry raises."""
    content = message.content
    config = content.config_records.get(CONFIG_KEY)
    arrays = content.array_records.get(ARRAYS_KEY)
    if config is None or arrays is None:
        raise ValueError(f"train message must hold {ARRAYS_KEY!r} and {CONFIG_KEY!r} records, got {list(content)}")
    return TrainRequest(
        arrays=arrays,
        problem=_config_value(config, S.K_PROBLEM, str, "a JSON string"),
        t=int(_config_value(config, S.K_ROUND_INDEX, numbers.Integral, "an integer")),
        k=int(_config_value(config, S.K_LOCAL_STEPS, numbers.Integral, "an integer")),
        lr=float(_config_value(config, S.K_LR, numbers.Real, "a number")),
        beta=float(_config_value(config, S.K_BETA, numbers.Real, "a number")),
        preference=np.asarray(_config_value(config, S.K_PREFERENCE, list, "a list of floats"), dtype=np.float64),
        mode=_config_value(config, S.K_MODE, str, "a string"),
        method=_config_value(config, S.K_METHOD, str, "a string"),
        seed=int(_config_value(config, S.K_SEED, numbers.Integral, "an integer")),
    )


def firm_train(message: Message, context: Context) -> Message:
    """Handle one train message of the numpy backend (see the module docstring)."""
    req = read_train_message(message)
    problem = problem_from_json(req.problem)
    cid = partition_id(context, problem.num_clients)
    x = record_to_iterate(req.arrays)
    if x.shape != (problem.dim,):
        raise ValueError(f"received x of shape {x.shape}, the problem has d = {problem.dim}")

    result = local_update(
        problem, [cid], x, [client_rng(req.seed, req.t, cid)], local_steps=req.k, lr=req.lr, beta=req.beta,
        preference=req.preference, mode=req.mode, method=req.method,
    )
    if not result.valid[0]:
        raise ClientUpdateError(f"client {cid}, round {req.t}: {result.reasons[0]}")
    _update_state(context, req.t, req.k)
    metrics = MetricRecord(
        {
            WEIGHT_KEY: float(problem.client_weights[cid]),
            CLIENT_ID_KEY: cid,
            LAMBDA_KEY: [float(v) for v in result.mean_lambdas[0]],
            STEPS_KEY: req.k,
            SOLVER_STATUS_KEY: int(result.status.severity),
        }
    )
    reply = RecordDict({ARRAYS_KEY: iterate_to_record(result.y[0]), METRICS_KEY: metrics})
    return Message(reply, reply_to=message)


def train_by_backend(message: Message, context: Context) -> Message:
    """Run the train message's ``backend``: :func:`firm_train` ("numpy") or the LoRA RLHF update
    (``rlhf.rlhf_train``; torch is imported only then)."""
    config = message.content.config_records.get(CONFIG_KEY) if message.has_content() else None
    backend = "numpy" if config is None else _config_value(config, S.K_BACKEND, str, "a string")
    if backend == "numpy":
        return firm_train(message, context)
    if backend == "rlhf":
        from .rlhf import rlhf_train

        return rlhf_train(message, context)
    raise ValueError(f"train config {S.K_BACKEND!r} must be one of {S.BACKENDS}, got {backend!r}")


def report_partition(message: Message, context: Context) -> Message:
    """Answer the server's discovery query with this node's partition id (``partition-id``)."""
    cid = context.node_config.get(PARTITION_KEY)
    if isinstance(cid, str) and cid.strip().isdigit():
        cid = int(cid)
    if isinstance(cid, bool) or not isinstance(cid, numbers.Integral):
        raise ValueError(f"node_config {PARTITION_KEY!r} must be an integer, got {cid!r}")
    return Message(RecordDict({METRICS_KEY: MetricRecord({CLIENT_ID_KEY: int(cid)})}), reply_to=message)


def optional_fixedclipping_mod(message: Message, context: Context, call_next):
    """Flower's ``fixedclipping_mod`` when the server asked for client-side clipping (the train
    config carries ``clipping_norm``); a plain pass-through otherwise."""
    config = message.content.config_records.get(CONFIG_KEY) if message.has_content() else None
    if config is not None and KEY_CLIPPING_NORM in config:
        return fixedclipping_mod(message, context, call_next)
    return call_next(message, context)


def make_client_app(train_fn=train_by_backend) -> ClientApp:
    """A ClientApp whose train handler is ``train_fn`` (default :func:`train_by_backend`), with optional
    client-side DP clipping."""
    client_app = ClientApp(mods=[optional_fixedclipping_mod])

    @client_app.train()
    def train(message: Message, context: Context) -> Message:
        return train_fn(message, context)

    @client_app.query()
    def query(message: Message, context: Context) -> Message:
        return report_partition(message, context)

    return client_app


#: The ClientApp the Flower app points to (``[tool.flwr.app.components] clientapp``).
app = make_client_app()
