"""`firm rlhf` end to end (tiny model, short runs on the engine) and its argument / device checks."""

from __future__ import annotations

import csv
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from click.testing import CliRunner  # noqa: E402

from firm.cli import main  # noqa: E402

pytestmark = pytest.mark.torch

SHORT = ["--rounds", "2", "--local-steps", "1", "--group-size", "4", "--prompts-per-step", "2",
         "--max-new-tokens", "8", "--eval-samples", "2", "--no-sweep", "--quiet"]


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["firm", "fedavg_ls", "fmgda", "fedcmoo"])
def test_firm_rlhf_writes_all_outputs(tmp_path, algorithm):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["rlhf", "--algorithm", algorithm, *SHORT, "--out", str(out)])
    assert res.exit_code == 0, res.output
    for name in ("summary.json", "history.json", "rounds.csv", "rounds.json", "reward_curves.png",
                 "lambda_trajectories.png", "pareto.png", "adapter/adapter_model.safetensors",
                 "adapter/adapter_config.json", "checkpoint/manifest.json"):
        assert (out / name).exists(), name
    s = json.loads((out / "summary.json").read_text())
    assert s["objectives"] == ["positive_sentiment", "brevity"] and s["device"] == "cpu"
    h = json.loads((out / "history.json").read_text())
    assert len(h["records"]) == 2 and h["metadata"]["algorithm"] == algorithm
    rows = list(csv.DictReader(open(out / "rounds.csv")))
    adapter = s["adapter_bytes"]
    per_client = {"firm": adapter, "fedavg_ls": adapter, "fmgda": 2 * adapter}.get(algorithm)
    if per_client is not None:  # uplink of the real float32 tensors: FMGDA's is M = 2 adapters per client
        assert all(int(r["uplink_bytes"]) == 2 * per_client for r in rows)
        assert s["uplink_bytes_per_client_round"] == per_client
    lam = [w for r in json.loads((out / "rounds.json").read_text()) for w in r["client_lambdas"]]
    if algorithm == "fedavg_ls":
        assert all(w == [0.5, 0.5] for w in lam)


@pytest.mark.slow
def test_firm_rlhf_config_file_with_per_client_preferences_and_resume(tmp_path):
    cfg = tmp_path / "rlhf.toml"
    cfg.write_text("""
[task]
num_clients = 2
client_mixes = [{ opinions = 1.0 }, { documentation = 1.0 }]
client_preferences = [[0.9, 0.1], [0.1, 0.9]]
group_size = 4
prompts_per_step = 2
max_new_tokens = 8
eval_samples = 2
device = "cpu"
[algorithm]
name = "fedavg_ls"
local_steps = 1
[run]
rounds = 1
sweep = false
""")
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["rlhf", "--config", str(cfg), "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = json.loads((out / "rounds.json").read_text())
    assert rows[0]["client_lambdas"] == [[0.9, 0.1], [0.1, 0.9]]  # each client scalarizes with its own p_i
    s = json.loads((out / "summary.json").read_text())
    assert s["task"]["pool_sizes"] == [16, 16] and s["task"]["client_preferences"] == [[0.9, 0.1], [0.1, 0.9]]
    # the command line overrides the file; --resume continues the checkpointed run to 2 rounds
    res = CliRunner().invoke(main, ["rlhf", "--config", str(cfg), "--rounds", "2", "--resume", "--quiet",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert len(json.loads((out / "history.json").read_text())["records"]) == 2


@pytest.mark.parametrize(("args", "needle"), [
    (["--preference", "1,-1"], "--preference"),
    (["--preference", "0.2,0.3,0.5"], "preference"),
    (["--client-preference", "1,0"], "client_preferences"),
    (["--client-mix", "recipes=1"], "not prompt mixes"),
    (["--rounds", "-1"], "rounds"),
    (["--beta", "-1"], "beta"),
    (["--algorithm", "fmgda", "--beta", "1"], "--beta applies to firm and fedcmoo"),
    (["--threads", "0"], "--threads"),
    (["--reward", "brevity", "--reward", "brevity"], "rewards"),
    (["--device", "gpu"], "device"),
    (["--device", "cuda:x"], "device"),
    (["--dtype", "float8"], "--dtype"),
    (["--device", "cpu", "--dtype", "float16"], "float16"),
    (["--sketch-rank", "3", "--algorithm", "fedcmoo"], "sketch_rank"),
])
def test_firm_rlhf_rejects_bad_arguments(tmp_path, args, needle):
    res = CliRunner().invoke(main, ["rlhf", *args, "--out", str(tmp_path / "x"), "--quiet"])
    assert res.exit_code != 0
    assert needle in res.output
    assert "Traceback" not in res.output


def test_firm_rlhf_cuda_without_a_gpu_is_one_clear_line(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = CliRunner().invoke(main, ["rlhf", "--device", "cuda", "--out", str(tmp_path / "x"), "--quiet"])
    assert res.exit_code == 2 and "needs a CUDA GPU" in res.output and "--device cpu" in res.output
    assert not (tmp_path / "x").exists()


def test_firm_rlhf_missing_model_is_a_clear_error(tmp_path):
    res = CliRunner().invoke(main, ["rlhf", "--model", "no-such-org/no-such-model", "--out", str(tmp_path / "x"),
                                    "--quiet", "--device", "cpu"])
    assert res.exit_code != 0
    assert "no-such-org/no-such-model" in res.output and "huggingface-cli download" in res.output
