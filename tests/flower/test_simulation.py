"""The one test through Flower's real simulation engine (Ray): ``flwr run`` of the repo's app on a
SuperLink started for it. The run must finish as ``finished:completed`` per ``flwr ls``, give the
in-memory engine's iterates to 1e-12, and leave no process behind.

Also the SuperLink + SuperNodes deployment of ``scripts/flower_deploy.sh`` on loopback (about a
minute on 2 cores; runs in CI).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import numpy as np
import pytest

from tests.flower.helpers import EQUIVALENCE_ATOL

pytest.importorskip("flwr")

from firm_core.federated.config import RunConfig  # noqa: E402
from firm_core.federated.engine import run as engine_run  # noqa: E402
from firm_core.federated.history import History  # noqa: E402
from flwr.common.config import flatten_dict  # noqa: E402

from backends.flower.launch import APP_DIR, run_app  # noqa: E402
from backends.flower.settings import FlowerSettings  # noqa: E402

pytestmark = [pytest.mark.flower, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def _settings(overrides: dict) -> FlowerSettings:
    with open(APP_DIR / "pyproject.toml", "rb") as fh:
        cfg = flatten_dict(tomllib.load(fh)["tool"]["flwr"]["app"]["config"])
    return FlowerSettings.from_run_config(cfg | overrides)


def _processes_using(marker: str) -> list:
    """Live processes whose command line or environment mentions ``marker`` (our private Flower home
    or temp dir), read from /proc: every process a run started carries FLWR_HOME in its environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            env = (entry / "environ").read_bytes().decode(errors="replace")
            state = (entry / "stat").read_text().split(") ")[-1][:1]
        except OSError:  # gone, or not ours to read
            continue
        if state != "Z" and (marker in cmd or marker in env):
            found.append((int(entry.name), cmd[:120]))
    return found


def test_flwr_run_in_the_simulation_engine_equals_the_engine(tmp_path):
    home = tmp_path / "flwr-home"
    out = tmp_path / "out"
    overrides = {"num-server-rounds": 3, "out-dir": str(out), "problem.noise-std": 0.1,
                 "checkpoint-dir": str(tmp_path / "ckpt")}
    outcome = run_app(num_supernodes=4, run_config=overrides, timeout=300, work_dir=home)
    assert outcome.ok, (outcome, outcome.superlink_log.read_text()[-3000:])
    assert _processes_using(str(home)) == []
    history = History.from_json(out / "history.json")
    settings = _settings(overrides)
    engine = engine_run(settings.build_problem(), settings.algorithm, RunConfig(rounds=3), progress=False)
    np.testing.assert_allclose(history.final_x, engine.final_x, rtol=0, atol=EQUIVALENCE_ATOL)
    np.testing.assert_allclose(history.series("phi"), engine.series("phi"), rtol=1e-10, atol=EQUIVALENCE_ATOL)
    np.testing.assert_array_equal(history.series("uplink_bytes"), engine.series("uplink_bytes"))
    assert (tmp_path / "ckpt" / "state.npz").is_file()


@pytest.mark.slow
def test_deploy_script_runs_superlink_and_supernodes(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([str(ROOT / "scripts" / "flower_deploy.sh"), "-n", "2", "-r", "2", "-o", str(out),
                           "-c", "problem.noise-std=0.1", "-g", "3,5"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TMPDIR": str(tmp_path), "FLWR_BIN_DIR": str(Path(sys.executable).parent)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "finished:completed" in proc.stdout
    # one GPU per SuperNode (ids need not exist: the numpy clients never touch a GPU)
    assert "SuperNode 0 on GPU 3" in proc.stderr and "SuperNode 1 on GPU 5" in proc.stderr
    assert _processes_using(str(tmp_path)) == []
    history = History.from_json(out / "history.json")
    settings = _settings({"num-server-rounds": 2, "problem.num-clients": 2, "problem.noise-std": 0.1})
    engine = engine_run(settings.build_problem(), settings.algorithm, RunConfig(rounds=2), progress=False)
    np.testing.assert_allclose(history.final_x, engine.final_x, rtol=0, atol=EQUIVALENCE_ATOL)


def test_a_failed_run_is_reported_by_flwr_ls_not_the_exit_code(tmp_path, monkeypatch):
    """A ServerApp that fails (invalid run config) still makes `flwr run` exit 0; run_app reads
    `finished:failed` from `flwr ls`. Plain SuperLink, no SuperNodes, no Ray: the ServerApp fails
    while reading its settings, before any ClientApp is needed. run_app's own temp dir (no
    ``work_dir``) keeps only the SuperLink log afterwards."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    outcome = run_app(num_supernodes=1, run_config={"algorithm.lr": -1.0}, timeout=180, simulation=False)
    assert not outcome.ok
    assert outcome.status == "finished:failed", outcome
    assert "lr" in outcome.details, outcome.details  # the ServerApp's error reaches `flwr ls`
    (home,) = tmp_path.glob("firm-flwr-*")
    assert _processes_using(str(home)) == []
    assert [p.name for p in home.iterdir()] == ["superlink.log"] and outcome.superlink_log == home / "superlink.log"
    assert "127.0.0.1" in outcome.superlink_log.read_text()
