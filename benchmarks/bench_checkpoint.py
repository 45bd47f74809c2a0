"""Checkpoint cost per round: a short run against a 2,000-round run, side by side.

    python benchmarks/bench_checkpoint.py [--quick] [--long 2000] [--short 20] [--window 20]

Both runs checkpoint after every round (the most demanding setting). The table reports the median
seconds of one save over the short run's saves and over the last ``window`` saves of the long run (the
two timed in alternation, so machine load hits both alike), and their ratio: with the history appended to a log (what firm_core.federated.checkpoint does), a save
writes the new record, a small state file and a manifest, so the ratio stays near 1 whatever the
round. For contrast, the same is timed for the earlier writer, which re-saved the whole history as
JSON at every checkpoint and so grew linearly with the round (measured 3.9x at 2,000 rounds).

Records are real ones (the embedded default problem: N = 20 clients, M = 2, d = 10) repeated to the
wanted length, so each costs what a real record costs to serialize; the state is the real x_t.
Every save goes through fsync, so the absolute times depend on the disk; the ratio does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from firm_core.federated import AlgorithmConfig, History, RunConfig, run
from firm_core.federated.checkpoint import save_checkpoint
from firm_core.federated.history import json_safe
from firm_core.problems import make_problem

#: The target: a save late in a 2,000-round run costs about what a save in a short run costs.
TARGET_RATIO = 1.5
#: The default problem of `firm run`.
PROBLEM = dict(name="quadratics", num_clients=20, num_objectives=2, dim=10, heterogeneity=1.0, noise_std=0.05, seed=0)


def legacy_save(directory, state, history, algorithm_config, run_config) -> None:
    """The earlier writer (for contrast): state.npz, then checkpoint.json holding the whole history."""
    path = Path(directory)
    fd, tmp = tempfile.mkstemp(dir=path, suffix=".npz")
    os.close(fd)
    np.savez(tmp, round=np.int64(state.round), x=state.x, seed=np.int64(state.seed), server_lambda=state.server_lambda)
    os.replace(tmp, path / "state.npz")
    payload = {"round": int(state.round), "algorithm_config": algorithm_config.to_dict(),
               "run_config": run_config.to_dict(), "history": history.to_dict()}
    fd, tmp = tempfile.mkstemp(dir=path, suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(json_safe(payload), fh, allow_nan=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path / "checkpoint.json")


def sample_run(rounds: int):
    """(records, final state, configs) of a real run whose records are repeated to ``rounds``."""
    from firm_core.federated.algorithms import make_algorithm

    problem = make_problem(**PROBLEM)
    cfg = AlgorithmConfig(name="firm", beta=50.0, local_steps=5, lr=0.05)
    base = run(problem, cfg, RunConfig(rounds=20), progress=False)
    records = [dataclasses.replace(base.records[t % len(base)], round=t) for t in range(rounds)]
    algo = make_algorithm(cfg)
    state = algo.init(problem)
    state, _ = algo.step(problem, state)
    return records, state, cfg, base.metadata


class _Run:
    """A run being checkpointed after every round into its own folder."""

    def __init__(self, folder, writer, records, state, cfg, metadata):
        self.folder, self.writer, self.records, self.state, self.cfg = folder, writer, records, state, cfg
        self.run_config = RunConfig(rounds=len(records), checkpoint_every=1)
        self.history = History(metadata=dict(metadata), status="running")

    def save_next(self, *, write: bool = True) -> float:
        """Append the next record and save (``write=False``: append only); seconds the save took."""
        t = len(self.history)
        self.history.append(self.records[t])
        if not write:
            return 0.0
        start = time.perf_counter()
        self.writer(self.folder, self.state._replace(round=t + 1), self.history, self.cfg, self.run_config)
        return time.perf_counter() - start


def paired_saves(writer, records, state, cfg, metadata, short: int, window: int, *, build: bool = True):
    """Seconds of the short run's saves 1..short and of the long run's last ``window`` saves, timed in
    alternation (so machine load hits both alike). The long run's earlier rounds are saved first,
    untimed (``build=False``: only appended, for a writer whose cost does not depend on earlier saves)."""
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        short_run = _Run(a, writer, records[:short], state, cfg, metadata)
        long_run = _Run(b, writer, records, state, cfg, metadata)
        for _ in range(len(records) - window):
            long_run.save_next(write=build)
        short_s, late_s = [], []
        for k in range(max(short, window)):
            if k < short:
                short_s.append(short_run.save_next())
            if k < window:
                late_s.append(long_run.save_next())
    return short_s, late_s


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 300-round long run (CI smoke run)")
    ap.add_argument("--long", type=int, default=None, help="rounds of the long run (default 2000)")
    ap.add_argument("--short", type=int, default=20, help="rounds of the short run")
    ap.add_argument("--window", type=int, default=20, help="late saves of the long run that are timed")
    ap.add_argument("--no-legacy", action="store_true", help="skip the earlier writer (it is quadratic in time)")
    args = ap.parse_args(argv)
    long = args.long or (300 if args.quick else 2000)
    records, state, cfg, metadata = sample_run(long)
    rows = {}
    writers = {"append-only log (now)": save_checkpoint}
    if not args.no_legacy:
        writers["whole history each save (before)"] = legacy_save
    for label, writer in writers.items():
        build = writer is save_checkpoint  # the earlier writer rewrote everything: earlier saves change nothing
        short, late = paired_saves(writer, records, state, cfg, metadata, args.short, args.window, build=build)
        rows[label] = (float(np.median(short)), float(np.median(late)))
    print(f"checkpoint cost per round, one save after every round ({platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()})")
    print(f"{'writer':34s} {'short run (' + str(args.short) + ' rounds)':>24s} "
          f"{'last ' + str(args.window) + ' of ' + str(long) + ' rounds':>24s} {'ratio':>7s}")
    for label, (short_s, late_s) in rows.items():
        print(f"{label:34s} {1e3 * short_s:21.2f} ms {1e3 * late_s:21.2f} ms {late_s / short_s:6.2f}x")
    ratio = rows["append-only log (now)"][1] / rows["append-only log (now)"][0]
    print(f"target: ratio <= {TARGET_RATIO} for the append-only log: {'met' if ratio <= TARGET_RATIO else 'NOT met'}")
    return ratio


if __name__ == "__main__":
    main()
