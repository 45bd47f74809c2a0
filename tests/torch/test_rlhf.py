"""LoRA RLHF backend: reference identity, LoRA-only updates, adapters, rewards, advantages, learning."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from firm_core.federated import AlgorithmConfig, lambda_disagreement  # noqa: E402

from backends.rlhf.hub import ModelUnavailableError  # noqa: E402
from backends.rlhf.losses import group_advantages, policy_gradient_losses  # noqa: E402
from backends.rlhf.policy import (  # noqa: E402
    adapter_state,
    load_adapter_state,
    lora_parameters,
    state_nbytes,
    state_to_vector,
    vector_to_state,
)
from backends.rlhf.rewards import BrevityReward, CallableReward, SentimentReward, SequenceClassifierReward  # noqa: E402
from backends.rlhf.rollout import completion_logprobs, reference_logprobs, sample_group  # noqa: E402
from backends.rlhf.trainer import RLHFConfig, local_steps  # noqa: E402
from backends.torch_backend import NonFiniteGradientError  # noqa: E402
from tests.torch.rlhf_fixtures import tiny_base, tiny_policy  # noqa: E402, F401

pytestmark = pytest.mark.torch

PROMPTS = ["The function returns", "I think the new version is"]
#: float32 forward passes of the same weights agree to round-off
LOGPROB_ATOL = 1e-5
#: the seeded federated runs must raise the p-weighted evaluation reward by at least this; the eval
#: mean over 256 completions has a standard error of about 0.02, so this is a > 4 sigma margin
LEARNING_MARGIN = 0.1


def test_reference_equals_policy_at_init_and_adapter_disable_is_the_base(tiny_policy):
    model, tok = tiny_policy
    ro = sample_group(model, tok, PROMPTS, group_size=4, max_new_tokens=8, seed=0)
    with torch.no_grad():
        logp = completion_logprobs(model, ro)
    ref = reference_logprobs(model, ro)
    torch.testing.assert_close(logp, ref, rtol=0, atol=LOGPROB_ATOL)  # LoRA B = 0 at init
    # perturb the adapter: the policy moves, the reference (adapter disabled) does not
    with torch.no_grad():
        for p in lora_parameters(model):
            p.add_(0.05 * torch.randn_like(p))
        moved = completion_logprobs(model, ro)
    assert (moved - ref).abs().max() > 1e-3
    torch.testing.assert_close(reference_logprobs(model, ro), ref, rtol=0, atol=LOGPROB_ATOL)


@pytest.mark.parametrize("algorithm", ["firm", "local_mgda", "fedavg_ls"])
def test_only_lora_parameters_change(tiny_policy, algorithm):
    model, tok = tiny_policy
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    cfg = RLHFConfig(algorithm=algorithm, group_size=4, prompts_per_step=2, max_new_tokens=8)
    recs = local_steps(model, tok, [SentimentReward(), BrevityReward()], PROMPTS, cfg, 2, np.random.default_rng(0))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p.detach(), before[n])}
    assert changed, "nothing was trained"
    assert all("lora_" in n for n in changed), sorted(changed - {n for n in changed if "lora_" in n})
    for r in recs:
        assert r.weights.shape == (2,) and abs(r.weights.sum() - 1) < 1e-9
        if algorithm == "fedavg_ls":
            np.testing.assert_allclose(r.weights, [0.5, 0.5])


def test_adapter_state_and_safetensors_round_trip(tiny_policy, tmp_path):
    from peft import PeftModel

    model, tok = tiny_policy
    with torch.no_grad():
        for p in lora_parameters(model):
            p.add_(0.01 * torch.randn_like(p))
    state = adapter_state(model)
    assert all("lora_" in k for k in state)
    assert state_nbytes(state) == sum(p.numel() * 4 for p in lora_parameters(model))
    vec = state_to_vector(state)
    back = vector_to_state(vec, state)
    for k in state:
        torch.testing.assert_close(back[k], state[k], rtol=0, atol=0)
    load_adapter_state(model, state)
    model.save_pretrained(str(tmp_path / "adapter"), safe_serialization=True)
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()
    model.unload()
    from backends.rlhf.policy import load_base

    base, _ = load_base("tiny")
    loaded = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
    got = adapter_state(loaded)
    assert set(got) == set(state)
    for k in state:
        torch.testing.assert_close(got[k], state[k], rtol=0, atol=0)
    # a wrong state is rejected, not silently ignored
    with pytest.raises(ValueError, match="entries"):
        vector_to_state(vec[:-1], state)


def test_group_advantages_formulas_and_errors():
    r = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 5.0], [2.0, 5.0]])
    grpo = group_advantages(r, 2, "grpo")
    np.testing.assert_allclose(grpo[:2, 0], [-1, 1], atol=1e-5)
    np.testing.assert_allclose(grpo[:2, 1], [0, 0])  # constant group: zero advantage, not NaN
    rloo = group_advantages(r, 2, "rloo")
    np.testing.assert_allclose(rloo[:, 0], [1 - 3, 3 - 1, 0 - 2, 2 - 0])
    with pytest.raises(ValueError, match="group_size"):
        group_advantages(r, 3)
    with pytest.raises(ValueError, match="kind"):
        group_advantages(r, 2, "ppo")


def test_policy_gradient_losses_share_the_kl_term():
    logp = torch.log(torch.tensor([[0.5, 0.2], [0.1, 0.3]])).requires_grad_(True)
    ref = torch.log(torch.tensor([[0.4, 0.2], [0.2, 0.3]]))
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    adv = np.array([[1.0, -1.0], [-1.0, 1.0]])
    losses, kl = policy_gradient_losses(logp, ref, mask, adv, kl_coef=0.0, max_new_tokens=2)
    seq = (logp.detach() * mask).sum(1) / 2
    assert float(losses[0]) == pytest.approx(float(-(seq[0] - seq[1]) / 2))
    assert float(losses[0]) == pytest.approx(-float(losses[1]))
    d = (ref - logp.detach()) * mask
    assert float(kl) == pytest.approx(float(((d.exp() - d - 1) * mask).sum(1).mean()))
    l1, _ = policy_gradient_losses(logp, ref, mask, adv, kl_coef=0.5, max_new_tokens=2)
    assert float(l1[0] - losses[0]) == pytest.approx(float(l1[1] - losses[1])) == pytest.approx(0.5 * float(kl) / 2)


def test_builtin_and_callable_rewards():
    s = SentimentReward()(["x", "x"], ["What a wonderful, great idea!", "This is terrible and awful."])
    assert s[0] > 0.5 and s[1] < -0.5
    b = BrevityReward(max_chars=10)(["", "", ""], ["", "hello", "x" * 50])
    np.testing.assert_allclose(b, [1.0, 0.5, 0.0])
    c = CallableReward("mentions_prompt", lambda p, c: float(p.split()[0] in c))(["cat a", "dog b"], ["a cat", "a cat"])
    np.testing.assert_allclose(c, [1.0, 0.0])
    with pytest.raises(ValueError, match="non-finite"):
        CallableReward("bad", lambda p, c: float("nan"))(["a"], ["b"])
    with pytest.raises(ValueError, match="2 prompts but 1"):
        BrevityReward()(["a", "b"], ["c"])


def test_reward_model_from_local_directory(tmp_path, tiny_base):
    from transformers import GPT2Config, GPT2ForSequenceClassification

    _, tok = tiny_base
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=len(tok), n_positions=64, n_embd=32, n_layer=1, n_head=2, num_labels=1,
                     pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)
    rm = GPT2ForSequenceClassification(cfg).eval()
    rm.save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    reward = SequenceClassifierReward(str(tmp_path / "rm"))
    prompts, comps = ["The value", "A class"], [" is good.", " creates a new object and more"]
    got = reward(prompts, comps)
    assert got.shape == (2,) and np.all(np.isfinite(got))
    with torch.no_grad():
        want = [float(rm(**tok(p + c, return_tensors="pt")).logits[0, 0]) for p, c in zip(prompts, comps, strict=True)]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)  # batched + left padding = one by one
    assert reward.name == "reward_model:rm"


def test_missing_hub_model_fails_fast_with_instructions(monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match=r"no-such-org/no-such-reward-model.*huggingface-cli download"):
        SequenceClassifierReward("no-such-org/no-such-reward-model")
    assert time.perf_counter() - t0 < 10


def test_lambda_disagreement():
    assert lambda_disagreement(np.array([[0.5, 0.5], [0.5, 0.5]])) == 0.0
    assert lambda_disagreement(np.array([[1.0, 0.0], [0.0, 1.0]])) == pytest.approx(0.5)


@pytest.mark.slow
def test_federated_run_raises_preference_weighted_reward_over_seeds(tiny_policy):
    """FIRM through the engine on the RLHF task learns: the p-weighted evaluation reward of x_T beats x_0."""
    from backends.rlhf.experiment import run_task
    from backends.rlhf.prompts import client_prompt_pools
    from backends.rlhf.task import RLHFTask

    model, tok = tiny_policy
    rewards = [SentimentReward(), BrevityReward()]
    init = adapter_state(model)
    local = RLHFConfig(group_size=8, prompts_per_step=4, max_new_tokens=24)
    gains = []
    for seed in (0, 1, 2):
        load_adapter_state(model, init)  # x_0 of a task is the adapter it is built on
        task = RLHFTask(model, tok, rewards, client_prompt_pools(2, 0.8, seed), local, seed=seed)
        algo = AlgorithmConfig(name="firm", beta=0.5, preference=(0.5, 0.5), lr=1e-2, local_steps=1, seed=seed)
        hist, rows = run_task(task, algo, 5, eval_every=5)
        first = np.array([rows[0][f"reward_{n}"] for n in task.objective_names])
        final = -np.asarray(hist.final_point["objectives"])
        gains.append(float(0.5 * (final - first).sum()))
        assert len(hist) == 5
        assert all(r["record"].uplink_floats == 2 * task.dim for r in rows)  # only LoRA tensors travel
        assert all(np.isfinite(r.d_lambda) and r.d_lambda >= 0 for r in hist.records)
    assert min(gains) > LEARNING_MARGIN, gains
    load_adapter_state(model, init)


@pytest.mark.parametrize(("field", "value"), [("algorithm", "ppo"), ("beta", -1.0), ("group_size", 1),
                                               ("grad_method", "jacrev"), ("on_nonfinite", "ignore"),
                                               ("preference", (0.7, 0.7)), ("advantage", "gae")])
def test_rlhf_config_rejects_bad_fields(field, value):
    with pytest.raises(ValueError, match=field):
        RLHFConfig(**{field: value})


def test_nonfinite_reward_step_is_skipped_and_adapter_untouched(tiny_policy):
    model, tok = tiny_policy
    before = adapter_state(model)
    calls = {"n": 0}

    class Poisoned:  # a raw reward source (no CallableReward check) returning inf: advantages become NaN
        name = "poisoned"

        def __call__(self, prompts, completions):
            calls["n"] += 1
            return np.full(len(prompts), np.inf)

    for algorithm in ("firm", "fedavg_ls"):
        cfg = RLHFConfig(algorithm=algorithm, group_size=4, prompts_per_step=2, max_new_tokens=8)
        recs = local_steps(model, tok, [Poisoned(), BrevityReward()], PROMPTS, cfg, 1, np.random.default_rng(0))
        assert recs[0].skipped and np.isnan(recs[0].weights).all()
        after = adapter_state(model)
        for k in before:
            torch.testing.assert_close(after[k], before[k], rtol=0, atol=0)
        with pytest.raises(NonFiniteGradientError):
            local_steps(model, tok, [Poisoned(), BrevityReward()], PROMPTS,
                        RLHFConfig(algorithm=algorithm, group_size=4, prompts_per_step=2, max_new_tokens=8,
                                   on_nonfinite="raise"), 1, np.random.default_rng(0))
    assert calls["n"] > 0


def test_tiny_model_build_refuses_an_incomplete_cache_folder(tmp_path):
    """A cache folder left half-written is reported (naming it), not returned as if it held the model."""
    from backends.rlhf.tiny_model import TinyModelSpec, tiny_model_dir

    spec = TinyModelSpec(vocab_size=300, n_layer=1, n_embd=8, n_head=2, pretrain_steps=0, zen_repeats=1)
    target = tmp_path / f"tiny-gpt2-{spec.fingerprint()}"
    target.mkdir()
    (target / "config.json").write_text("{}")  # no tokenizer.json: an interrupted build
    with pytest.raises(OSError, match=str(target)):
        tiny_model_dir(spec, cache=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".build.lock", target.name]  # no temp folder left
    built = tiny_model_dir(spec, cache=tmp_path / "fresh")
    assert (built / "config.json").is_file() and (built / "tokenizer.json").is_file()
    assert [p.name for p in (tmp_path / "fresh").iterdir() if p.name.startswith(".building-")] == []
