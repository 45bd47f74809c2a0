"""`firm flower` (in-process engine: the same strategy and ClientApp, no Ray)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("flwr")

from click.testing import CliRunner  # noqa: E402

from backends.flower.cli import flower  # noqa: E402
from firm_core.cli import main  # noqa: E402

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
