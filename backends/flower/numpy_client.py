"""The "numpy" backend's train handler: one client's K local steps, exactly as the in-memory engine runs them.

It reads x_t and the :class:`~backends.flower.protocol.TrainConfig` from the message, takes its
identity from ``context.node_config["partition-id"]``, draws from ``default_rng([seed, t, i])`` (the
engine's ``client_rng``) and calls ``firm_core.federated.client.local_update`` with n = 1. A failed
update (non-finite oracle output, wrong shapes, a stale round) raises, which Flower turns into an
error reply that the server records and drops.
"""

from __future__ import annotations

import numpy as np
from firm_core.federated.client import client_rng, local_update
from flwr.app import Context, Message, RecordDict

from .client_state import ClientUpdateError, record_round
from .problems import problem_from_json
from .protocol import ARRAYS_KEY, METRICS_KEY, SOLVER_STATUS_KEY, partition_id, read_train_message, reply_metrics
from .records import iterate_to_record, record_to_iterate


def train(message: Message, context: Context) -> Message:
    """Handle one train message of the numpy backend (see the module docstring)."""
    req = read_train_message(message)
    cfg = req.config
    problem = problem_from_json(cfg.problem)
    cid = partition_id(context.node_config, problem.num_clients)
    x = record_to_iterate(req.arrays)
    if x.shape != (problem.dim,):
        raise ValueError(f"received x of shape {x.shape}, the problem has d = {problem.dim}")
    result = local_update(
        problem, [cid], x, [client_rng(cfg.seed, cfg.round_index, cid)], local_steps=cfg.local_steps, lr=cfg.lr,
        beta=cfg.beta, preference=np.asarray(cfg.preference, dtype=np.float64), mode=cfg.mode, method=cfg.method,
    )
    if not result.valid[0]:
        raise ClientUpdateError(f"client {cid}, round {cfg.round_index}: {result.reasons[0]}")
    record_round(context, cfg.round_index, cfg.local_steps)
    metrics = reply_metrics(weight=problem.client_weights[cid], client_id=cid, lambda_mean=result.mean_lambdas[0],
                            local_steps=cfg.local_steps, extra={SOLVER_STATUS_KEY: int(result.status.severity)})
    return Message(RecordDict({ARRAYS_KEY: iterate_to_record(result.y[0]), METRICS_KEY: metrics}), reply_to=message)
