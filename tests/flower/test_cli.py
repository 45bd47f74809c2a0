"""`firm flower` (in-process engine: the same strategy and ClientApp, no Ray)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("flwr")

from click.testing import CliRunner  # noqa: E402

from backends.flower.cli import flower  # noqa: E402
from firm.cli import main  # noqa: E402

from firm_core.federated.checkpoint import MANIFEST_FILE  # noqa: E402

pytestmark = pytest.mark.flower


def test_firm_flower_inprocess_writes_history(tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["flower", "--engine", "inprocess", "--rounds", "3", "--clients", "3",
                                       "--out", str(out), "--checkpoint", str(tmp_path / "ckpt")])
    assert result.exit_code == 0, result.output
    assert "phi:" in result.output and "uplink per round: 15 floats (120 B)" in result.output
    data = json.loads((out / "history.json").read_text())
    assert len(data["records"]) == 3 and data["final"]["round"] == 3
    assert (tmp_path / "ckpt" / MANIFEST_FILE).is_file()
    resumed = CliRunner().invoke(flower, ["--engine", "inprocess", "--rounds", "5", "--clients", "3", "--out", str(out),
                                          "--resume", str(tmp_path / "ckpt")])
    assert resumed.exit_code == 0, resumed.output
    assert len(json.loads((out / "history.json").read_text())["records"]) == 5


@pytest.mark.parametrize(("args", "needle"), [
    (["--lr", "-1"], "--lr"),
    (["--participation", "9"], "--participation"),
    (["--noise-std", "-1"], "--noise-std"),
    (["--heterogeneity", "-1"], "--heterogeneity"),
])
def test_firm_flower_rejects_bad_values(tmp_path, args, needle):
    result = CliRunner().invoke(flower, ["--engine", "inprocess", "--clients", "3", *args, "--out", str(tmp_path)])
    assert result.exit_code == 2 and needle in result.output, result.output
    assert not (tmp_path / "history.json").exists()


@pytest.fixture
def nothing_may_start(monkeypatch):
    """Fail the test if a run, a SuperLink or a model load begins: option errors must come first."""
    from backends.flower import launch, server_app

    def forbidden(*_args, **_kwargs):
        raise AssertionError("a run, SuperLink or model load started before the options were checked")

    monkeypatch.setattr(launch, "run_app", forbidden)
    monkeypatch.setattr(server_app, "run_strategy", forbidden)
    try:
        import backends.rlhf.policy as policy
    except ImportError:  # no torch: nothing of it can load either
        return
    monkeypatch.setattr(policy, "load_base", forbidden)


def _garbage_dir(path, files):
    path.mkdir()
    for name, text in files.items():
        (path / name).write_text(text)
    return str(path)


def _checkpoint(tmp_path, rounds=2, lr=0.05):
    from firm_core.federated.config import AlgorithmConfig, RunConfig
    from firm_core.federated.engine import run as engine_run
    from firm_core.problems import make_problem

    problem = make_problem("quadratics", num_clients=3, num_objectives=2, dim=5, heterogeneity=1.0, noise_std=0.1, seed=0)
    algorithm = AlgorithmConfig(name="firm", local_steps=5, lr=lr, server_lr=1.0, beta=1.0, seed=0)
    engine_run(problem, algorithm, RunConfig(rounds=rounds), progress=False, checkpoint_dir=tmp_path / "ckpt")
    return str(tmp_path / "ckpt")


def _bad_cases(tmp_path):
    """(command-line arguments, the option the one-line error must name, a phrase of the reason)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    torn = _checkpoint(tmp_path)
    (tmp_path / "ckpt" / MANIFEST_FILE).write_text("{ not json")
    return {
        "lr inf": (["--lr", "inf"], "--lr", "finite"),
        "lr nan": (["--lr", "nan"], "--lr", "finite"),
        "server-lr inf": (["--server-lr", "inf"], "--server-lr", "finite"),
        "beta -inf": (["--beta", "-inf"], "--beta", "finite"),
        "timeout 0": (["--timeout", "0"], "--timeout", "> 0"),
        "preference nan": (["--preference", "nan,1"], "--preference", "finite"),
        "preference words": (["--preference", "a,b"], "--preference", "comma-separated"),
        "preference length": (["--preference", "0.2,0.3,0.5"], "--preference", "one weight per objective"),
        "preference zero": (["--preference", "0,0"], "--preference", "positive sum"),
        "seed -1": (["--seed", "-1"], "--seed", "-1"),
        "out under a file": (["--out", str(a_file / "out")], "--out", "not a directory"),
        "out is a file": (["--out", str(a_file)], "--out", "is a file"),
        "out unwritable": (["--out", "/proc/firm-flower-out"], "--out", "cannot write"),
        "checkpoint under a file": (["--checkpoint", str(a_file / "c")], "--checkpoint", "not a directory"),
        "checkpoint unwritable": (["--checkpoint", "/proc/firm-ckpt"], "--checkpoint", "cannot write"),
        "resume empty folder": (["--resume", str(_garbage_dir(tmp_path / "empty", {}))], "--resume", "holds no"),
        "resume torn checkpoint": (["--resume", torn], "--resume", "not a usable checkpoint"),
        "model without config": (["--backend", "rlhf", "--engine", "inprocess", "--model",
                                  _garbage_dir(tmp_path / "m1", {"weights.bin": "garbage"})], "--model", "without config.json"),
        "model with a broken config": (["--backend", "rlhf", "--engine", "inprocess", "--model",
                                        _garbage_dir(tmp_path / "m2", {"config.json": "{garbage"})], "--model", "does not parse"),
        "model is a file": (["--backend", "rlhf", "--engine", "inprocess", "--model", str(a_file)], "--model", "is a file"),
        "reward folder with garbage": (["--backend", "rlhf", "--engine", "inprocess", "--reward",
                                        _garbage_dir(tmp_path / "r1", {"config.json": "[1, 2]"})], "--reward", "model_type"),
        "reward twice": (["--backend", "rlhf", "--engine", "inprocess", "--reward", "brevity", "--reward", "brevity"],
                         "--reward", "twice"),
        "model on numpy": (["--model", "tiny2"], "--model", "rlhf backend only"),
        "device misspelled": (["--backend", "rlhf", "--device", "gpu0"], "--device", "got 'gpu0'"),
        "device on numpy": (["--device", "cuda"], "--device", "rlhf backend only"),
    }


