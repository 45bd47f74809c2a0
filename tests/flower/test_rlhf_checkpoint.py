"""Checkpoint and resume of a LoRA RLHF Flower run (in-process): a run stopped after round 1 and
resumed gives the uninterrupted run's adapters and records, and a checkpoint of another task or
algorithm config is refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("flwr")
torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from firm_core.federated.engine import load_checkpoint  # noqa: E402

from backends.flower.strategy import FirmStrategy  # noqa: E402
from tests.flower.test_rlhf_backend import rlhf_settings, run_inprocess  # noqa: E402

pytestmark = [pytest.mark.flower, pytest.mark.torch]

#: Per-round fields that must be equal (wall_time is not).
SAME_FIELDS = ("round", "lambda_mean", "d_lambda", "d_x", "uplink_bytes", "downlink_bytes", "participants", "dropped",
               "skipped", "extras")


def records(history) -> list[dict]:
    return [{k: v for k, v in r.to_dict().items() if k in SAME_FIELDS} for r in history.records]


@pytest.fixture(scope="module")
def full_run():
    torch.set_num_threads(1)
    settings = rlhf_settings(2, rounds=3, local_steps=1, preference=(0.7, 0.3))
    run, _ = run_inprocess(settings)
    return settings, run


def test_resumed_rlhf_run_equals_the_uninterrupted_run(full_run, tmp_path):
    settings, full = full_run
    ckpt = str(tmp_path / "ckpt")
    run_inprocess(dataclasses.replace(settings, rounds=1, checkpoint_dir=ckpt))
    state, _ = load_checkpoint(ckpt, settings.algorithm, settings.build_problem())
    assert state.round == 1
    np.testing.assert_array_equal(state.x, full.strategy.iterates[1])  # x_1 of the uninterrupted run
    resumed, _ = run_inprocess(dataclasses.replace(settings, resume_from=ckpt, checkpoint_dir=ckpt))
    assert [r.round for r in resumed.history.records] == [0, 1, 2]
    assert not np.array_equal(full.history.final_x, state.x)  # rounds 1-2 moved the adapter after the checkpoint
    np.testing.assert_array_equal(resumed.history.final_x, full.history.final_x)
    assert records(resumed.history) == records(full.history)
    for name, tensor in full.result.arrays.items():  # the final adapter as Flower returns it
        np.testing.assert_array_equal(resumed.result.arrays[name].numpy(), tensor.numpy())
    assert load_checkpoint(ckpt)[0].round == 3


def test_resume_refuses_a_checkpoint_of_another_task_or_config(full_run, tmp_path):
    settings, _ = full_run
    ckpt = str(tmp_path / "ckpt")
    run_inprocess(dataclasses.replace(settings, rounds=1, checkpoint_dir=ckpt))
    other_task = dataclasses.replace(settings, problem={**settings.problem, "lora_r": 4}, resume_from=ckpt)
    with pytest.raises(ValueError, match=r"another problem; differing fields \[.*'task_config'"):
        FirmStrategy(other_task).resume(ckpt)
    # the same task written out in full (as the run config carries it: every default named) resumes
    from backends.flower.rlhf.run_config import problem_from_run_config, problem_to_run_config

    spelled_out = problem_from_run_config(problem_to_run_config(settings.problem))
    assert set(spelled_out) > set(settings.problem)
    FirmStrategy(dataclasses.replace(settings, problem=spelled_out, resume_from=ckpt)).resume(ckpt)
    other_alg = dataclasses.replace(settings, algorithm=dataclasses.replace(settings.algorithm, lr=0.5), resume_from=ckpt)
    with pytest.raises(ValueError, match="`lr`"):
        FirmStrategy(other_alg).resume(ckpt)
    FirmStrategy(dataclasses.replace(settings, resume_from=ckpt)).resume(ckpt)  # the matching settings resume
