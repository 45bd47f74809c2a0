"""`firm flower` (in-process engine: the same strategy and ClientApp, no Ray)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("flwr")

from click.testing import CliRunner  # noqa: E402

from backends.flower.cli import flower  # noqa: E402
from firm.cli import main  # noqa: E402

pytestmark = pytest.mark.flower


def test_firm_flower_inprocess_writes_history(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["flower", "--engine", "inprocess", "--rounds", "3", "--clients", "3",
                                       "--out", str(out), "--checkpoint", str(tmp_path / "ckpt")])
    assert result.exit_code == 0, result.output
    assert "phi:" in result.output and "uplink per round: 15 floats (120 B)" in result.output
    data = json.loads((out / "history.json").read_text())
    assert len(data["records"]) == 3 and data["final"]["round"] == 3
    assert (tmp_path / "ckpt" / "state.npz").is_file()
    resumed = CliRunner().invoke(flower, ["--engine", "inprocess", "--rounds", "5", "--clients", "3", "--out", str(out),
                                          "--resume", str(tmp_path / "ckpt")])
    assert resumed.exit_code == 0, resumed.output
    assert len(json.loads((out / "history.json").read_text())["records"]) == 5


@pytest.mark.parametrize(("args", "needle"), [
    (["--lr", "-1"], "`lr`"),
    (["--participation", "9"], "`participation`"),  # needs the problem: S <= N
    (["--noise-std", "-1"], "`noise_std`"),  # checked by the problem itself
    (["--heterogeneity", "-1"], "`heterogeneity`"),
])
def test_firm_flower_rejects_bad_values(tmp_path, args, needle):
    result = CliRunner().invoke(flower, ["--engine", "inprocess", "--clients", "3", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2 and needle in result.output, result.output
    assert not (tmp_path / "history.json").exists()


@pytest.mark.torch
def test_firm_flower_rlhf_backend_inprocess(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from backends.flower.rlhf import task_from_json
    from backends.flower.settings import FlowerSettings
    from backends.rlhf.policy import state_nbytes

    out = tmp_path / "out"
    result = CliRunner().invoke(flower, ["--engine", "inprocess", "--backend", "rlhf", "--clients", "2", "--rounds", "1",
                                         "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "phi:" not in result.output and "mean rewards: [" in result.output and "KL:" in result.output, result.output
    data = json.loads((out / "history.json").read_text())
    assert len(data["records"]) == 1
    record = data["records"][0]
    spec = FlowerSettings(problem={"name": "rlhf", "num_clients": 2}, backend="rlhf").problem
    adapter_bytes = state_nbytes(task_from_json(json.dumps(spec, sort_keys=True)).initial_state)
    assert adapter_bytes > 0
    assert record["uplink_bytes"] == 2 * adapter_bytes  # each of the 2 clients sends its adapter once
    assert record["dropped"] == [] and not record["skipped"]


@pytest.mark.parametrize(("args", "needle"), [
    (["--engine", "inprocess", "--dp", "client-fixed"], "--dp"),
    (["--engine", "inprocess", "--dim", "7"], "--dim"),
    (["--engine", "simulation"], "--engine inprocess"),
])
def test_firm_flower_rlhf_backend_refuses_numpy_options(tmp_path, args, needle):
    result = CliRunner().invoke(flower, ["--backend", "rlhf", "--clients", "2", "--rounds", "1", *args,
                                         "--out", str(tmp_path)])
    assert result.exit_code == 2 and needle in result.output, result.output
    assert not (tmp_path / "history.json").exists()
