"""AlgorithmConfig / RunConfig: validation names the field and the value; dict round trip."""

import json

import pytest

from firm_core.federated import ALGORITHMS, AlgorithmConfig, RunConfig
from tests.federated._problems import random_scalar_quadratic


@pytest.mark.parametrize("name", ALGORITHMS)
def test_algorithm_config_round_trips_through_json(name):
    beta = 0.3 if name in ("firm", "fedcmoo") else None
    cfg = AlgorithmConfig(name=name, local_steps=3, lr=0.1, server_lr=0.5, beta=beta, preference=(0.25, 0.75),
                          participation=2, method="enumeration", sketch_rank=2, seed=7, label=f"{name}-x")
    back = AlgorithmConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert back == cfg
    assert isinstance(back.preference, tuple)


def test_run_config_round_trips():
    cfg = RunConfig(rounds=12, checkpoint_every=4, eval_every=2, name="abc", extra={"k": 1})
    assert RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "fedprox"),
        ("local_steps", 0),
        ("lr", 0.0),
        ("lr", float("nan")),
        ("lr", -1),
        ("server_lr", float("inf")),
        ("beta", -0.1),
        ("beta", float("inf")),
        ("preference", (0.5, 0.6)),
        ("preference", (-0.5, 1.5)),
        ("preference", "ab"),
        ("participation", 0),
        ("method", "newton"),
        ("sketch_rank", 0),
        ("seed", -1),
        ("label", ""),
    ],
)
def test_algorithm_config_rejects_bad_values_naming_field_and_value(field, value):
    with pytest.raises(ValueError) as err:
        AlgorithmConfig(**{field: value})
    assert f"`{field}`" in str(err.value)
    assert repr(value)[:6] in str(err.value)


@pytest.mark.parametrize(("field", "value"), [("local_steps", 2.5), ("local_steps", True), ("lr", "0.1"),
                                              ("seed", 1.0), ("scale_lr", None)])
def test_algorithm_config_rejects_wrong_types_with_a_type_error(field, value):
    """One policy for the whole project: a wrong type is a TypeError, a wrong value a ValueError."""
    with pytest.raises(TypeError) as err:
        AlgorithmConfig(**{field: value})
    assert f"`{field}`" in str(err.value) and repr(value)[:4] in str(err.value)


@pytest.mark.parametrize("name", ["local_mgda", "fedavg_ls", "fmgda", "fsmgda"])
def test_beta_must_be_zero_for_algorithms_without_beta(name):
    assert AlgorithmConfig(name=name).effective_beta == 0.0
    assert AlgorithmConfig(name=name, beta=0.0).effective_beta == 0.0
    with pytest.raises(ValueError, match="`beta`.*1.0"):
        AlgorithmConfig(name=name, beta=1.0)


def test_default_betas():
    assert AlgorithmConfig(name="firm").effective_beta == 1.0
    assert AlgorithmConfig(name="fedcmoo").effective_beta == 0.0
    assert AlgorithmConfig(name="firm", beta=0.25).display_name == "FIRM (beta=0.25)"


@pytest.mark.parametrize("field, value", [("rounds", -1), ("checkpoint_every", 0), ("eval_every", 0), ("name", "")])
def test_run_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=f"`{field}`"):
        RunConfig(**{field: value})


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown field.*'betta'"):
        AlgorithmConfig.from_dict({"name": "firm", "betta": 1.0})


def test_problem_dependent_checks():
    prob = random_scalar_quadratic(num_clients=3, num_objectives=2)
    AlgorithmConfig(participation=3).check_problem(prob)
    with pytest.raises(ValueError, match="`participation`.*4"):
        AlgorithmConfig(participation=4).check_problem(prob)
    with pytest.raises(ValueError, match="`preference`"):
        AlgorithmConfig(preference=(0.2, 0.3, 0.5)).check_problem(prob)
    with pytest.raises(ValueError, match="`sketch_rank`.*3"):
        AlgorithmConfig(name="fedcmoo", sketch_rank=3).check_problem(prob)
