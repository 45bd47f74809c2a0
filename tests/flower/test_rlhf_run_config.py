"""The LoRA RLHF task as flat run-config keys (the ``app_rlhf`` app): generated from the task-spec and
RLHFConfig fields, declared by the app, overridable as ``flwr run --run-config`` strings, read back with
errors that name the key."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

pytest.importorskip("flwr")
pytest.importorskip("torch")
pytest.importorskip("peft")

from flwr.common.config import flatten_dict, parse_config_args  # noqa: E402

from backends.flower.launch import APP_DIRS  # noqa: E402
from backends.flower.rlhf.run_config import field_keys, problem_from_run_config  # noqa: E402
from backends.flower.rlhf.settings import RLHFTaskSpec  # noqa: E402
from backends.flower.settings import FlowerSettings  # noqa: E402
from backends.rlhf.trainer import RLHFConfig  # noqa: E402

pytestmark = [pytest.mark.flower, pytest.mark.torch]

#: RLHFConfig fields the algorithm config sets (K / lr / beta / p are algorithm.* keys).
ALGORITHM_OWNED = {"algorithm", "beta", "preference", "lr"}


def app_config() -> dict:
    with open(APP_DIRS["rlhf"] / "pyproject.toml", "rb") as fh:
        return flatten_dict(tomllib.load(fh)["tool"]["flwr"]["app"]["config"])


def test_every_task_field_has_a_key_and_the_app_declares_them_all():
    expected = {f"trainer.{f.name.replace('_', '-')}" for f in dataclasses.fields(RLHFConfig)
                if f.name not in ALGORITHM_OWNED}
    expected |= {"model.name", "model.lora.r", "model.lora.alpha", "model.device", "model.dtype"}
    expected |= {f"task.{f.name.replace('_', '-')}" for f in dataclasses.fields(RLHFTaskSpec)
                 if f.name not in ("model", "lora_r", "lora_alpha", "device", "dtype", "local")}
    assert set(field_keys().values()) == expected
    declared = {k for k in app_config() if k.split(".")[0] in ("model", "task", "trainer")}
    assert declared == expected, "regenerate the table: python -m backends.flower.rlhf.run_config"


def test_the_apps_run_config_is_the_small_rlhf_task_and_round_trips():
    settings = FlowerSettings.from_run_config(app_config())
    assert settings.backend == "rlhf"
    spec = RLHFTaskSpec.from_dict(settings.problem)
    assert (spec.model, spec.rewards, spec.lora_r, spec.num_clients) == ("tiny", ("positive_sentiment", "brevity"), 8, 2)
    assert dict(spec.local)["group_size"] == 4 and dict(spec.local)["max_new_tokens"] == 8
    assert settings.algorithm.local_steps == 2
    flat = settings.to_run_config()
    assert set(flat) == set(app_config())  # every key it writes is one the app declares
    assert FlowerSettings.from_run_config(flat) == settings


def test_run_config_overrides_as_flwr_parses_them():
    overrides = parse_config_args(['model.lora.r=16 model.lora.alpha=32 task.rewards="brevity" '
                                   'trainer.kl-coef=0.1 trainer.beta-relative=false algorithm.preference="0.7,0.3" '
                                   'task.num-clients=3 model.device="cuda" model.dtype="bfloat16"'])
    settings = FlowerSettings.from_run_config(app_config() | overrides)
    spec = RLHFTaskSpec.from_dict(settings.problem)
    assert (spec.lora_r, spec.lora_alpha, spec.rewards, spec.num_clients) == (16, 32.0, ("brevity",), 3)
    assert dict(spec.local)["kl_coef"] == 0.1 and dict(spec.local)["beta_relative"] is False
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
    spec = RLHFTaskSpec.from_dict(settings.problem)
    assert spec.client_preferences == ((0.75, 0.25), (0.0, 1.0))  # rows normalized
    assert spec.client_mixes == ({first: 0.25, second: 0.75}, {second: 1.0})
    assert spec.client_preference(1, (0.5, 0.5)) == (0.0, 1.0)
    assert RLHFTaskSpec.from_dict({"name": "rlhf"}).client_preference(1, (0.5, 0.5)) == (0.5, 0.5)
    flat = settings.to_run_config()
    assert flat["task.client-preferences"] == "0.75,0.25;0.0,1.0"  # written back normalized, as "a,b;c,d"
    assert RLHFTaskSpec.from_dict(FlowerSettings.from_run_config(flat).problem) == spec
