"""The LoRA RLHF backend through Flower's real runtimes: ``flwr run`` of ``app_rlhf`` on the Ray
simulation engine, and ``scripts/flower_deploy.sh -b rlhf`` (SuperLink + SuperNodes on loopback). The
whole task travels in the run config (flat keys), only adapter tensors travel per round, and the run
equals the federated engine's run of the same task on the same seed."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("flwr")
torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from firm_core.federated.history import History  # noqa: E402
from flwr.common.config import flatten_dict, parse_config_args  # noqa: E402

from backends.flower.launch import APP_DIRS, run_app  # noqa: E402
from backends.flower.settings import FlowerSettings  # noqa: E402
from tests.flower.test_simulation import ROOT, _processes_using  # noqa: E402

pytestmark = [pytest.mark.flower, pytest.mark.torch, pytest.mark.slow]

#: Final adapter of a Flower run against the engine's: the adapter is float32 on the wire and in the
#: model, both servers average the same float32 uploads in float64; 1e-6 is far below any one step.
ENGINE_ATOL = 1e-6
#: lambda_bar (the clients' mean lambda) is computed from the same float32 gradients in float64.
LAMBDA_ATOL = 1e-9

#: Overrides of the app's defaults: a run where a bug would show (unequal p, beta, seed != 0, r = 4).
OVERRIDES = 'num-server-rounds=2 algorithm.seed=3 algorithm.beta=0.5 algorithm.preference="0.7,0.3" model.lora.r=4'


#: The SuperNodes' ClientApps compute with one torch thread, as the reference does: on the CPU the
#: round-off of a matmul depends on the thread count, and Adam's normalized steps amplify it (measured:
#: 4e-5 on 33 of 8192 adapter entries after 2 rounds when the ClientApps used the default thread count).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def settings_of(overrides: dict) -> FlowerSettings:
    with open(APP_DIRS["rlhf"] / "pyproject.toml", "rb") as fh:
        cfg = flatten_dict(tomllib.load(fh)["tool"]["flwr"]["app"]["config"])
    return FlowerSettings.from_run_config(cfg | overrides)


def engine_reference(settings: FlowerSettings):
    """(final x, per-round client lambdas, task) of the federated engine on the task of ``settings``, as
    ``firm rlhf`` runs it (``build_task`` of the same LLMTaskConfig, evaluation off)."""
    from backends.flower.rlhf.settings import task_config
    from backends.rlhf.build import build_task
    from backends.rlhf.experiment import run_task

    torch.set_num_threads(1)
    cfg = task_config(settings.problem)
    history, rows = run_task(build_task(cfg.replace(eval_samples=0)), settings.algorithm, settings.rounds)
    return history.final_x, [np.asarray(r["client_lambdas"]) for r in rows], settings.build_problem()


def assert_equals_engine(history: History, settings: FlowerSettings) -> None:
    x_ref, lambdas, task = engine_reference(settings)
    assert task.config.lora_r == 4 and history.final_x.shape == (task.dim,)
    assert not np.allclose(history.final_x, task.initial_point())  # the adapter moved
    np.testing.assert_allclose(history.final_x, x_ref, rtol=0, atol=ENGINE_ATOL)
    for record, lam in zip(history.records, lambdas, strict=True):
        assert record.participants == (0, 1) and record.dropped == ()
        assert record.uplink_bytes == 2 * task.dim * 4  # two float32 adapters, nothing else
        np.testing.assert_allclose(record.lambda_mean, lam.mean(axis=0), rtol=0, atol=LAMBDA_ATOL)


def test_flwr_run_of_the_rlhf_app_equals_the_engine(tmp_path):
    """A task of `firm rlhf` with a prompts file split by a column, a file.py:callable reward and the
    adaptive KL controller, carried by run-config keys (absolute paths: the apps run elsewhere)."""
    from tests.flower.test_rlhf_run_config import write_task_files

    home, out = tmp_path / "flwr-home", tmp_path / "out"
    prompts, reward = write_task_files(tmp_path)
    overrides = parse_config_args([OVERRIDES]) | {
        "out-dir": str(out), "task.prompts": prompts, "task.split-by": "topic", "task.rewards": f"brevity,{reward}",
        "trainer.kl-control": "adaptive", "trainer.kl-target": 0.5}
    outcome = run_app(num_supernodes=2, run_config=overrides, app_dir=APP_DIRS["rlhf"], timeout=400, work_dir=home)
    assert outcome.ok, (outcome, outcome.superlink_log.read_text()[-3000:])
    assert _processes_using(str(home)) == []
    assert_equals_engine(History.from_json(out / "history.json"), settings_of(overrides))


def test_deploy_script_runs_the_rlhf_app(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.run([str(ROOT / "scripts" / "flower_deploy.sh"), "-b", "rlhf", "-n", "2", "-r", "2", "-o", str(out),
                           "-c", OVERRIDES.replace("num-server-rounds=2 ", "")], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "TMPDIR": str(tmp_path), **ONE_THREAD,
                                            "FLWR_BIN_DIR": str(Path(sys.executable).parent)})
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    assert "finished:completed" in proc.stdout
    assert _processes_using(str(tmp_path)) == []
    overrides = parse_config_args([OVERRIDES]) | {"task.num-clients": 2}
    assert_equals_engine(History.from_json(out / "history.json"), settings_of(overrides))
