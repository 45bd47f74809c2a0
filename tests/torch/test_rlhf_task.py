"""RLHFTask, the LoRA RLHF client task: its methods one by one, the golden FIRM run, faulty clients."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from firm_core.federated import aggregate, client_rngs  # noqa: E402

from backends.rlhf.prompts import client_prompt_pools  # noqa: E402
from backends.rlhf.rewards import BrevityReward, SentimentReward  # noqa: E402
from backends.rlhf.task import ClientFault, RLHFTask  # noqa: E402
from backends.rlhf.trainer import RLHFConfig  # noqa: E402
from tests.torch.rlhf_fixtures import tiny_base, tiny_policy  # noqa: E402, F401

pytestmark = pytest.mark.torch

#: float32 adapters: two computations of the same gradient step agree to round-off of the float32 math
FLOAT32_ATOL = 1e-6
SMALL = dict(group_size=2, prompts_per_step=1, max_new_tokens=4)


def make_task(policy, local=None, **kw):
    model, tok = policy
    kw.setdefault("eval_samples", 2)
    pools = kw.pop("pools", client_prompt_pools(3, 0.8, 1))
    rewards = kw.pop("rewards", [SentimentReward(), BrevityReward()])
    return RLHFTask(model, tok, rewards, pools, local or RLHFConfig(**SMALL), **kw)


def test_task_reproduces_the_golden_firm_run_of_the_old_loop(tiny_policy):
    """The recorded tiny FIRM run (2 clients, 2 rounds), replayed with the task's local_update and the
    engine's aggregation; bit-for-bit on the adapter, exactly on rewards, lambdas and KL."""
    from tests.golden.compute import load

    want = load("tiny_rlhf")
    task = make_task(tiny_policy, RLHFConfig(group_size=4, prompts_per_step=2, max_new_tokens=8, beta_relative=True),
                     pools=client_prompt_pools(2, 0.8, 5), seed=5)
    x = task.initial_point()
    for t in range(2):
        res = task.local_update([0, 1], x, client_rngs(5, t, [0, 1]), local_steps=1, lr=1e-2, beta=0.5,
                                preference=np.array([0.5, 0.5]), mode="firm")
        assert res.valid.all()
        x = aggregate(x, res.y, task.client_weights)
        log = task.round_log[-1]
        np.testing.assert_allclose(np.mean(log["rewards"], axis=0), want["rewards"][t], rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.mean(log["kl"]), want["kl"][t], rtol=0, atol=FLOAT32_ATOL)
        np.testing.assert_allclose(res.mean_lambdas, want["client_weights"][t], rtol=0, atol=1e-12)
        task.pop_round_extras()
    got = torch.as_tensor(x).float().double().numpy()
    np.testing.assert_allclose(got, want["final_adapter"], rtol=0, atol=FLOAT32_ATOL)
    # a perturbed replay is caught: one more client step moves the adapter well beyond the tolerance
    assert np.abs(x - task.initial_point()).max() > 100 * FLOAT32_ATOL


def test_point_round_trip_and_uplink_is_the_adapter(tiny_policy):
    task = make_task(tiny_policy)
    x = task.initial_point() + 0.01 * np.random.default_rng(0).standard_normal(task.dim)
    task.load_point(x)
    from backends.rlhf.policy import adapter_state, state_to_vector

    back = state_to_vector(adapter_state(task.model))
    np.testing.assert_allclose(back, x, rtol=0, atol=1e-8)  # float32 storage of float64 x
    assert task.bytes_per_float == 4 and task.adapter_nbytes == 4 * task.dim
    with pytest.raises(ValueError, match="shape"):
        task.load_point(x[:-1])


def test_sketch_jacobian_rows_line_up_with_the_flattened_adapter(tiny_policy):
    """One SGD step on objective 0 alone moves x by lr * J[0] (same prompts, same torch seed): a
    permutation between gradient order and adapter order would break this. Objective 0 is brevity,
    which varies within every group, so its gradient is not zero."""
    task = make_task(tiny_policy, RLHFConfig(optimizer="sgd", group_size=4, prompts_per_step=1, max_new_tokens=8),
                     rewards=[BrevityReward(), SentimentReward()])
    x = task.initial_point()
    lr = 0.5
    jac, ok, why = task.sketch_jacobians([1], x, client_rngs(3, 0, [1]))
    assert ok.all(), why
    assert jac.shape == (1, 2, task.dim) and jac.dtype == np.float64
    upd, ok, why = task.per_objective_update([1], x, client_rngs(3, 0, [1]), local_steps=1, lr=lr, stochastic=True)
    assert ok.all(), why
    assert upd.shape == (1, 2, task.dim)
    np.testing.assert_allclose(upd[0, 0], lr * jac[0, 0], rtol=0, atol=FLOAT32_ATOL)
    assert np.abs(jac[0, 0]).max() > 1e3 * FLOAT32_ATOL  # a real gradient, not zeros
    assert not np.allclose(jac[0, 0], jac[0, 1])  # the objectives differ