CASES = ["lr inf", "lr nan", "server-lr inf", "beta -inf", "timeout 0", "preference nan", "preference words",
         "preference length", "preference zero", "seed -1", "out under a file", "out is a file", "out unwritable",
         "checkpoint under a file", "checkpoint unwritable", "resume empty folder", "resume torn checkpoint",
         "model without config", "model with a broken config", "model is a file", "reward folder with garbage",
         "reward twice", "model on numpy", "device misspelled", "device on numpy"]


@pytest.mark.parametrize("case", CASES)
def test_bad_options_are_one_line_errors_before_anything_starts(tmp_path, nothing_may_start, case):
    args, option, reason = _bad_cases(tmp_path)[case]
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(flower, ["--clients", "3", "--rounds", "3", *args])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError)
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert option in error and reason in error, error
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("override", "reason"), [
    ({"lr": 0.2}, "`lr`"),  # written with another config
    ({"clients": 4}, "another problem"),
    ({"rounds": 1}, "beyond --rounds 1"),
])
def test_resume_of_a_foreign_or_too_far_checkpoint_is_refused(tmp_path, nothing_may_start, override, reason):
    ckpt = _checkpoint(tmp_path, rounds=2)
    rounds = str(override.get("rounds", 3))
    lr = str(override.get("lr", 0.05))
    clients = str(override.get("clients", 3))
    result = CliRunner().invoke(flower, ["--clients", clients, "--rounds", rounds, "--lr", lr, "--resume", ckpt,
                                         "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, (result.output, result.exception)
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "--resume" in error and reason in error, error


def test_a_usable_checkpoint_passes_the_resume_check(tmp_path):
    """The resume check accepts what it should: an engine checkpoint of the same config continues."""
    ckpt = _checkpoint(tmp_path, rounds=2)
    result = CliRunner().invoke(flower, ["--engine", "inprocess", "--clients", "3", "--rounds", "3", "--resume", ckpt,
                                         "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "out" / "history.json").read_text())["records"]) == 3


@pytest.mark.torch
def test_firm_flower_rlhf_backend_inprocess(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from backends.flower.rlhf.settings import task_from_json
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
    (["--engine", "simulation", "--noise-std", "0.5"], "--noise-std"),  # refused before any SuperLink starts
])
def test_firm_flower_rlhf_backend_refuses_numpy_options(tmp_path, args, needle):
    result = CliRunner().invoke(flower, ["--backend", "rlhf", "--clients", "2", "--rounds", "1", *args,
                                         "--out", str(tmp_path)])
    assert result.exit_code == 2 and needle in result.output, result.output
    assert not (tmp_path / "history.json").exists()


@pytest.mark.torch
def test_a_model_folder_that_passes_the_check_but_does_not_load_is_one_line(tmp_path):
    """A config.json naming a model_type but no weights: the cheap check passes, loading fails, and the
    user gets one line naming --model, not a traceback."""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    folder = _garbage_dir(tmp_path / "m", {"config.json": json.dumps({"model_type": "gpt2"}), "junk.bin": "x"})
    result = CliRunner().invoke(flower, ["--engine", "inprocess", "--backend", "rlhf", "--clients", "2", "--rounds", "1",
                                         "--model", folder, "--out", str(tmp_path / "out")])
    assert result.exit_code == 1, (result.output, result.exception)
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert "--model" in error and "did not load" in error and "Traceback" not in result.output
    assert not (tmp_path / "out" / "history.json").exists()


@pytest.mark.torch
def test_firm_flower_rlhf_reads_the_task_table_of_firm_rlhf(tmp_path, monkeypatch):
    """--config takes the [task] / [algorithm] / [run] of a `firm rlhf` config; relative paths in it are made
    absolute against the current directory; a bad [task] value is a one-line usage error naming it."""
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from backends.flower.rlhf.settings import task_config
    from backends.rlhf.cli import config_sections
    from tests.flower.test_rlhf_run_config import write_task_files

    write_task_files(tmp_path)
    config = tmp_path / "task.toml"
    config.write_text('[task]\nrewards = ["brevity", "my_reward.py:shortness"]\nprompts = "prompts.jsonl"\n'
                      'split_by = "topic"\ngroup_size = 4\nprompts_per_step = 2\nmax_new_tokens = 8\neval_samples = 0\n'
                      'kl_target = 0.5\ndevice = "cpu"\n[algorithm]\nlocal_steps = 1\nbeta = 0.5\n[run]\nrounds = 1\n')
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(flower, ["--backend", "rlhf", "--engine", "inprocess", "--config", "task.toml",
                                         "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "history.json").read_text())
    described = data["metadata"]["problem"]["task_config"]
    task, alg, _ = config_sections("task.toml")
    expected = task_config({"name": "rlhf", **task}).to_dict()
    expected.update(prompts=str(tmp_path / "prompts.jsonl"), rewards=["brevity", f"{tmp_path / 'my_reward.py'}:shortness"])
    assert described == {k: v for k, v in expected.items() if k != "device"}
    assert data["metadata"]["config"]["local_steps"] == 1 and data["metadata"]["config"]["beta"] == 0.5
    assert len(data["records"]) == 1 and data["records"][0]["dropped"] == []
    config.write_text('[task]\nkl_control = "pid"\n')
    result = CliRunner().invoke(flower, ["--backend", "rlhf", "--engine", "inprocess", "--config", "task.toml",
                                         "--out", str(out)])
    assert result.exit_code == 2 and "`kl_control`" in result.output and "'pid'" in result.output, result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(flower, ["--config", "task.toml", "--out", str(out)])
    assert result.exit_code == 2 and "--config applies to --backend rlhf" in result.output, result.output
