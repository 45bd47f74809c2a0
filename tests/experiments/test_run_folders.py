"""`firm run` output and resume folders: checked before any work, and nothing firm did not write is ever
deleted; an edited or damaged run folder is refused with a message; a diverging algorithm is a result."""

import json

import pytest
import yaml
from click.testing import CliRunner

from firm.cli import main
from firm.experiments.results import METRICS_FILE, read_metrics
from firm_core.federated import engine
from tests.experiments.helpers import tiny_config, with_change


def _config(tmp_path, raw=None, name="tiny.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw if raw is not None else two_algorithms()))
    return path


def two_algorithms(rounds=4):
    raw = tiny_config(rounds=rounds)
    raw["algorithms"] = [{"name": "firm"}, {"name": "fedavg_ls"}]
    return raw


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    """Plots are tested elsewhere; drawing them would dominate these tests' time."""
    from firm.experiments import runner

    monkeypatch.setattr(runner, "draw_run_plots", lambda *args, **kwargs: {})


@pytest.fixture
def no_work(monkeypatch):
    """Fails the test if any algorithm starts running."""
    def forbidden(*args, **kwargs):
        raise AssertionError("an algorithm ran although the folder should have been refused first")

    monkeypatch.setattr(engine, "run", forbidden)


def test_an_empty_out_is_refused_instead_of_writing_into_the_current_folder(tmp_path, monkeypatch, no_work):
    monkeypatch.chdir(tmp_path)
    for empty in ("", "  "):
        result = _invoke("run", "--config", _config(tmp_path), "--out", empty)
        assert result.exit_code == 2 and "--out must name an output folder" in result.output
        result = _invoke("sweep", "--config", _config(tmp_path), "--out", empty)
        assert result.exit_code == 2 and "--out must name an output folder" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]


def test_a_folder_of_other_files_is_refused_and_left_untouched(tmp_path, no_work):
    out = tmp_path / "mine"
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "notes.txt").write_text("keep me")
    (out / "data.csv").write_text("1,2")
    result = _invoke("run", "--config", _config(tmp_path), "--out", out)
    assert result.exit_code == 2
    assert "already holds files that are not from a firm run (checkpoints, data.csv)" in result.output
    assert (out / "checkpoints" / "notes.txt").read_text() == "keep me" and (out / "data.csv").read_text() == "1,2"


def test_rerunning_into_a_run_folder_keeps_the_users_files(tmp_path):
    """The earlier behaviour deleted DIR/checkpoints/ wholesale, with whatever the user had put there."""
    out = tmp_path / "out"
    config = _config(tmp_path)
    assert _invoke("run", "--config", config, "--out", out, "--quiet").exit_code == 0
    (out / "checkpoints" / "my-notes.txt").write_text("keep me")
    (out / "checkpoints" / "firm_beta_1" / "plot-I-made.png").write_bytes(b"png")
    (out / "README.txt").write_text("mine too")
    result = _invoke("run", "--config", config, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert (out / "checkpoints" / "my-notes.txt").read_text() == "keep me"
    assert (out / "checkpoints" / "firm_beta_1" / "plot-I-made.png").read_bytes() == b"png"
    assert (out / "README.txt").read_text() == "mine too"
    assert {v["status"] for v in read_metrics(out)["algorithms"].values()} == {"done"}


@pytest.mark.parametrize("where", ["out", "checkpoints", "checkpoints/fedavg_ls"])
def test_a_file_where_a_folder_belongs_is_refused_before_any_work(where, tmp_path, no_work):
    out = tmp_path / "out"
    target = out / where if where != "out" else out
    target.parent.mkdir(parents=True, exist_ok=True)
    if where != "out":
        (out / METRICS_FILE).write_text(json.dumps({"format": "firm-run", "version": 1, "config": {},
                                                     "algorithms": {}}))
    target.write_text("a file")
    result = _invoke("run", "--config", _config(tmp_path), "--out", out)
    assert result.exit_code == 2 and "is a file" in result.output, result.output
    assert target.read_text() == "a file"


def test_an_unwritable_out_folder_is_refused_before_any_work(tmp_path, monkeypatch, no_work):
    import tempfile

    from firm.experiments import runner

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(runner.tempfile, "mkstemp", denied)
    result = _invoke("run", "--config", _config(tmp_path), "--out", tmp_path / "out")
    assert result.exit_code == 2 and "is not writable (Permission denied)" in result.output
    assert tempfile.mkstemp is denied  # the same module object: the probe really went through it


def _interrupted_run(tmp_path, monkeypatch):
    """A two-algorithm run stopped by Ctrl-C in round 2 of FedAvg-LS (its checkpoint at round 2)."""
    import contextlib

    from firm.experiments import runner

    @contextlib.contextmanager
    def interrupting_bar(label, enabled=True):
        def hook(record, total):
            if label == "FedAvg-LS" and record.round == 1:
                raise KeyboardInterrupt

        yield hook

    out = tmp_path / "cut"
    with monkeypatch.context() as m:
        m.setattr(runner, "round_bar", interrupting_bar)
        result = _invoke("run", "--config", _config(tmp_path), "--out", out, "--quiet")
    assert result.exit_code == 130, result.output
    return out


def test_resume_of_an_edited_run_folder_is_refused_with_a_message(tmp_path, monkeypatch):
    out = _interrupted_run(tmp_path, monkeypatch)
    metrics = read_metrics(out)
    metrics["config"]["algorithms"][0]["beta"] = 7.0  # the config now names firm_beta_7, the table firm_beta_1
    (out / METRICS_FILE).write_text(json.dumps(metrics))
    result = _invoke("run", "--resume", out)
    assert result.exit_code == 2
    assert "lists the algorithms ['firm_beta_1', 'fedavg_ls'] but its config gives ['firm_beta_7', 'fedavg_ls']" \
        in result.output
    assert "Traceback" not in result.output and "KeyError" not in result.output


def test_resume_with_a_damaged_checkpoint_is_refused_before_any_work(tmp_path, monkeypatch):
    out = _interrupted_run(tmp_path, monkeypatch)
    ckpt = out / "checkpoints" / "fedavg_ls"
    manifest = json.loads((ckpt / "manifest.json").read_text())
    state = ckpt / manifest["state_file"]
    state.write_bytes(state.read_bytes()[:30])
    monkeypatch.setattr(engine, "run", lambda *a, **k: pytest.fail("ran although the checkpoint is damaged"))
    result = _invoke("run", "--resume", out)
    assert result.exit_code == 2
    assert "cannot resume FedAvg-LS from" in result.output and "is damaged" in result.output
    assert "delete that folder to start the run from round 0" in result.output


def test_resume_of_a_run_interrupted_before_saving_anything_says_to_start_over(tmp_path, monkeypatch):
    from firm.experiments import runner

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.results, "new_metrics", interrupt)
    out = tmp_path / "early"
    result = _invoke("run", "--config", _config(tmp_path), "--out", out, "--quiet")
    assert result.exit_code == 130
    assert "interrupted before anything was saved" in result.output and "run the same command again" in result.output


