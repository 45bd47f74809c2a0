"""The LoRA RLHF task run by the federated engine: every algorithm, faulty clients, checkpoint / resume."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from firm_core.federated import AlgorithmConfig, RunConfig, run  # noqa: E402
from firm_core.federated.sketch import official_upload_floats  # noqa: E402

from backends.rlhf.experiment import run_task  # noqa: E402
from backends.rlhf.prompts import client_prompt_pools  # noqa: E402
from backends.rlhf.rewards import BrevityReward, CallableReward, SentimentReward  # noqa: E402
from backends.rlhf.task import RLHFTask  # noqa: E402
from backends.rlhf.trainer import RLHFConfig  # noqa: E402
from tests.torch.rlhf_fixtures import tiny_base, tiny_policy  # noqa: E402, F401

pytestmark = [pytest.mark.torch, pytest.mark.slow]

SMALL = RLHFConfig(group_size=2, prompts_per_step=1, max_new_tokens=4)
EVAL_PROMPTS = ["The function returns", "I think the new version is"]


def e_share(prompt, completion):
    """A reward that varies within almost every group (so no sampled gradient is exactly zero)."""
    return completion.count("e") / max(1, len(completion))


def small_task(policy, cls=RLHFTask, n=2, rewards=None, **kw):
    model, tok = policy
    rewards = rewards or [SentimentReward(), BrevityReward()]
    return cls(model, tok, rewards, client_prompt_pools(n, 0.8, 0), SMALL, eval_prompts=EVAL_PROMPTS,
               eval_samples=2, **kw)


def config(name, **kw):
    extra = {"beta": 0.5} if name == "firm" else {}
    return AlgorithmConfig(name=name, lr=1e-2, local_steps=1, seed=3, **extra, **kw)


@pytest.mark.parametrize("name", ["firm", "local_mgda", "fedavg_ls", "fmgda", "fsmgda", "fedcmoo"])
def test_every_algorithm_runs_a_round_on_the_tiny_model(tiny_policy, name):
    task = small_task(tiny_policy, rewards=[CallableReward("e_share", e_share), BrevityReward()])
    hist, rows = run_task(task, config(name), 1)
    rec = hist.records[0]
    m, d, n = 2, task.dim, 2
    assert rec.dropped == () and not rec.skipped
    want_up = {"fmgda": m * d * n, "fsmgda": m * d * n, "fedcmoo": (official_upload_floats(1, m, d) + d) * n}.get(name, d * n)
    assert rec.uplink_floats == want_up
    x_final = np.asarray(hist.final_point["x"])
    assert np.isfinite(x_final).all()
    assert np.abs(x_final - task.initial_point()).max() > 1e-4
    assert np.isfinite(rec.lambda_mean).all() and abs(sum(rec.lambda_mean) - 1) < 1e-9
    assert np.isfinite(rec.d_x) and rec.d_x >= 0
    assert {"reward_e_share", "reward_brevity", "kl"} <= set(rec.extras)  # evaluation of x_0
    assert np.isnan(rec.phi)
    np.testing.assert_allclose(rec.objectives, [-rec.extras["reward_e_share"], -rec.extras["reward_brevity"]])
    assert np.isfinite(rows[0]["train_kl"])  # the clients' training scalars of the round
    if name == "fedavg_ls":
        assert rec.d_lambda == 0.0
    # measured from the uploaded tensors: one adapter per client (FMGDA / FSMGDA: M of them)
    per_client = {"fmgda": m, "fsmgda": m}.get(name, 1) * task.adapter_nbytes
    if name != "fedcmoo":
        assert rows[0]["client_uplink_bytes"] == n * per_client


class _Faulty(RLHFTask):
    """Client 0 raises in every round; client 1 is healthy."""

    def _client_steps(self, client, x, rng, cfg, steps, pool=None):
        if client == 0:
            raise RuntimeError("out of memory")
        return super()._client_steps(client, x, rng, cfg, steps, pool)


def test_a_failing_client_is_dropped_and_the_run_completes(tiny_policy):
    task = small_task(tiny_policy, cls=_Faulty)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hist, _ = run_task(task, config("firm"), 2)
    assert len(hist) == 2
    for rec in hist.records:
        assert rec.dropped == ({"client": 0, "reason": "client raised RuntimeError: out of memory"},)
        assert not rec.skipped and rec.uplink_floats == task.dim
    assert any("dropped" in str(w.message) for w in caught)
    assert not np.allclose(hist.final_point["x"], task.initial_point())


def test_checkpoint_resume_is_bit_for_bit(tiny_policy, tmp_path):
    task = small_task(tiny_policy)
    cfg = config("firm")
    full = run(task, cfg, RunConfig(rounds=2, eval_every=2))
    run(task, cfg, RunConfig(rounds=1, eval_every=2), checkpoint_dir=tmp_path / "ck")
    resumed = run(task, cfg, RunConfig(rounds=2, eval_every=2), resume_from=tmp_path / "ck")
    np.testing.assert_array_equal(resumed.final_point["x"], full.final_point["x"])
    for a, b in zip(resumed.records, full.records, strict=True):
        same = [json.dumps(r.to_dict() | {"wall_time": 0}, sort_keys=True) for r in (a, b)]  # NaN == NaN here
        assert same[0] == same[1]
    other = small_task(tiny_policy, client_preferences=[[0.9, 0.1], [0.1, 0.9]])
    with pytest.raises(ValueError, match="another problem"):
        run(other, cfg, RunConfig(rounds=2), resume_from=tmp_path / "ck")


def test_per_client_preferences_steer_each_clients_lambda(tiny_policy):
    task = small_task(tiny_policy, client_preferences=[[1.0, 0.0], [0.0, 1.0]])
    hist, rows = run_task(task, config("fedavg_ls"), 1)
    np.testing.assert_allclose(rows[0]["client_lambdas"], [[1.0, 0.0], [0.0, 1.0]])
    assert rows[0]["lambda_pref_dev"] == 0.0
    assert hist.records[0].d_lambda == pytest.approx(0.5)  # the two clients' lambdas disagree fully
