"""`firm rlhf` wiring: listed rewards, prompt sets and splits, the beta convention, KL control options,
and bad input refused with one clear line before any model loads."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from click.testing import CliRunner  # noqa: E402

from firm.cli import main  # noqa: E402

pytestmark = pytest.mark.torch


class Captured(Exception):
    pass


@pytest.fixture
def no_model(monkeypatch):
    """Loading a model fails the test; run_rlhf records what it was given and stops the command."""
    import backends.rlhf.experiment as experiment
    import backends.rlhf.policy as policy

    seen = {}

    def no_load(*a, **k):
        raise AssertionError("a model was loaded")

    def fake_run(out_dir, task_cfg, algorithm, rounds, **kw):
        seen.update(task=task_cfg, algorithm=algorithm, rounds=rounds, **kw)
        raise ValueError("captured the run")

    monkeypatch.setattr(policy, "load_base", no_load)
    monkeypatch.setattr(experiment, "run_rlhf", fake_run)
    return seen


def invoke(tmp_path, *args):
    return CliRunner().invoke(main, ["rlhf", *args, "--out", str(tmp_path / "out"), "--quiet", "--device", "cpu"])


def test_listed_rewards_replace_the_defaults(tmp_path, no_model):
    res = invoke(tmp_path, "--reward", "harmless", "--reward", "helpful")
    assert "captured the run" in res.output, res.output
    cfg = no_model["task"]
    assert cfg.rewards == ("harmless", "helpful")
    assert cfg.prompt_set() == "alignment"  # the shipped alignment prompts are the default for these rewards


def test_no_reward_option_keeps_the_default_pair_and_the_sentence_openings(tmp_path, no_model):
    invoke(tmp_path)
    assert no_model["task"].rewards == ("positive_sentiment", "brevity")
    assert no_model["task"].prompt_set() is None


def test_reward_model_alone_does_not_add_the_defaults(tmp_path, no_model, monkeypatch):
    folder = tmp_path / "rm"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")
    import backends.rlhf.rewards as rewards

    monkeypatch.setattr(rewards, "SequenceClassifierReward", lambda path: type("R", (), {"name": "rm"})())
    res = invoke(tmp_path, "--reward-model", str(folder))
    assert "captured the run" in res.output, res.output
    assert no_model["task"].rewards == (str(folder),)


def test_config_rewards_list_is_used(tmp_path, no_model):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[task]\nrewards = ["brevity"]\n')
    invoke(tmp_path, "--config", str(cfg))
    assert no_model["task"].rewards == ("brevity",)


def test_beta_is_absolute_unless_beta_relative(tmp_path, no_model):
    invoke(tmp_path, "--beta", "0.3")
    assert no_model["algorithm"].beta == 0.3 and no_model["task"].beta_relative is False
    invoke(tmp_path, "--beta", "0.3", "--beta-relative")
    assert no_model["algorithm"].beta == 0.3 and no_model["task"].beta_relative is True
    cfg = tmp_path / "c.toml"
    cfg.write_text("[algorithm]\nbeta = 0.4\nbeta_relative = true\n")
    invoke(tmp_path, "--config", str(cfg))
    assert no_model["algorithm"].beta == 0.4 and no_model["task"].beta_relative is True


def test_a_firm_config_runs_a_baseline_chosen_on_the_command_line(tmp_path, no_model):
    """The shipped examples set FIRM's relative beta; `--algorithm fedavg_ls` on them drops FIRM's beta
    settings (as it drops beta), while a file that names the baseline itself and sets them is refused."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('[algorithm]\nname = "firm"\nbeta = 0.5\nbeta_relative = true\n')
    invoke(tmp_path, "--config", str(cfg), "--algorithm", "fedavg_ls")
    assert no_model["algorithm"].name == "fedavg_ls" and no_model["task"].beta_relative is False
    bad = tmp_path / "bad.toml"
    bad.write_text('[algorithm]\nname = "fedavg_ls"\nbeta_relative = true\n')
    res = CliRunner().invoke(main, ["rlhf", "--config", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "not to fedavg_ls" in res.output


def test_kl_control_options_reach_the_task(tmp_path, no_model):
    invoke(tmp_path, "--kl-coef", "0.1", "--kl-target", "2", "--kl-horizon", "4")
    ctl = no_model["task"].kl_controller()
    assert (ctl.value, ctl.target, ctl.horizon) == (0.1, 2.0, 4.0)
    invoke(tmp_path, "--kl-control", "fixed", "--kl-coef", "0.05")
    assert no_model["task"].kl_controller().to_dict() == {"kind": "fixed", "value": 0.05}


def test_prompts_file_split_by_column(tmp_path, no_model):
    from backends.rlhf.build import task_prompts

    f = tmp_path / "p.jsonl"
    rows = [{"text": f"question {i}", "topic": "a" if i < 3 else "b"} for i in range(5)]
    f.write_text("\n".join(json.dumps(r) for r in rows))
    invoke(tmp_path, "--prompts", str(f), "--prompt-field", "text", "--split-by", "topic")
    pools, evals = task_prompts(no_model["task"])
    assert pools == [["question 0", "question 1", "question 2"], ["question 3", "question 4"]]
    assert evals == [r["text"] for r in rows]


@pytest.mark.parametrize(("args", "needle"), [
    (["--lr", "inf"], "`lr` must be a finite real number, got inf"),
    (["--preference", "nan,1"], "--preference"),
    (["--seed", "-1"], "`seed` must be an integer >= 0, got -1"),
    (["--reward", "kindness"], "Built-ins: positive_sentiment, brevity, harmless, helpful"),
    (["--reward", ""], "rewards"),
    (["--beta-relative"], "needs an explicit --beta"),
    (["--algorithm", "fedavg_ls", "--beta", "0", "--beta-relative"], "--beta applies to firm and fedcmoo"),
    (["--algorithm", "fedcmoo", "--beta", "0.1", "--beta-relative"], "not to fedcmoo"),
    (["--eval-samples", "1"], "eval_samples"),
    (["--kl-target", "0"], "kl_target"),
    (["--kl-coef", "nan"], "kl_coef"),
    (["--kl-control", "adaptive", "--kl-coef", "0"], "kl_coef"),
    (["--split-by", "category"], "split_by"),
    (["--prompts", "alignment", "--clients", "3", "--split-by", "category"], "2 distinct column values"),
    (["--prompts", "alignment", "--split-by", "colour"], "no such column"),
    (["--prompts", "alignment", "--dirichlet-alpha", "-1"], "dirichlet_alpha"),
    (["--prompts", "no/such/file.txt"], "does not exist"),
    (["--prompts", "alignment", "--client-mix", "opinions"], "client_mixes"),
])
def test_bad_input_is_one_clear_line_before_any_model_loads(tmp_path, no_model, args, needle):
    res = invoke(tmp_path, *args)
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output and "captured the run" not in res.output


def test_prompts_file_without_a_usable_prompt(tmp_path, no_model):
    f = tmp_path / "empty.txt"
    f.write_text("\n   \n\n")
    res = invoke(tmp_path, "--prompts", str(f))
    assert res.exit_code == 2 and "--prompts" in res.output and "no usable prompt" in res.output, res.output


def test_config_that_mixes_the_beta_conventions_is_refused(tmp_path, no_model):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[task]\nbeta_relative = true\n[algorithm]\nbeta = 0.5\n")
    res = invoke(tmp_path, "--config", str(cfg))
    assert res.exit_code == 2 and "put `beta_relative` under [algorithm]" in res.output, res.output
    cfg.write_text('[algorithm]\nname = "fedavg_ls"\nbeta_relative = true\n')
    res = invoke(tmp_path, "--config", str(cfg))
    assert res.exit_code == 2 and "not to fedavg_ls" in res.output, res.output
    cfg.write_text('[algorithm]\nbeta = 0.5\nbeta_relative = "yes"\n')
    res = invoke(tmp_path, "--config", str(cfg))
    assert res.exit_code == 2 and "true or false" in res.output, res.output


@pytest.mark.parametrize(("setup", "needle"), [
    (lambda d: (d / "model.safetensors").write_bytes(b""), "has no config.json"),
    (lambda d: ((d / "config.json").write_text('{"auto_map": {"AutoModel": "x.Y"}}'),
                (d / "model.safetensors").write_bytes(b"")), "remote code"),
    (lambda d: ((d / "config.json").write_text("{}"), (d / "pytorch_model.bin").write_bytes(b"")), "pickle"),
])
def test_unsafe_reward_folders_are_refused_with_the_reason(tmp_path, no_model, setup, needle):
    folder = tmp_path / "rm"
    folder.mkdir()
    setup(folder)
    for opt in ("--reward", "--reward-model"):
        res = invoke(tmp_path, opt, str(folder))
        assert res.exit_code == 2 and needle in res.output, res.output
        assert "Traceback" not in res.output


def test_rlhf_help_states_the_beta_convention():
    res = CliRunner().invoke(main, ["rlhf", "--help"])
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert "beta is absolute everywhere in firm" in text and "--beta-relative" in text and "tr(Q) / M" in text


def test_log_tensorboard_without_the_package_names_the_extra(tmp_path, no_model, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    res = invoke(tmp_path, "--log", "tensorboard")
    assert res.exit_code == 2 and "firm[tensorboard]" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("name", ["helpful_harmless_smollm2.toml", "helpful_harmless_tiny.toml", "rlhf_tiny.toml",
                                  "rlhf_smollm2_gpu.toml"])
def test_shipped_rlhf_configs_are_accepted(tmp_path, no_model, monkeypatch, name):
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)  # reward paths in the configs are relative to the repository
    res = invoke(tmp_path, "--config", str(root / "examples" / "configs" / name))  # --device cpu overrides
    assert "captured the run" in res.output, res.output
    task, algo = no_model["task"], no_model["algorithm"]
    assert algo.beta == 0.5 and task.beta_relative is True  # every shipped config keeps the relative beta
    if name.startswith("helpful_harmless"):
        assert task.prompt_set() == "alignment" and task.split_by == "category" and "harmless" in task.rewards
