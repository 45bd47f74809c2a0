"""The shipped helpful-vs-harmless example on the tiny model, end to end through `firm rlhf --config`:
listed rewards (a Python file reward and `harmless`), the shipped prompts split by category, the
adaptive KL coefficient per round (and resumed from a checkpoint), --quiet, --eval-samples 0."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("profanity_check")

from click.testing import CliRunner  # noqa: E402

from backends.rlhf.kl_control import ERROR_CLIP  # noqa: E402
from firm.cli import main  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "configs" / "helpful_harmless_tiny.toml"
#: the controller's arithmetic is float64 on the values written to rounds.csv (repr round-trips)
KL_COEF_RTOL = 1e-12


def _rows(out):
    return list(csv.DictReader(open(out / "rounds.csv")))


def _expected_next(coef, kl, target=3.0, horizon=1.0):
    return coef * (1 + min(max(kl / target - 1, -ERROR_CLIP), ERROR_CLIP) / horizon)


def test_helpful_harmless_tiny_config_runs_and_adapts_the_kl_coefficient(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)  # the config names its Python reward by a path relative to the repository
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["rlhf", "--config", str(CONFIG), "--rounds", "3", "--checkpoint-every", "1",
                                    "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "it/s" not in res.output and "Loading weights" not in res.output  # --quiet: no bars of the stack
    assert "KL to reference" in res.output
    s = json.loads((out / "summary.json").read_text())
    assert s["objectives"] == ["on_topic", "harmless"]
    assert s["task"]["pool_sizes"] == [24, 24]  # the 48 shipped prompts split by category
    rows = _rows(out)
    coefs = [float(r["kl_coef"]) for r in rows]
    assert coefs[0] == 0.2
    for prev, nxt in zip(rows, rows[1:]):
        assert float(nxt["kl_coef"]) == pytest.approx(_expected_next(float(prev["kl_coef"]), float(prev["train_kl"])),
                                                      rel=KL_COEF_RTOL)
    # resuming from round 2 of a fresh 2-round run continues the controller where it was
    out2 = tmp_path / "resumed"
    base = ["rlhf", "--config", str(CONFIG), "--checkpoint-every", "1", "--quiet", "--out", str(out2)]
    assert CliRunner().invoke(main, [*base, "--rounds", "2"]).exit_code == 0
    res = CliRunner().invoke(main, [*base, "--rounds", "3", "--resume"])
    assert res.exit_code == 0, res.output
    resumed = _rows(out2)  # the rows of the resumed segment: round 3 only
    assert [r["round"] for r in resumed] == ["2"]
    assert float(resumed[0]["kl_coef"]) == coefs[2] != coefs[0]


def test_eval_samples_zero_skips_evaluation(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["rlhf", "--config", str(CONFIG), "--rounds", "1", "--eval-samples", "0",
                                    "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "evaluation skipped" in res.output
    row = _rows(out)[0]
    assert row["reward_harmless"] == "" and row["kl"] == "" and row["train_reward_harmless"] != ""


def test_log_tensorboard_writes_the_rounds_scalars(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.chdir(ROOT)
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["rlhf", "--config", str(CONFIG), "--rounds", "2", "--log", "tensorboard",
                                    "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    acc = EventAccumulator(str(out / "tensorboard"))
    acc.Reload()
    rows = _rows(out)
    for tag, col in (("train/kl", "train_kl"), ("train/kl_coef", "kl_coef"), ("train/reward_harmless",
                                                                               "train_reward_harmless"),
                     ("federated/d_lambda", "d_lambda")):
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        want = [(int(r["round"]), float(r[col])) for r in rows]
        assert [s for s, _ in got] == [s for s, _ in want]
        np_want = [v for _, v in want]
        assert [v for _, v in got] == pytest.approx(np_want, rel=1e-6)  # TensorBoard stores float32
    assert [e.step for e in acc.Scalars("eval/kl")] == [0]  # evaluated rounds only (eval_every = 2)


def test_quiet_leaves_stderr_empty(tmp_path):
    """--quiet in a real process: no progress bar or warning of the stack reaches stderr."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "firm.cli", "rlhf", "--rounds", "1", "--local-steps", "1",
                           "--group-size", "2", "--prompts-per-step", "1", "--max-new-tokens", "4",
                           "--eval-samples", "2", "--no-sweep", "--device", "cpu", "--quiet",
                           "--out", str(tmp_path / "q")], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert "KL to reference" in proc.stdout


_LIBRARY_BAR = """
import sys
from backends.rlhf.cli import quiet_environment, silence_stack
quiet_environment({quiet})  # what `firm rlhf` does first
import backends.rlhf.experiment  # then it imports the stack (transformers imports tqdm here)
silence_stack({quiet})
from tqdm.auto import tqdm  # as a library does after the command started (transformers' GGUF loader)
for _ in tqdm(range(3), desc="library bar"):
    pass
"""


def test_quiet_silences_tqdm_bars_that_libraries_create_later():
    """The GGUF loader of transformers draws its own tqdm bar; --quiet must silence it too (tqdm reads
    TQDM_DISABLE when first imported, so the switch has to come before the stack is imported)."""
    import subprocess
    import sys

    import os

    # a clean environment: an in-process `--quiet` run of another test sets these for this process
    env = {k: v for k, v in os.environ.items() if k not in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS")}

    def stderr(quiet):
        return subprocess.run([sys.executable, "-c", _LIBRARY_BAR.format(quiet=quiet)], capture_output=True,
                              text=True, timeout=120, check=True, env=env).stderr

    assert "library bar" in stderr(False)  # the probe does draw a bar when not quiet
    assert "library bar" not in stderr(True)
