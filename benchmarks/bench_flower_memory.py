"""Peak host memory of the Flower server per client: one round of ``FirmStrategy`` (``aggregate_train``
then ``evaluate_global``) on N replies, each a float32 adapter of d entries (the LoRA backend's wire
dtype), measured with ``tracemalloc`` from after the replies arrived (Flower holds their wire bytes
whatever the strategy does) to the end of the round. The growth from N = 2 to N = 8, per extra
client and in adapters (4 d bytes), is what the server itself keeps per upload.

    python benchmarks/bench_flower_memory.py             # d = 10^6
    python benchmarks/bench_flower_memory.py --dim 200000 --json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHILD = r"""
import json, sys, tracemalloc, warnings
warnings.filterwarnings("ignore")
sys.path.insert(0, {root!r})
from benchmarks.bench_flower_memory import round_peak
print(json.dumps(round_peak({n}, {dim})))
"""


class FakeAdapterTask:
    """A problem with a float32 wire layout of ``dim`` entries and unequal client weights 1, ..., N."""

    name = "fake-adapter"

    def __init__(self, n: int, dim: int):
        import numpy as np

        self.num_clients, self.num_objectives, self.dim = n, 2, dim
        self.client_weights = np.arange(1.0, n + 1.0)
        self._x0 = np.zeros(dim)

    def initial_point(self):
        return self._x0.copy()

    def describe(self) -> dict:
        return {"name": self.name, "dim": self.dim}


def round_peak(n: int, dim: int) -> dict:
    """tracemalloc peak (bytes) of one server round on ``n`` float32 replies of ``dim`` entries."""
    import tracemalloc

    import numpy as np
    from firm_core.federated.config import AlgorithmConfig
    from firm_core.federated.metrics import nan_point
    from flwr.app import Array, ArrayRecord, ConfigRecord, Message, RecordDict

    from backends.flower.inprocess import ensure_task_identity
    from backends.flower.protocol import ARRAYS_KEY, METRICS_KEY, reply_metrics
    from backends.flower.records import TensorSpec
    from backends.flower.settings import FlowerSettings
    from backends.flower.strategy import FirmStrategy
    from backends.flower.validation import ReplyExpectation

    class Strategy(FirmStrategy):
        def reply_expectation(self):
            p = self.problem
            return ReplyExpectation(p.dim, 2, p.num_clients, tensors=(TensorSpec("w", (p.dim,), "float32"),),
                                    local_steps=1, client_weights=tuple(self.client_weights), solver_severity=False)

        def evaluate_at(self, x):
            return nan_point(2)

    ensure_task_identity(1)
    settings = FlowerSettings(algorithm=AlgorithmConfig(name="firm", local_steps=1), rounds=1)
    strategy = Strategy(settings, FakeAdapterTask(n, dim))
    strategy.node_of_client = {i: 100 + i for i in range(n)}
    arrays = strategy.initial_arrays()
    strategy.evaluate_global(0, arrays)
    sent = strategy.configure_train(1, arrays, ConfigRecord(), grid=None)
    rng = np.random.default_rng(0)
    replies = []
    for i, msg in enumerate(sent):
        msg.metadata.__dict__["_message_id"] = f"m-{i}"
        y = rng.standard_normal(dim).astype(np.float32)
        content = RecordDict({ARRAYS_KEY: ArrayRecord({"w": Array(y)}),
                              METRICS_KEY: reply_metrics(weight=float(i + 1), client_id=i, lambda_mean=[0.5, 0.5],
                                                         local_steps=1)})
        replies.append(Message(content, reply_to=msg))
        del y
    tracemalloc.start()
    new_arrays, _ = strategy.aggregate_train(1, replies)
    strategy.evaluate_global(1, new_arrays)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    record = strategy.history.records[0]
    assert record.dropped == () and not record.skipped, record.dropped
    return {"n": n, "dim": dim, "peak_bytes": peak, "adapter_bytes": 4 * dim}


def measure(dim: int) -> dict:
    out = {}
    for n in (2, 8):  # each in a fresh process: no allocator state carried over
        code = CHILD.format(root=str(ROOT), n=n, dim=dim)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
        out[n] = json.loads(proc.stdout.strip().splitlines()[-1])
    grow = (out[8]["peak_bytes"] - out[2]["peak_bytes"]) / 6
    return {"dim": dim, "peak_n2_bytes": out[2]["peak_bytes"], "peak_n8_bytes": out[8]["peak_bytes"],
            "per_extra_client_bytes": grow, "adapters_per_extra_client": grow / out[2]["adapter_bytes"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dim", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    r = measure(args.dim)
    if args.json:
        print(json.dumps(r))
        return
    print(f"Flower server, one round, d = {r['dim']} float32: peak {r['peak_n2_bytes'] / 2**20:.1f} MiB (N = 2), "
          f"{r['peak_n8_bytes'] / 2**20:.1f} MiB (N = 8): {r['per_extra_client_bytes'] / 2**20:.2f} MiB per extra "
          f"client = {r['adapters_per_extra_client']:.2f} adapters")


if __name__ == "__main__":
    main()
