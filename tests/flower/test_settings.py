"""Run settings: the app's pyproject config parses, bad values are named, the train config is complete."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

pytest.importorskip("flwr")

from firm_core.federated.config import AlgorithmConfig  # noqa: E402
from flwr.common.config import flatten_dict  # noqa: E402

from backends.flower import protocol as S  # noqa: E402
from backends.flower.settings import DPSettings, FlowerSettings  # noqa: E402

pytestmark = pytest.mark.flower

APP_PYPROJECT = Path(__file__).resolve().parents[2] / "backends" / "flower" / "app" / "pyproject.toml"


def app_run_config() -> dict:
    with open(APP_PYPROJECT, "rb") as fh:
        return flatten_dict(tomllib.load(fh)["tool"]["flwr"]["app"]["config"])


def test_app_config_parses_into_valid_settings():
    s = FlowerSettings.from_run_config(app_run_config())
    assert s.algorithm.name == "firm" and s.algorithm.beta == 1.0 and s.algorithm.participation is None
    assert s.algorithm.preference is None and s.dp.mode == "none"
    assert s.problem["name"] == "quadratics" and s.problem["num_clients"] == 4
    problem = s.build_problem()
    assert problem.num_clients == 4 and problem.dim == 5


def test_run_config_overrides_and_preference_string():
    cfg = app_run_config() | {"algorithm.preference": "0.25,0.75", "algorithm.participation": 2, "dp.mode": "client-fixed"}
    s = FlowerSettings.from_run_config(cfg)
    assert s.algorithm.preference == (0.25, 0.75) and s.algorithm.participation == 2 and s.dp.mode == "client-fixed"


@pytest.mark.parametrize(
    "override, needle",
    [
        ({"algorithm.lr": -1.0}, "`lr`"),
        ({"algorithm.preference": "0.5,x"}, "preference"),
        ({"algorithm.name": "fmgda", "algorithm.beta": ""}, "algorithm.name"),
        ({"num-server-rounds": 0}, "`rounds`"),
        ({"timeout": -5.0}, "`timeout`"),
        ({"dp.mode": "secagg"}, "`mode`"),
        ({"dp.clipping-norm": 0.0}, "`clipping_norm`"),
        ({"bogus": 1}, "unknown run-config key 'bogus'"),
    ],
)
def test_bad_run_config_values_are_named(override, needle):
    with pytest.raises(ValueError, match=needle):
        FlowerSettings.from_run_config(app_run_config() | override)


def test_train_config_carries_every_hyperparameter():
    s = FlowerSettings(algorithm=AlgorithmConfig(name="fedavg_ls", local_steps=4, lr=0.1, preference=(0.2, 0.8), seed=5))
    cfg = s.train_config(round_index=6, num_objectives=2)
    assert cfg[S.K_ROUND_INDEX] == 6 and cfg[S.K_SERVER_ROUND] == 7
    assert cfg[S.K_LOCAL_STEPS] == 4 and cfg[S.K_LR] == 0.1 and cfg[S.K_BETA] == 0.0
    assert cfg[S.K_PREFERENCE] == [0.2, 0.8] and cfg[S.K_MODE] == "scalarized" and cfg[S.K_SEED] == 5
    assert '"name": "quadratics"' in cfg[S.K_PROBLEM]


def test_settings_reject_bad_types():
    with pytest.raises(TypeError, match="`algorithm`"):
        FlowerSettings(algorithm={"name": "firm"})
    with pytest.raises(ValueError, match="`problem`"):
        FlowerSettings(problem={"num_clients": 3})
    with pytest.raises(ValueError, match="`noise_multiplier`"):
        DPSettings(mode="client-fixed", noise_multiplier=-1.0)