def test_a_diverging_algorithm_is_kept_as_a_result(tmp_path):
    raw = with_change(two_algorithms(rounds=120), ("algorithms", 1), {"name": "fedavg_ls", "server_lr": 30.0, "lr": 0.5})
    raw["run"]["checkpoint_every"] = 20
    out = tmp_path / "out"
    result = _invoke("run", "--config", _config(tmp_path, raw), "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert "note: fedavg_ls diverged and stopped early:" in result.output
    entry = read_metrics(out)["algorithms"]["fedavg_ls"]
    assert entry["status"] == "diverged" and "lower `lr` or `server_lr`" in entry["error"]
    assert 0 < len(entry["history"]["records"]) < 120 and entry["history"]["status"] == "diverged"
    assert (out / "fedavg_ls.csv").exists() and "diverged" in result.output
    again = _invoke("run", "--resume", out)
    assert again.exit_code == 0 and "FedAvg-LS: diverged earlier, kept" in again.output


def test_a_divergence_saved_only_in_its_checkpoint_is_kept_on_resume(tmp_path, monkeypatch):
    """Ctrl-C between a diverged algorithm's final checkpoint and metrics.json: the resume takes the
    checkpoint's history as the result instead of refusing to resume a diverged run."""
    raw = with_change(two_algorithms(rounds=120), ("algorithms", 1), {"name": "fedavg_ls", "server_lr": 30.0, "lr": 0.5})
    out = tmp_path / "out"
    assert _invoke("run", "--config", _config(tmp_path, raw), "--out", out, "--quiet").exit_code == 0
    metrics = read_metrics(out)
    want = metrics["algorithms"]["fedavg_ls"]["history"]
    metrics["algorithms"]["fedavg_ls"].update(status="pending", error=None, summary=None, history=None)
    (out / METRICS_FILE).write_text(json.dumps(metrics))
    monkeypatch.setattr(engine, "run", lambda *a, **k: pytest.fail("reran an algorithm whose checkpoint diverged"))
    result = _invoke("run", "--resume", out)
    assert result.exit_code == 0, result.output
    assert "FedAvg-LS: diverged earlier (its checkpoint says so), kept" in result.output
    got = read_metrics(out)["algorithms"]["fedavg_ls"]
    assert got["status"] == "diverged"
    strip = lambda h: [{k: v for k, v in r.items() if k != "wall_time"} for r in h["records"]]  # noqa: E731
    assert strip(got["history"]) == strip(want) and got["history"]["final"] == want["final"]


@pytest.mark.parametrize("edit", ["history", "summary", "record"])
def test_resume_refuses_a_finished_result_that_was_edited(edit, tmp_path, monkeypatch):
    out = _interrupted_run(tmp_path, monkeypatch)
    metrics = read_metrics(out)
    entry = metrics["algorithms"]["firm_beta_1"]
    if edit == "history":
        entry["history"] = None
    elif edit == "summary":
        entry["summary"] = {"label": "FIRM"}
    else:
        entry["history"]["records"][1]["round"] = 7
    (out / METRICS_FILE).write_text(json.dumps(metrics))
    result = _invoke("run", "--resume", out)
    assert result.exit_code == 2, result.output
    assert "algorithm 'firm_beta_1' is marked 'done' but its saved result is unreadable" in result.output
    assert "Traceback" not in result.output
