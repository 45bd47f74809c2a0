"""`firm sweep`: preference grid, and a 3-point sweep whose hypervolume is positive and at most the
analytic front's."""

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from firm.cli import main
from firm.experiments.sweep import PARETO_PLOT, SWEEP_FILE, default_reference, preference_grid
from tests.experiments.helpers import tiny_config


def test_preference_grid():
    np.testing.assert_allclose(preference_grid(2, 3), [[1, 0], [0.5, 0.5], [0, 1]])
    g = preference_grid(3, 3)  # lattice with 3 values per edge: 6 points
    assert g.shape == (6, 3)
    np.testing.assert_allclose(g.sum(axis=1), 1.0)
    assert np.all(g >= 0) and len({tuple(r) for r in g}) == 6
    assert {tuple(r) for r in (2 * g).round().astype(int)} == {(2, 0, 0), (0, 2, 0), (0, 0, 2), (1, 1, 0), (1, 0, 1), (0, 1, 1)}
    for bad in [(1, 3), (2, 1), (2, 2.5), (True, 3)]:
        with pytest.raises(ValueError, match="must be an integer"):
            preference_grid(*bad)


def test_default_reference_is_beyond_the_nadir():
    front = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(default_reference(front), [1.1, 1.1])
    np.testing.assert_allclose(default_reference(np.array([[2.0, 3.0]])), [2.2, 3.3])


def test_sweep_writes_pareto_plot_and_bounded_hypervolume(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(tiny_config()))
    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, ["sweep", "--config", str(config), "--points", "3", "--rounds", "30",
                                       "--out", str(out), "--quiet"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (out / PARETO_PLOT).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / SWEEP_FILE).read_text())
    np.testing.assert_allclose(data["preferences"], preference_grid(2, 3))
    assert list(data["algorithms"]) == ["FIRM (beta=1)", "FedAvg-LS"]
    front_hv = data["front_hypervolume"]
    assert front_hv > 0
    for label, entry in data["algorithms"].items():
        assert np.asarray(entry["points"]).shape == (3, 2)
        assert 0 < entry["hypervolume"] <= front_hv, label
        assert entry["igd"] > 0
        assert [r["preference"] for r in entry["runs"]] == data["preferences"]
        assert label in result.output


def test_run_and_sweep_on_a_problem_without_analytic_front(tmp_path, monkeypatch):
    from firm.experiments.results import load_histories, read_metrics
    from firm_core.problems import PROBLEMS

    monkeypatch.setitem(PROBLEMS, "no_front", ("tests.experiments.helpers:QuadraticsWithoutFront", {}))
    raw = tiny_config()
    raw["problem"]["name"] = "no_front"
    raw["algorithms"] = raw["algorithms"][:2]
    config = tmp_path / "nofront.yaml"
    config.write_text(yaml.safe_dump(raw))
    run = CliRunner().invoke(main, ["run", "--config", str(config), "--out", str(tmp_path / "run"), "--quiet"],
                             catch_exceptions=False)
    assert run.exit_code == 0, run.output
    assert read_metrics(tmp_path / "run")["pareto_front"] is None
    assert all(h.final()["dist_pareto"] is None for h in load_histories(tmp_path / "run").values())
    assert (tmp_path / "run" / "front.png").exists()
    sweep = CliRunner().invoke(main, ["sweep", "--config", str(config), "--points", "2", "--out", str(tmp_path / "sw"),
                                      "--quiet"], catch_exceptions=False)
    assert sweep.exit_code == 0, sweep.output
    data = json.loads((tmp_path / "sw" / SWEEP_FILE).read_text())
    assert data["front_hypervolume"] is None and data["reference"] is None
    assert all(e["hypervolume"] is None and np.asarray(e["points"]).shape == (2, 2) for e in data["algorithms"].values())
    assert (tmp_path / "sw" / PARETO_PLOT).exists()


def test_diverged_runs_are_listed_and_left_out_of_the_scores(tmp_path):
    import warnings

    from firm.experiments import validate_config
    from firm.experiments.sweep import run_sweep

    raw = tiny_config(rounds=120)
    raw["sweep"] = {"points": 3, "algorithms": [{"name": "firm"},
                                                {"name": "fedavg_ls", "server_lr": 30.0, "lr": 0.5}]}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        out = run_sweep(validate_config(raw), tmp_path, progress=False)
    assert len(out.diverged["FedAvg-LS"]) == 3 and out.diverged["FIRM (beta=1)"] == []
    assert out.points["FedAvg-LS"].shape == (0, 2) and "FedAvg-LS" not in out.hypervolume
    assert np.isfinite(out.hypervolume["FIRM (beta=1)"]) and "(3 diverged, left out)" in out.table
    runs = json.loads((tmp_path / SWEEP_FILE).read_text())["algorithms"]["FedAvg-LS"]["runs"]
    assert {r["status"] for r in runs} == {"diverged"} and all("server_lr = 30" in r["message"] for r in runs)
