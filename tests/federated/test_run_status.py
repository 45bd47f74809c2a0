"""How a run ends: "completed"; "diverged" (a non-finite iterate, non-finite objectives or a numerical
error in a round) with the history so far and a message; other errors propagate with a note."""

import warnings

import numpy as np
import pytest

from firm_core.federated import ALGORITHMS, AlgorithmConfig, RunConfig, load_checkpoint, run
from firm_core.federated.checkpoint import CheckpointError
from firm_core.problems import HeterogeneousQuadratics
from tests.federated._problems import random_scalar_quadratic

#: A server step this large makes every algorithm's iterate grow geometrically until it overflows.
DIVERGING_SERVER_LR = 30.0
#: More rounds than any algorithm needs to overflow (a few hundred): the run must stop long before.
DIVERGING_ROUNDS = 3000


def _diverging(name):
    return AlgorithmConfig(name=name, server_lr=DIVERGING_SERVER_LR, local_steps=2, lr=0.2,
                           beta=1.0 if name in ("firm", "fedcmoo") else None)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_a_diverging_run_stops_with_its_history_and_a_message(name, tmp_path):
    prob = HeterogeneousQuadratics(num_clients=3, num_objectives=2, dim=3, heterogeneity=1.0, seed=0)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        hist = run(prob, _diverging(name), RunConfig(rounds=DIVERGING_ROUNDS, checkpoint_every=50), progress=False,
                   checkpoint_dir=tmp_path)
    assert hist.status == "diverged"
    assert "server_lr = 30" in hist.message and "lower `lr` or `server_lr`" in hist.message
    assert 10 < len(hist) < DIVERGING_ROUNDS
    assert [r.round for r in hist.records] == list(range(len(hist)))  # the history so far, intact
    assert np.isfinite(hist.records[0].phi)
    assert hist.final_point is not None and hist.final_point["round"] in (len(hist), len(hist) - 1)
    state, saved = load_checkpoint(tmp_path)
    assert saved.status == "diverged" and saved.message == hist.message and len(saved) == len(hist)
    with pytest.raises(CheckpointError, match="diverged.*resuming would repeat it"):
        run(prob, _diverging(name), RunConfig(rounds=DIVERGING_ROUNDS), progress=False, resume_from=tmp_path)


def test_a_healthy_run_is_completed():
    prob = random_scalar_quadratic(num_clients=3)
    hist = run(prob, AlgorithmConfig(name="firm"), RunConfig(rounds=3), progress=False)
    assert hist.status == "completed" and hist.message == ""


def _raise_in_server_aggregation(monkeypatch, error, at):
    """Make the server's averaging raise ``error`` from its ``at``-th call on (a numerical failure in a
    round's server step; a client's own exception is not one: that client is dropped)."""
    from firm_core.federated.algorithms import common

    calls = {"n": 0}
    real = common.aggregate

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] >= at:
            raise error
        return real(*args, **kwargs)

    monkeypatch.setattr(common, "aggregate", failing)


@pytest.mark.parametrize("error", [np.linalg.LinAlgError("SVD did not converge"), FloatingPointError("overflow")])
def test_a_numerical_error_in_a_round_stops_the_run_as_diverged(error, monkeypatch):
    prob = random_scalar_quadratic(num_clients=3, num_objectives=2, dim=2, noise_std=0.1)
    _raise_in_server_aggregation(monkeypatch, error, at=4)
    hist = run(prob, AlgorithmConfig(name="firm", local_steps=1), RunConfig(rounds=10), progress=False)
    assert hist.status == "diverged" and len(hist) == 3
    assert f"round 3 raised {type(error).__name__}: {error}" in hist.message
    assert hist.final_point["round"] == 3 and np.isfinite(hist.final_point["phi"])


def test_any_other_error_propagates_with_a_note_naming_the_round(monkeypatch):
    prob = random_scalar_quadratic(num_clients=3, num_objectives=2, dim=2, noise_std=0.1)
    _raise_in_server_aggregation(monkeypatch, TypeError("a bug in the server"), at=3)
    with pytest.raises(TypeError, match="a bug in the server") as info:
        run(prob, AlgorithmConfig(name="firm", local_steps=1), RunConfig(rounds=10), progress=False)
    assert any("after 2 completed rounds" in note for note in info.value.__notes__)

