"""Checkpoint after every round, resume from a checkpoint: same iterates as an uninterrupted run,
and checkpoints are interchangeable with the in-memory engine's."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.flower.helpers import EQUIVALENCE_ATOL, make_settings, run_inprocess
from tests.flower.test_strategy import assert_same_run

from firm_core.federated.config import RunConfig  # noqa: E402
from firm_core.federated.engine import load_checkpoint, run as engine_run  # noqa: E402

from backends.flower.strategy import FirmStrategy  # noqa: E402

pytestmark = pytest.mark.flower


def test_checkpoint_is_written_after_every_round(tmp_path):
    settings = dataclasses.replace(make_settings(4, rounds=3), checkpoint_dir=str(tmp_path / "ckpt"))
    flower_run, _ = run_inprocess(settings)
    state, history = load_checkpoint(tmp_path / "ckpt", settings.algorithm, settings.build_problem())
    assert state.round == 3 and len(history) == 3
    np.testing.assert_array_equal(state.x, flower_run.history.final_x)


def test_resume_equals_uninterrupted_run(tmp_path):
    full = make_settings(4, rounds=5)
    uninterrupted, _ = run_inprocess(full)
    first = dataclasses.replace(full, rounds=2, checkpoint_dir=str(tmp_path / "ckpt"))
    run_inprocess(first)
    resumed_settings = dataclasses.replace(full, resume_from=str(tmp_path / "ckpt"), checkpoint_dir=str(tmp_path / "ckpt"))
    resumed, _ = run_inprocess(resumed_settings)
    assert [r.round for r in resumed.history.records] == [0, 1, 2, 3, 4]
    assert_same_run(resumed.history, uninterrupted.history)
    np.testing.assert_array_equal(resumed.history.final_x, uninterrupted.history.final_x)
    state, _ = load_checkpoint(tmp_path / "ckpt")
    assert state.round == 5


def test_engine_checkpoint_resumes_on_flower(tmp_path):
    settings = make_settings(4, rounds=4)
    problem = settings.build_problem()
    engine_run(problem, settings.algorithm, RunConfig(rounds=2), progress=False, checkpoint_dir=tmp_path / "eng")
    engine_full = engine_run(problem, settings.algorithm, RunConfig(rounds=4), progress=False)
    resumed, _ = run_inprocess(dataclasses.replace(settings, resume_from=str(tmp_path / "eng")))
    np.testing.assert_allclose(resumed.history.final_x, engine_full.final_x, rtol=0, atol=EQUIVALENCE_ATOL)
    assert len(resumed.history) == 4


def test_resume_refuses_another_config(tmp_path):
    settings = dataclasses.replace(make_settings(4, rounds=1), checkpoint_dir=str(tmp_path / "c"))
    run_inprocess(settings)
    other = dataclasses.replace(make_settings(4, rounds=3, lr=0.2), resume_from=str(tmp_path / "c"))
    with pytest.raises(ValueError, match="`lr`"):
        FirmStrategy(other).resume(other.resume_from)
    too_short = dataclasses.replace(make_settings(4, rounds=1), rounds=1)
    run_inprocess(dataclasses.replace(settings, rounds=2, resume_from=str(tmp_path / "c")))
    with pytest.raises(ValueError, match="beyond `rounds`"):
        FirmStrategy(too_short).resume(str(tmp_path / "c"))
