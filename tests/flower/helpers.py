"""Shared pieces of the Flower tests: small settings, faulty ClientApps, an in-process run."""

from __future__ import annotations

import threading

import numpy as np
import pytest

flwr = pytest.importorskip("flwr")

from firm_core.federated.config import AlgorithmConfig  # noqa: E402
from flwr.app import Message, MetricRecord, RecordDict  # noqa: E402

from backends.flower.client_app import make_client_app  # noqa: E402
from backends.flower.inprocess import InProcessGrid  # noqa: E402
from backends.flower.numpy_client import train as firm_train  # noqa: E402
from backends.flower.protocol import ARRAYS_KEY, ITERATE_KEY, METRICS_KEY  # noqa: E402
from backends.flower.server_app import run_strategy  # noqa: E402
from backends.flower.settings import FlowerSettings  # noqa: E402

#: Iterates of the Flower run and of the in-memory engine must agree to this (absolute, per entry).
EQUIVALENCE_ATOL = 1e-12


def quadratic_spec(num_clients: int = 4, **extra) -> dict:
    spec = {"name": "quadratics", "num_clients": num_clients, "num_objectives": 2, "dim": 5,
            "heterogeneity": 1.0, "seed": 0, "noise_std": 0.1}
    spec.update(extra)
    return spec


def make_settings(num_clients: int = 4, *, rounds: int = 4, timeout: float = 30.0, problem_extra=None, **algorithm) -> FlowerSettings:
    alg = {"name": "firm", "local_steps": 3, "lr": 0.05, "beta": 1.0, "seed": 7}
    alg.update(algorithm)
    return FlowerSettings(problem=quadratic_spec(num_clients, **(problem_extra or {})),
                          algorithm=AlgorithmConfig(**alg), rounds=rounds, timeout=timeout)


def run_inprocess(settings: FlowerSettings, apps=None, *, x0=None):
    """Run ``settings`` on an InProcessGrid; ``apps``: optional {partition id: ClientApp callable}
    replacing the default FIRM ClientApp for those partitions. Returns (FlowerRun, grid)."""
    n = settings.build_problem().num_clients
    default = make_client_app()
    nodes = InProcessGrid.make_nodes(default, n)
    for node in nodes:
        node.app = (apps or {}).get(node.node_config["partition-id"], default)
    grid = InProcessGrid(nodes)
    try:
        return run_strategy(grid, settings, x0=x0), grid
    finally:
        grid.close()


# --- faulty clients ------------------------------------------------------------------------------------
def _replace_iterate(reply: Message, y: np.ndarray) -> Message:
    from flwr.app import Array, ArrayRecord

    content = reply.content
    metrics = content.metric_records[METRICS_KEY]
    new = RecordDict({ARRAYS_KEY: ArrayRecord({ITERATE_KEY: Array(np.asarray(y))}), METRICS_KEY: MetricRecord(dict(metrics))})
    return new


def faulty_app(kind: str, release: threading.Event | None = None):
    """A ClientApp that is FIRM's, except: "raise" raises; "shape" returns y with one extra entry;
    "nan" returns y with a NaN; "float32" returns y as float32; "hang" never answers a train message
    until ``release`` is set. Query (discovery) messages are answered normally."""

    def train(message: Message, context) -> Message:
        if kind == "raise":
            raise RuntimeError("injected client failure")
        if kind == "hang":
            release.wait(timeout=60)
            raise RuntimeError("released after the deadline")
        reply = firm_train(message, context)
        y = reply.content.array_records[ARRAYS_KEY][ITERATE_KEY].numpy()
        if kind == "shape":
            y = np.append(y, 0.0)
        elif kind == "nan":
            y = y.copy()
            y[1] = np.nan
        elif kind == "float32":
            y = y.astype(np.float32)
        else:
            raise ValueError(f"faulty_app: unknown `kind` {kind!r}")
        return Message(_replace_iterate(reply, y), reply_to=message)

    return make_client_app(train)
