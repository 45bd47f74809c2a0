"""Client job of the "rlhf" backend: one client's K LoRA RLHF steps.

The task is built once per process and spec (``settings.task_from_json``: the engine's task of the
spec); its one model is shared by the clients of the process, one at a time (a lock). A client loads
the received adapter, runs K steps of ``backends.rlhf.trainer.local_steps`` on pool[partition-id] with
``default_rng([seed, t, partition-id])`` (the generator the federated engine gives client i in round
t), its preference p_i (its row of ``client_preferences``, else the shared p) and the KL coefficient
the server's controller sent (``kl-coef``; the task's ``kl_coef`` when absent), and replies with its adapter tensors
(``records.tensors_to_record``), ``num-examples`` = pool size, ``lambda-mean`` over the steps that were
not skipped, ``rewards`` and ``kl`` (means over its steps), ``kl-steps`` (each step's KL) and
``skipped-steps``. A client whose K
steps were all skipped raises (an error reply, dropped by the server).
"""

from __future__ import annotations

import math

import numpy as np
from firm_core.federated.client import client_rng
from flwr.app import Context, Message, RecordDict

from backends.rlhf.policy import adapter_state
from backends.rlhf.trainer import local_steps

from ..client_state import ClientUpdateError, record_round
from ..protocol import ARRAYS_KEY, CONFIG_KEY, KL_KEY, KL_STEPS_KEY, METRICS_KEY, REWARDS_KEY, SKIPPED_KEY, partition_id, read_train_message, reply_metrics
from ..records import tensors_to_record
from ..validation import arrays_to_vector
from .settings import KL_COEF_KEY, task_from_json


def _to_numpy(state: dict) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in state.items()}


def _kl_coef(message: Message) -> float | None:
    """The ``kl-coef`` of a train message's config (None when absent); TypeError / ValueError when it is
    not a finite number >= 0."""
    config = message.content.config_records[CONFIG_KEY]
    if KL_COEF_KEY not in config:
        return None
    value = config[KL_COEF_KEY]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"train config {KL_COEF_KEY!r} must be a number, got {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"train config {KL_COEF_KEY!r} must be a finite number >= 0, got {value!r}")
    return float(value)


def train(message: Message, context: Context) -> Message:
    """Handle one train message of the "rlhf" backend (see the module docstring)."""
    req = read_train_message(message)
    cfg = req.config
    task = task_from_json(cfg.problem)
    cid = partition_id(context.node_config, task.num_clients)
    x = arrays_to_vector(req.arrays, task.tensor_specs)  # the received adapter, checked against the task's
    local = task.local_config(cfg.mode, cfg.lr, cfg.beta, task.client_preference(cid, cfg.preference),
                              _kl_coef(message))
    with task.lock:  # one shared model: one client trains at a time in this process
        task.engine.load_point(x)
        records = local_steps(task.model, task.tokenizer, task.rewards, task.pools[cid], local, cfg.local_steps,
                              client_rng(cfg.seed, cfg.round_index, cid))
        uploaded = _to_numpy(adapter_state(task.model))  # copies, taken under the lock
    used = [r.weights for r in records if not r.skipped]
    if not used:
        raise ClientUpdateError(f"client {cid}, round {cfg.round_index}: all {cfg.local_steps} local steps were "
                                "skipped (non-finite)")
    record_round(context, cfg.round_index, cfg.local_steps)
    metrics = reply_metrics(
        weight=float(len(task.pools[cid])), client_id=cid, lambda_mean=np.mean(used, axis=0),
        local_steps=cfg.local_steps,
        extra={
            REWARDS_KEY: [float(v) for v in np.mean([r.rewards for r in records], axis=0)],
            KL_KEY: float(np.mean([r.kl for r in records])),
            KL_STEPS_KEY: [float(r.kl) for r in records],
            SKIPPED_KEY: len(records) - len(used),
        },
    )
    return Message(RecordDict({ARRAYS_KEY: tensors_to_record(uploaded), METRICS_KEY: metrics}), reply_to=message)