@pytest.mark.parametrize("mode", ["firm", "scalarized", "fixed_lambda"])
def test_local_update_modes_and_per_client_preferences(tiny_policy, mode):
    prefs = [[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]
    task = make_task(tiny_policy, client_preferences=prefs)
    x = task.initial_point()
    res = task.local_update([0, 2, 1], x, client_rngs(0, 0, [0, 2, 1]), local_steps=2, lr=1e-2, beta=0.5,
                            preference=np.array([0.5, 0.5]), mode=mode,
                            fixed_lambda=np.array([0.3, 0.7]) if mode == "fixed_lambda" else None)
    assert res.valid.all(), res.reasons
    assert res.y.shape == (3, task.dim) and res.lambdas.shape == (3, 2, 2)
    assert not np.allclose(res.y[0], x)
    np.testing.assert_allclose(res.lambdas.sum(axis=2), 1.0, atol=1e-9)
    if mode == "scalarized":  # lambda = p_i of each client (in the order the clients were given)
        np.testing.assert_allclose(res.lambdas[:, 0], np.array(prefs)[[0, 2, 1]], atol=1e-12)
    if mode == "fixed_lambda":
        np.testing.assert_allclose(res.lambdas[:, 1], [[0.3, 0.7]] * 3, atol=1e-12)
    extras = task.pop_round_extras()
    assert extras["client_uplink_bytes"] == 3 * task.adapter_nbytes
    assert set(extras) >= {"train_reward_positive_sentiment", "train_reward_brevity", "train_kl", "lambda_pref_dev"}
    if mode == "scalarized":
        assert extras["lambda_pref_dev"] == pytest.approx(0.0, abs=1e-20)
    assert task.pop_round_extras() == {"client_uplink_bytes": 0.0}  # popped: the next round starts empty


def test_fmgda_upload_is_m_adapters(tiny_policy):
    task = make_task(tiny_policy)
    x = task.initial_point()
    task.local_update([0, 1], x, client_rngs(0, 0, [0, 1]), local_steps=1, lr=1e-2, beta=0.5,
                      preference=np.array([0.5, 0.5]), mode="firm")
    firm_bytes = task.pop_round_extras()["client_uplink_bytes"]
    upd, ok, _ = task.per_objective_update([0, 1], x, client_rngs(0, 0, [0, 1]), local_steps=1, lr=1e-2,
                                           stochastic=True)
    assert ok.all()
    assert task.pop_round_extras()["client_uplink_bytes"] == 2 * firm_bytes == 2 * 2 * task.adapter_nbytes


def test_fmgda_full_batch_uses_the_whole_pool_and_the_clients_generators(tiny_policy):
    task = make_task(tiny_policy, pools=[["The function returns", "A class definition creates", "My first"]] * 2)
    x = task.initial_point()
    upd, ok, why = task.per_objective_update([0], x, client_rngs(1, 0, [0]), local_steps=1, lr=1e-2,
                                             stochastic=False)
    assert ok.all(), why
    log = task.round_log[-1]
    assert len(log["rewards"]) == 2  # one step per objective
    again, _, _ = task.per_objective_update([0], x, client_rngs(1, 0, [0]), local_steps=1, lr=1e-2, stochastic=False)
    np.testing.assert_array_equal(upd, again)  # the same generators: the same sampled completions
    other, _, _ = task.per_objective_update([0], x, client_rngs(1, 1, [0]), local_steps=1, lr=1e-2, stochastic=False)
    assert np.abs(other - upd).max() > 1e3 * FLOAT32_ATOL  # another round's generators sample differently
    with pytest.raises(ValueError, match="rngs"):
        task.per_objective_update([0], x, None, local_steps=1, lr=1e-2, stochastic=False)


def test_local_update_reports_the_worst_solver_status_of_its_steps(tiny_policy, monkeypatch):
    """Statuses of the 4 solves (2 clients x 2 steps): max_iter, numerical, converged, converged. The
    worst (numerical) is reported, neither the first nor the last."""
    import backends.torch_backend.step as step
    from firm_core.result import SolverStatus

    order = iter([SolverStatus.MAX_ITER, SolverStatus.NUMERICAL, SolverStatus.CONVERGED, SolverStatus.CONVERGED])
    real = step.firm_weights

    def scripted(*args, **kwargs):
        lam, _, msg = real(*args, **kwargs)
        return lam, next(order), msg

    monkeypatch.setattr(step, "firm_weights", scripted)
    task = make_task(tiny_policy)
    res = task.local_update([0, 1], task.initial_point(), client_rngs(0, 0, [0, 1]), local_steps=2, lr=1e-2,
                            beta=0.5, preference=np.array([0.5, 0.5]), mode="firm")
    assert res.valid.all(), res.reasons
    assert res.status is SolverStatus.NUMERICAL
    assert next(order, None) is None  # every step solved once
    monkeypatch.setattr(step, "firm_weights", real)
    res = task.local_update([0], task.initial_point(), client_rngs(0, 0, [0]), local_steps=1, lr=1e-2,
                            beta=0.5, preference=np.array([0.5, 0.5]), mode="firm")
    assert res.status is SolverStatus.CONVERGED


def test_engine_records_carry_the_rounds_training_extras_and_the_adapters_bytes(tiny_policy):
    from firm_core.federated import AlgorithmConfig, RunConfig, run

    task = make_task(tiny_policy, eval_prompts=["The function returns"])
    hist = run(task, AlgorithmConfig(name="firm", beta=0.5, lr=1e-2, local_steps=1, seed=2), RunConfig(rounds=1))
    rec = hist.records[0]
    assert rec.uplink_bytes == 4 * rec.uplink_floats == 4 * task.dim * 3
    assert rec.extras["client_uplink_bytes"] == rec.uplink_bytes  # the engine's count = the real tensors
    assert set(rec.extras) >= {"train_reward_positive_sentiment", "train_reward_brevity", "train_kl",
                               "lambda_pref_dev", "reward_positive_sentiment", "reward_brevity", "kl"}
    assert task.round_log == []  # popped by the engine
    np.testing.assert_allclose(task.popped_client_lambdas.sum(axis=1), 1.0, atol=1e-9)


class _Faulty(RLHFTask):
    """Client 0 raises, client 1 uploads a wrongly shaped adapter, client 2 is healthy."""

    def _client_steps(self, client, x, rng, cfg, steps, pool=None):
        state, recs = super()._client_steps(client, x, rng, cfg, steps, pool)
        if client == 0:
            raise RuntimeError("GPU fell off the bus")
        if client == 1:
            k = sorted(state)[0]
            state = dict(state, **{k: state[k][:, :-1].clone()})
        return state, recs


def test_faulty_clients_are_dropped_with_a_reason(tiny_policy):
    model, tok = tiny_policy
    task = _Faulty(model, tok, [SentimentReward(), BrevityReward()], client_prompt_pools(3, 0.8, 1),
                   RLHFConfig(**SMALL), eval_samples=2)
    x = task.initial_point()
    res = task.local_update([0, 1, 2], x, client_rngs(0, 0, [0, 1, 2]), local_steps=1, lr=1e-2, beta=0.5,
                            preference=np.array([0.5, 0.5]), mode="firm")
    assert res.valid.tolist() == [False, False, True]
    assert "RuntimeError: GPU fell off the bus" in res.reasons[0]
    assert "wrong adapter shape" in res.reasons[1]
    assert res.reasons[2] is None and np.isfinite(res.y[2]).all() and np.isnan(res.y[:2]).all()
    upd, ok, why = task.per_objective_update([0, 1, 2], x, client_rngs(0, 0, [0, 1, 2]), local_steps=1, lr=1e-2,
                                             stochastic=True)
    assert ok.tolist() == [False, False, True] and "wrong adapter shape" in why[1]


def test_nan_loss_client_is_dropped_not_stepped(tiny_policy):
    class Poisoned:  # inf rewards -> NaN advantages -> non-finite losses
        name = "poisoned"

        def __call__(self, prompts, completions):
            return np.full(len(prompts), np.inf)

    model, tok = tiny_policy
    task = RLHFTask(model, tok, [Poisoned(), BrevityReward()], client_prompt_pools(2, 0.8, 1), RLHFConfig(**SMALL),
                    eval_samples=2)
    x = task.initial_point()
    for mode in ("firm", "scalarized"):
        res = task.local_update([0, 1], x, client_rngs(0, 0, [0, 1]), local_steps=1, lr=1e-2, beta=0.5,
                                preference=np.array([0.5, 0.5]), mode=mode)
        assert not res.valid.any()
        assert all("non-finite" in r for r in res.reasons), res.reasons
    _, ok, why = task.sketch_jacobians([0], x, client_rngs(0, 0, [0]))
    assert not ok.any() and "non-finite" in why[0]


def test_check_upload_rejects_wrong_and_nonfinite_adapters(tiny_policy):
    task = make_task(tiny_policy)
    state = task.point_state(task.initial_point())
    task.check_upload(state)  # the right layout passes
    k = sorted(state)[0]
    with pytest.raises(ClientFault, match="missing"):
        task.check_upload({kk: v for kk, v in state.items() if kk != k})
    with pytest.raises(ClientFault, match="wrong adapter shape"):
        task.check_upload(dict(state, **{k: state[k].double()}))
    bad = dict(state, **{k: state[k].clone()})
    bad[k][0, 0] = float("nan")
    with pytest.raises(ClientFault, match="non-finite"):
        task.check_upload(bad)


def test_evaluate_is_seeded_and_reports_rewards_kl_and_nan_phi(tiny_policy):
    task = make_task(tiny_policy, eval_prompts=["The function returns", "I think the new version is"])
    x = task.initial_point()
    a, b = task.evaluate(x), task.evaluate(x)
    assert np.isnan(a["phi"]) and a["dist_pareto"] is None
    np.testing.assert_array_equal(a["objectives"], b["objectives"])
    np.testing.assert_allclose(a["objectives"], [-a["reward_positive_sentiment"], -a["reward_brevity"]])
    assert a["kl"] == pytest.approx(0.0, abs=1e-6)  # LoRA B = 0 at init: the policy is the reference
    moved = task.evaluate(x + 0.05 * np.random.default_rng(1).standard_normal(task.dim))
    assert moved["kl"] > 1e-4


def test_task_argument_errors_name_the_argument(tiny_policy):
    model, tok = tiny_policy
    rewards = [SentimentReward(), BrevityReward()]
    with pytest.raises(ValueError, match="client_preferences"):
        RLHFTask(model, tok, rewards, [["a"], ["b"]], client_preferences=[[1.0, 0.0]])
    with pytest.raises(ValueError, match="client_weights"):
        RLHFTask(model, tok, rewards, [["a"], ["b"]], client_weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="pools"):
        RLHFTask(model, tok, rewards, [["a"], []])
    with pytest.raises(ValueError, match="rewards"):
        RLHFTask(model, tok, [BrevityReward(), BrevityReward()], [["a"]])
    task = make_task(tiny_policy)
    x = task.initial_point()
    with pytest.raises(ValueError, match="clients"):
        task.local_update([5], x, client_rngs(0, 0, [5]), local_steps=1, lr=1e-2, beta=0.0, preference=None,
                          mode="firm")
    with pytest.raises(ValueError, match="mode"):
        task.local_update([0], x, client_rngs(0, 0, [0]), local_steps=1, lr=1e-2, beta=0.0,
                          preference=np.array([0.5, 0.5]), mode="adam")
    with pytest.raises(ValueError, match="fixed_lambda"):
        task.local_update([0], x, client_rngs(0, 0, [0]), local_steps=1, lr=1e-2, beta=0.0,
                          preference=np.array([0.5, 0.5]), mode="fixed_lambda")
    with pytest.raises(ValueError, match="rngs"):
        task.sketch_jacobians([0, 1], x, client_rngs(0, 0, [0]))


def test_one_batched_cached_generate_call_per_local_step(tiny_policy, monkeypatch):
    """Generation batches all prompts x completions of a step into one call, with the KV cache."""
    task = make_task(tiny_policy, RLHFConfig(group_size=3, prompts_per_step=2, max_new_tokens=4))
    calls = []
    real = task.model.generate

    def spy(*args, **kwargs):
        calls.append((kwargs["input_ids"].shape[0], kwargs.get("use_cache")))
        return real(*args, **kwargs)

    monkeypatch.setattr(task.model, "generate", spy)
    res = task.local_update([0], task.initial_point(), client_rngs(0, 0, [0]), local_steps=2, lr=1e-2, beta=0.5,
                            preference=np.array([0.5, 0.5]), mode="firm")
    assert res.valid.all()
    assert calls == [(2 * 3, True), (2 * 3, True)]  # K = 2 steps, B * G = 6 sequences each
