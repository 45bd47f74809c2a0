"""`firm rlhf` end to end (tiny model, one short round per algorithm) and its argument checks."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from click.testing import CliRunner  # noqa: E402

from firm.cli import main  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("algorithm", ["firm", "local_mgda", "fedavg_ls"])
def test_firm_rlhf_writes_all_outputs(tmp_path, algorithm):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["rlhf", "--algorithm", algorithm, "--rounds", "2", "--local-steps", "1",
                                    "--group-size", "4", "--prompts-per-step", "2", "--max-new-tokens", "8",
                                    "--no-sweep", "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("summary.json", "history.json", "rounds.csv", "reward_curves.png", "lambda_trajectories.png",
                 "pareto.png", "adapter/adapter_model.safetensors", "adapter/adapter_config.json"):
        assert (out / name).exists(), name
    s = json.loads((out / "summary.json").read_text())
    assert s["objectives"] == ["positive_sentiment", "brevity"]
    h = json.loads((out / "history.json").read_text())
    assert len(h["rounds"]) == 2
    lam = [w for r in h["rounds"] for w in r["client_weights"]]
    if algorithm == "fedavg_ls":
        assert all(w == [0.5, 0.5] for w in lam)
    assert all(abs(sum(w) - 1) < 1e-9 for w in lam)


@pytest.mark.parametrize(("args", "needle"), [
    (["--preference", "1,-1"], "--preference"),
    (["--preference", "0.2,0.3,0.5"], "3 weights for 2 objectives"),
    (["--rounds", "0"], "rounds"),
    (["--beta", "-1"], "beta"),
    (["--threads", "0"], "--threads"),
    (["--reward", "brevity", "--reward", "brevity"], "objective twice"),
])
def test_firm_rlhf_rejects_bad_arguments(tmp_path, args, needle):
    res = CliRunner().invoke(main, ["rlhf", *args, "--out", str(tmp_path / "x"), "--quiet"])
    assert res.exit_code != 0
    assert needle in res.output


def test_firm_rlhf_missing_model_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(main, ["rlhf", "--model", "no-such-org/no-such-model", "--out", str(tmp_path / "x"),
                                    "--quiet"])
    assert res.exit_code != 0
    assert "no-such-org/no-such-model" in res.output and "huggingface-cli download" in res.output
