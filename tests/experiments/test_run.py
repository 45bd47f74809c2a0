"""`firm run` end to end through click's CliRunner: promised files, metrics.json round trip, failure
isolation, and --resume after an interrupt giving the uninterrupted results."""

import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from firm.cli import main
from firm.experiments.results import METRICS_FILE, load_histories, read_metrics
from firm.experiments.runner import PLOT_FILES
from firm_core.federated import engine
from firm_core.federated.config import ALGORITHMS, DISPLAY_NAMES
from firm_core.federated.history import History
from tests.experiments.helpers import tiny_config

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: Record fields that legitimately differ between two runs of the same config (timings).
TIMING_FIELDS = ("wall_time",)


def _write_config(tmp_path, raw, name="tiny.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_run_writes_every_promised_file_and_metrics_load_back(tmp_path):
    out = tmp_path / "out"
    result = _invoke("run", "--config", _write_config(tmp_path, tiny_config()), "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    keys = [name for name in ALGORITHMS]  # default labels: FIRM (beta=1) -> firm_beta_1, others their names
    keys[0] = "firm_beta_1"
    expected = {METRICS_FILE, *PLOT_FILES.values(), *(f"{k}.csv" for k in keys)}
    assert expected <= {p.name for p in out.iterdir()}
    for png in PLOT_FILES.values():
        assert (out / png).read_bytes()[:8] == PNG_MAGIC
    # the summary table names every algorithm
    for name in ALGORITHMS:
        assert DISPLAY_NAMES[name] in result.output
    assert "phi(x_T)" in result.output and "uplink/round" in result.output

    histories = load_histories(out)
    assert list(histories) == keys
    metrics = read_metrics(out)
    assert metrics["config"] == tiny_config()
    assert metrics["problem"]["num_clients"] == 4
    assert np.asarray(metrics["pareto_front"]).shape[1] == 2
    for key, hist in histories.items():
        assert isinstance(hist, History) and len(hist) == 4
        assert hist.final_point["round"] == 4
        assert metrics["algorithms"][key]["status"] == "done"
        csv = History.read_csv(out / f"{key}.csv")
        np.testing.assert_array_equal(csv["round"], np.arange(4))
        np.testing.assert_allclose(csv["phi"], hist.series("phi"), rtol=1e-15)
        summary = metrics["algorithms"][key]["summary"]
        assert summary["phi"] == pytest.approx(hist.final()["phi"], rel=1e-15)
    # FMGDA/FSMGDA upload M updates per client: twice FIRM's uplink on M = 2
    up = {k: h.records[-1].uplink_floats for k, h in histories.items()}
    assert up["fmgda"] == 2 * up["firm_beta_1"]


def test_default_run_with_no_config(tmp_path, monkeypatch):
    """The embedded default (N = 20, all six algorithms), shortened to 3 rounds; default folder runs/default."""
    monkeypatch.chdir(tmp_path)
    result = _invoke("run", "--rounds", "3", "--quiet")
    assert result.exit_code == 0, result.output
    out = tmp_path / "runs" / "default"
    histories = load_histories(out)
    assert len(histories) == len(ALGORITHMS)
    assert all(len(h) == 3 for h in histories.values())
    assert read_metrics(out)["problem"]["num_clients"] == 20


def test_a_failing_algorithm_loses_nothing_else(tmp_path, monkeypatch):
    real_run = engine.run

    def flaky_run(problem, cfg, *args, **kwargs):
        if cfg.name == "fmgda":
            raise FloatingPointError("injected failure")
        return real_run(problem, cfg, *args, **kwargs)

    monkeypatch.setattr(engine, "run", flaky_run)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", "--config", str(_write_config(tmp_path, tiny_config())), "--out", str(out),
                                       "--quiet"])
    assert result.exit_code == 1
    assert "1 algorithm(s) failed: fmgda (FloatingPointError: injected failure)" in result.output
    metrics = read_metrics(out)
    assert metrics["algorithms"]["fmgda"]["status"] == "failed"
    assert "injected failure" in metrics["algorithms"]["fmgda"]["error"]
    assert sorted(load_histories(out)) == sorted(k for k in metrics["algorithms"] if k != "fmgda")
    assert not (out / "fmgda.csv").exists() and (out / "fsmgda.csv").exists() and (out / "phi.png").exists()


