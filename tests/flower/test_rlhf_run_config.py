"""The LoRA RLHF task as flat run-config keys (the ``app_rlhf`` app): generated from the fields of
``LLMTaskConfig`` (the task of ``firm rlhf``), declared by the app, overridable as ``flwr run
--run-config`` strings, read back with errors that name the key and the value."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

pytest.importorskip("flwr")
pytest.importorskip("torch")
pytest.importorskip("peft")

from flwr.common.config import flatten_dict, parse_config_args  # noqa: E402

from backends.flower.launch import APP_DIRS  # noqa: E402
from backends.flower.rlhf.run_config import (  # noqa: E402
    config_from_run_config,
    config_to_run_config,
    field_keys,
    problem_from_run_config,
)
from backends.flower.rlhf.settings import RLHFTaskSpec, task_config  # noqa: E402
from backends.flower.settings import FlowerSettings  # noqa: E402
from backends.rlhf.build import LLMTaskConfig  # noqa: E402
from backends.rlhf.trainer import RLHFConfig  # noqa: E402

pytestmark = [pytest.mark.flower, pytest.mark.torch]

#: RLHFConfig fields the algorithm config sets (K / lr / beta / p are algorithm.* keys).
ALGORITHM_OWNED = {"algorithm", "beta", "preference", "lr"}
#: Task fields with their own key, and the KL controller's fields (trainer.*).
ALIASED = {"model": "model.name", "lora_r": "model.lora.r", "lora_alpha": "model.lora.alpha",
           "lora_seed": "model.lora.seed", "device": "model.device", "dtype": "model.dtype"}
KL_FIELDS = ("kl_control", "kl_target", "kl_horizon")


def app_config() -> dict:
    with open(APP_DIRS["rlhf"] / "pyproject.toml", "rb") as fh:
        return flatten_dict(tomllib.load(fh)["tool"]["flwr"]["app"]["config"])


def test_the_flower_task_spec_is_the_engines_task_config():
    assert RLHFTaskSpec is LLMTaskConfig  # one class, one list of fields


def test_every_task_field_has_a_key_and_the_app_declares_them_all():
    dashed = lambda name: name.replace("_", "-")  # noqa: E731
    trainer = {f.name for f in dataclasses.fields(RLHFConfig) if f.name not in ALGORITHM_OWNED} | set(KL_FIELDS)
    expected = set(ALIASED.values()) | {f"trainer.{dashed(n)}" for n in trainer}
    expected |= {f"task.{dashed(f.name)}" for f in dataclasses.fields(LLMTaskConfig)
                 if f.name not in ALIASED and f.name not in trainer}
    assert set(field_keys().values()) == expected
    assert {"task.prompts", "task.split-by", "task.dirichlet-alpha", "task.eval-samples", "trainer.kl-control",
            "trainer.kl-target", "trainer.use-chat-template", "model.lora.seed"} <= expected
    assert len(field_keys()) == len(dataclasses.fields(LLMTaskConfig))  # every field, each its own key
    declared = {k for k in app_config() if k.split(".")[0] in ("model", "task", "trainer")}
    assert declared == expected, "regenerate the table: python -m backends.flower.rlhf.run_config"


def test_the_apps_run_config_is_the_small_rlhf_task_and_round_trips():
    settings = FlowerSettings.from_run_config(app_config())
    assert settings.backend == "rlhf"
    spec = task_config(settings.problem)
    assert (spec.model, spec.rewards, spec.lora_r, spec.num_clients) == ("tiny", ("positive_sentiment", "brevity"), 8, 2)
    assert (spec.group_size, spec.max_new_tokens, spec.kl_control) == (4, 8, "fixed")
    assert settings.algorithm.local_steps == 2
    flat = settings.to_run_config()
    assert set(flat) == set(app_config())  # every key it writes is one the app declares
    assert FlowerSettings.from_run_config(flat) == settings


def test_run_config_overrides_as_flwr_parses_them():
    overrides = parse_config_args(['model.lora.r=16 model.lora.alpha=32 task.rewards="brevity" '
                                   'trainer.kl-coef=0.1 trainer.beta-relative=false algorithm.preference="0.7,0.3" '
                                   'task.num-clients=3 model.device="cuda" model.dtype="bfloat16"'])
    settings = FlowerSettings.from_run_config(app_config() | overrides)
    spec = task_config(settings.problem)
    assert (spec.lora_r, spec.lora_alpha, spec.rewards, spec.num_clients) == (16, 32.0, ("brevity",), 3)
    assert spec.kl_coef == 0.1 and spec.beta_relative is False
    assert settings.algorithm.preference == (0.7, 0.3)
    assert (spec.device, spec.dtype) == ("cuda", "bfloat16")  # checked, not resolved: no GPU is needed here


@pytest.mark.parametrize(("override", "error", "needle"), [
    ({"model.lora.r": "x"}, TypeError, "'model.lora.r' must be an integer, got 'x'"),
    ({"model.lora.r": 0}, ValueError, "'model.lora.r'"),
    ({"model.lora.alpha": True}, TypeError, "'model.lora.alpha' must be a number"),
    ({"trainer.group-size": 1}, ValueError, "'trainer.group-size'"),
    ({"trainer.beta-relative": 1}, TypeError, "'trainer.beta-relative' must be true or false"),
    ({"trainer.advantage": "best"}, ValueError, "'trainer.advantage'"),
    ({"task.rewards": "brevity,,positive_sentiment"}, ValueError, "'task.rewards' must be a comma list"),
    ({"task.rewards": "brevity,brevity"}, ValueError, "'task.rewards'"),
    ({"task.heterogeneity": 2.0}, ValueError, "'task.heterogeneity'"),
    ({"model.name": 3}, TypeError, "'model.name' must be a string"),
    ({"trainer.nope": 1}, ValueError, "unknown LoRA RLHF task keys ['trainer.nope']"),
    ({"trainer.kl-control": "pid"}, ValueError, "'trainer.kl-control': LLMTaskConfig: `kl_control` must be one of"),
    ({"trainer.kl-target": 0.0}, ValueError, "'trainer.kl-target': LLMTaskConfig: `kl_target` must be > 0"),
    ({"task.dirichlet-alpha": "x"}, TypeError, "'task.dirichlet-alpha' must be a number or \"\" (None), got 'x'"),
    ({"task.split-by": "topic"}, ValueError, "'task.split-by': LLMTaskConfig: `split_by` must be None unless"),
    ({"task.prompts": "/no/such/prompts.jsonl"}, ValueError, "'task.prompts'"),
    ({"task.rewards": "/no/such/reward.py:score"}, ValueError, "'task.rewards'"),
    ({"task.eval-samples": 1}, ValueError, "'task.eval-samples': LLMTaskConfig: `eval_samples` must be 0"),
    ({"model.lora.seed": -1}, ValueError, "'model.lora.seed'"),
    ({"model.device": "gpu0"}, ValueError, "'model.device'"),
    ({"task.client-preferences": "0.7,x;0.5,0.5"}, ValueError, "'task.client-preferences' must be one comma list"),
    ({"task.client-preferences": "0.7,0.3"}, ValueError, "'task.client-preferences'"),  # 1 row for N = 2
    ({"task.client-preferences": 0.5}, TypeError, "'task.client-preferences' must be a string"),
    ({"task.client-mixes": "opinions;nope=1"}, ValueError, "'task.client-mixes'"),
    ({"task.client-mixes": "opinions"}, ValueError, "'task.client-mixes'"),  # 1 mix for N = 2
    ({"model.dtype": "float8"}, ValueError, "'model.dtype'"),
])
def test_a_bad_value_is_refused_naming_the_key(override, error, needle):
    with pytest.raises(error) as info:
        FlowerSettings.from_run_config(app_config() | override)
    assert needle in str(info.value)


def test_task_keys_need_a_backend_that_reads_them_and_exclude_problem_keys():
    with pytest.raises(ValueError, match=r"`backend`.*does not read.*model.name"):
        FlowerSettings.from_run_config({"backend": "numpy", "model.name": "tiny"})
    with pytest.raises(ValueError, match=r"`problem`.*not both"):
        FlowerSettings.from_run_config({"backend": "rlhf", "problem.name": "rlhf", "model.name": "tiny"})
    # the good input next to the bad ones: a few keys, the rest defaults
    assert problem_from_run_config({"model.lora.r": 4}) == {"name": "rlhf", "lora_r": 4}


def test_per_client_preferences_and_mixes_as_flat_keys():
    from backends.rlhf.prompts import PROMPT_MIXES

    first, second = sorted(PROMPT_MIXES)[:2]
    overrides = parse_config_args([f'task.client-preferences="3,1;0,2" task.client-mixes="{first}=0.5,{second}=1.5;{second}"'])
    settings = FlowerSettings.from_run_config(app_config() | overrides)
    spec = task_config(settings.problem)
    assert spec.client_preferences == ((0.75, 0.25), (0.0, 1.0))  # rows normalized
    assert spec.client_mixes == ({first: 0.25, second: 0.75}, {second: 1.0})
    flat = settings.to_run_config()
    assert flat["task.client-preferences"] == "0.75,0.25;0.0,1.0"  # written back normalized, as "a,b;c,d"
    assert task_config(FlowerSettings.from_run_config(flat).problem) == spec


# --- a task of firm rlhf with a prompts file, its split, a Python reward and the adaptive KL ------------
REWARD_SOURCE = "def shortness(prompts, completions):\n    return [-len(c) / 50.0 for c in completions]\n"
PROMPT_RECORDS = [{"prompt": f"Tell me about topic {i}.", "topic": "a" if i % 3 else "b"} for i in range(12)]


def write_task_files(directory) -> tuple[str, str]:
    """(prompts .jsonl with a 'topic' column, file.py:callable reward spec), written under ``directory``."""
    import json

    prompts = directory / "prompts.jsonl"
    prompts.write_text("".join(json.dumps(r) + "\n" for r in PROMPT_RECORDS))
    reward = directory / "my_reward.py"
    reward.write_text(REWARD_SOURCE)
    return str(prompts), f"{reward}:shortness"


def file_task(directory, **changes) -> LLMTaskConfig:
    prompts, reward = write_task_files(directory)
    fields = {"rewards": ("brevity", reward), "prompts": prompts, "split_by": "topic", "kl_control": "adaptive",
              "kl_coef": 0.3, "kl_target": 0.5, "kl_horizon": 2.0, "lora_seed": 4, "device": "cpu",
              "group_size": 4, "prompts_per_step": 2, "max_new_tokens": 8, "eval_samples": 0}
    return LLMTaskConfig(**{**fields, **changes})


def test_a_prompts_file_task_travels_through_the_run_config_both_ways(tmp_path):
    cfg = file_task(tmp_path, dirichlet_alpha=0.7, system_prompt="Be brief.", use_chat_template=False, on_nonfinite="raise")
    flat = config_to_run_config(cfg)
    assert (flat["task.prompts"], flat["task.split-by"], flat["trainer.kl-control"]) == (cfg.prompts, "topic", "adaptive")
    assert flat["task.rewards"] == f"brevity,{cfg.rewards[1]}" and flat["task.dirichlet-alpha"] == 0.7
    assert config_from_run_config(flat) == cfg
    # as `flwr run --run-config "..."` strings parse, over the app's declared table
    text = " ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={str(v).lower() if isinstance(v, bool) else v}"
                    for k, v in flat.items())
    settings = FlowerSettings.from_run_config(app_config() | parse_config_args([text.replace("'", '"')]))
    assert task_config(settings.problem) == cfg
    assert FlowerSettings.from_run_config(settings.to_run_config()) == settings
    # a changed value does not come back equal: the round trip carries the values, not the defaults
    assert config_from_run_config({**flat, "trainer.kl-target": 0.6}) != cfg


def test_relative_paths_are_made_absolute_against_the_given_directory(tmp_path):
    from backends.rlhf.build import with_absolute_paths

    write_task_files(tmp_path)
    (tmp_path / "rm").mkdir()
    cfg = LLMTaskConfig(rewards=("brevity", "my_reward.py:shortness", "rm", "json:loads"), prompts="prompts.jsonl",
                        model="tiny")
    out = with_absolute_paths(cfg, tmp_path)
    assert out.prompts == str(tmp_path / "prompts.jsonl")
    assert out.rewards == ("brevity", f"{tmp_path / 'my_reward.py'}:shortness", str(tmp_path / "rm"), "json:loads")
    assert out.model == "tiny" and out.replace(prompts="prompts.jsonl", rewards=cfg.rewards) == cfg
    assert with_absolute_paths(cfg.replace(prompts="alignment"), tmp_path).prompts == "alignment"
    assert with_absolute_paths(out, "/elsewhere") == out  # absolute paths stay


def test_a_firm_rlhf_config_file_printed_as_one_run_config_line(tmp_path, monkeypatch, capsys):
    """`python -m backends.flower.rlhf.run_config FILE --run-config`: the task of `firm rlhf --config FILE`
    as the string `flwr run --run-config` / `flower_deploy.sh -c` take, relative paths made absolute."""
    from backends.flower.rlhf.run_config import main
    from backends.rlhf.cli import config_sections

    write_task_files(tmp_path)
    (tmp_path / "task.toml").write_text('[task]\nrewards = ["brevity", "my_reward.py:shortness"]\nprompts = "prompts.jsonl"\n'
                                        'split_by = "topic"\nkl_target = 0.5\nsystem_prompt = "Be brief, please."\n'
                                        '[algorithm]\nbeta = 0.5\nbeta_relative = true\n')
    monkeypatch.chdir(tmp_path)
    main(["task.toml", "--run-config"])
    line = capsys.readouterr().out.strip()
    task, _, _ = config_sections("task.toml")
    expected = task_config({"name": "rlhf", **task}).replace(
        prompts=str(tmp_path / "prompts.jsonl"), rewards=("brevity", f"{tmp_path / 'my_reward.py'}:shortness"))
    assert expected.beta_relative and expected.system_prompt == "Be brief, please."  # [algorithm]'s flag, a space
    assert config_from_run_config(parse_config_args([line])) == expected
