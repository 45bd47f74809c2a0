"""Fault injection: Ctrl-C (SIGINT) sent to a real `firm run` process at random instants, in 20 seeded
trials (half anywhere in the run, start-up included, half once the child saves results); each interrupted folder is then resumed (or, when the interrupt came before anything was saved,
started again, as the message says) and must equal the uninterrupted run bit for bit (timings aside)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from firm.cli import main
from firm.experiments import runner
from firm.experiments.results import read_metrics
from firm_core.federated.history import History
from tests.experiments.helpers import tiny_config

TRIALS = 20
SEED = 20261129
#: Upper bound on any one child process (a hung child fails the test instead of hanging it).
CHILD_TIMEOUT_S = 120
#: At least this many trials must land after results started being saved, or the test proved little.
MIN_RESUMED_TRIALS = 5
ROOT = Path(__file__).resolve().parents[2]


def _config(tmp_path) -> Path:
    raw = tiny_config(rounds=15, checkpoint_every=1)  # a save after every round: most instants are near one
    raw["algorithms"] = [{"name": "firm"}, {"name": "fedcmoo"}]  # FedCMOO: server lambda in the state
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default, as in a terminal. A test run started as a
    background job of a non-interactive shell inherits SIGINT ignored, and Python then keeps it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _child(config: Path, out: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.experiments._interruptible_run", "run", "--config", str(config),
         "--out", str(out), "--quiet"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint)


def _comparable(out: Path) -> dict:
    """Everything of a run folder that must not depend on interrupts: records without wall times, final
    points, statuses, and the CSV columns but wall_time."""
    metrics = read_metrics(out)
    data = {}
    for key, entry in metrics["algorithms"].items():
        records = [{k: v for k, v in r.items() if k != "wall_time"} for r in entry["history"]["records"]]
        csv = History.read_csv(out / f"{key}.csv")
        data[key] = {"status": entry["status"], "records": records, "final": entry["history"]["final"],
                     "csv": {c: np.asarray(v).tolist() for c, v in csv.items() if c != "wall_time"}}
    return json.loads(json.dumps(data))  # NaN-safe, order-independent comparison through JSON text


def _timed_reference(config: Path, out: Path) -> tuple[float, float, float]:
    """(seconds until the run wrote its metrics.json, until its last algorithm's CSV, until it ended)."""
    start = time.perf_counter()
    ref = _child(config, out)
    saving_s = last_s = None
    while ref.poll() is None and time.perf_counter() - start < CHILD_TIMEOUT_S:
        if saving_s is None and (out / "metrics.json").exists():
            saving_s = time.perf_counter() - start
        if last_s is None and (out / "fedcmoo.csv").exists():
            last_s = time.perf_counter() - start
        time.sleep(0.005)
    _, err = ref.communicate(timeout=CHILD_TIMEOUT_S)
    assert ref.returncode == 0 and saving_s is not None and last_s is not None, err
    return saving_s, last_s, time.perf_counter() - start


@pytest.mark.slow
def test_sigint_at_random_instants_then_resume_equals_the_uninterrupted_run(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "draw_run_plots", lambda *args, **kwargs: {})
    config = _config(tmp_path)
    start = time.perf_counter()
    # two reference runs, the faster timings kept; a trial that finishes before its interrupt shortens them
    # too: timings taken under a burst of load elsewhere (another test worker) would otherwise put most
    # interrupts after the trial runs finished
    (saving_s, last_s, full_s), (saving2, last2, _) = (_timed_reference(config, tmp_path / name)
                                                       for name in ("ref", "ref2"))
    saving_s, last_s = min(saving_s, saving2), min(last_s, last2)
    want = _comparable(tmp_path / "ref")
    assert _comparable(tmp_path / "ref2") == want

    rng = np.random.default_rng(SEED)
    outcomes = []
    for trial in range(TRIALS):
        out = tmp_path / f"trial{trial}"
        child = _child(config, out)
        began, saved_at = time.perf_counter(), None
        if trial % 2:  # anywhere, start-up included
            time.sleep(float(rng.uniform(0.0, last_s)))
        else:  # once this child saves results (its start-up time varies with the machine's load)
            delay = float(rng.uniform(0.0, last_s - saving_s))
            waited = time.perf_counter()
            while not (out / "metrics.json").exists() and child.poll() is None \
                    and time.perf_counter() - waited < CHILD_TIMEOUT_S:
                time.sleep(0.002)
            saved_at = time.perf_counter() - began
            time.sleep(delay)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=CHILD_TIMEOUT_S)
        if child.returncode == 0:
            outcomes.append("finished first")
            last_s = min(last_s, time.perf_counter() - began)  # this machine is faster now than the references
            if saved_at is not None:
                saving_s = min(saving_s, saved_at, 0.5 * last_s)
        elif (out / "metrics.json").exists() and "continue with: firm run --resume" in err:
            assert child.returncode == 130, err
            assert "Traceback" not in err, err
            resumed = CliRunner().invoke(main, ["run", "--resume", str(out), "--quiet"])
            assert resumed.exit_code == 0, (trial, err, resumed.output)
            outcomes.append("resumed")
        else:  # before any result was saved: the message (if Python got to print one) says to start again
            assert child.returncode in (130, 1, -signal.SIGINT), (trial, child.returncode, err)
            # a traceback only from an interrupt at start-up: either Python reports the KeyboardInterrupt, or
            # the signal landed inside an extension module's import (numpy's C import then fails with an
            # ImportError) before the run had created its folder
            assert "Traceback" not in err or "KeyboardInterrupt" in err or not out.exists(), err
            if child.returncode == 130:
                assert "interrupted before anything was saved" in err and "run the same command again" in err, err
            again = CliRunner().invoke(main, ["run", "--config", str(config), "--out", str(out), "--quiet"])
            assert again.exit_code == 0, (trial, err, again.output)
            outcomes.append("started again")
        assert _comparable(out) == want, f"trial {trial} ({outcomes[-1]}) differs from the uninterrupted run"
    assert outcomes.count("resumed") >= MIN_RESUMED_TRIALS, outcomes
    print(f"\n{TRIALS} trials in {time.perf_counter() - start:.1f} s (one run {full_s:.2f} s, saving from "
          f"{saving_s:.2f} s): "
          f"{ {k: outcomes.count(k) for k in set(outcomes)} }")