def _records_without_timings(metrics, key):
    hist = metrics["algorithms"][key]["history"]
    recs = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in hist["records"]]
    return recs, hist["final"]


def test_resume_after_an_interrupt_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    raw = tiny_config(rounds=6)
    config = _write_config(tmp_path, raw)
    full, cut = tmp_path / "full", tmp_path / "cut"
    assert _invoke("run", "--config", config, "--out", full, "--quiet").exit_code == 0

    import contextlib

    from firm.experiments import runner

    @contextlib.contextmanager
    def interrupting_bar(label, enabled=True):
        def hook(record, total):
            if label == "FMGDA" and record.round == 3:
                raise KeyboardInterrupt  # Ctrl-C right after round 3 of the 4th algorithm

        yield hook

    monkeypatch.setattr(runner, "round_bar", interrupting_bar)
    interrupted = CliRunner().invoke(main, ["run", "--config", str(config), "--out", str(cut), "--quiet"])
    assert interrupted.exit_code == 130
    assert "interrupted: 3 of 6 algorithms finished; FMGDA: interrupted by the user; checkpoint at round 4" \
        in interrupted.output
    assert f"continue with: firm run --resume {cut}" in interrupted.output
    metrics = read_metrics(cut)
    statuses = {k: v["status"] for k, v in metrics["algorithms"].items()}
    assert statuses == {"firm_beta_1": "done", "local_mgda": "done", "fedavg_ls": "done", "fmgda": "interrupted",
                        "fsmgda": "pending", "fedcmoo": "pending"}
    state, saved = engine.load_checkpoint(cut / "checkpoints" / "fmgda")
    assert state.round == 4 and saved.status == "interrupted"
    monkeypatch.undo()

    calls = []  # (algorithm, resume_from) of every engine run the resume makes
    real_run = engine.run

    def spy_run(problem, cfg, run_config, **kwargs):
        calls.append((cfg.name, kwargs.get("resume_from")))
        return real_run(problem, cfg, run_config, **kwargs)

    monkeypatch.setattr(engine, "run", spy_run)
    resumed = _invoke("run", "--resume", cut)
    assert resumed.exit_code == 0, resumed.output
    # finished algorithms are not rerun; the interrupted one continues from its checkpoint
    assert calls == [("fmgda", cut / "checkpoints" / "fmgda"), ("fsmgda", None), ("fedcmoo", None)]
    assert "FMGDA (resuming from its checkpoint at round 4)" in resumed.output
    assert "FIRM (beta=1): done earlier, kept" in resumed.output
    a, b = read_metrics(full), read_metrics(cut)
    assert list(a["algorithms"]) == list(b["algorithms"])
    for key in a["algorithms"]:
        assert b["algorithms"][key]["status"] == "done"
        assert _records_without_timings(a, key) == _records_without_timings(b, key), key
    # the CSVs agree too, timing column aside
    for key in a["algorithms"]:
        ca, cb = History.read_csv(full / f"{key}.csv"), History.read_csv(cut / f"{key}.csv")
        for col in ca:
            if col not in TIMING_FIELDS:
                np.testing.assert_array_equal(ca[col], cb[col], err_msg=f"{key}.{col}")


def test_resume_refuses_other_options_and_non_run_folders(tmp_path):
    result = CliRunner().invoke(main, ["run", "--resume", str(tmp_path), "--rounds", "3"])
    assert result.exit_code == 2 and "drop --rounds" in result.output
    result = CliRunner().invoke(main, ["run", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and "no metrics.json" in result.output
    (tmp_path / METRICS_FILE).write_text(json.dumps({"format": "something-else"}))
    result = CliRunner().invoke(main, ["run", "--resume", str(tmp_path)])
    assert result.exit_code == 2 and "is not a firm run's metrics.json" in result.output
