"""The pieces fit the trainer: parsed rewards on the shipped alignment prompts drive one FIRM step."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("profanity_check")

from backends.rlhf.chat import format_prompts  # noqa: E402
from backends.rlhf.policy import adapter_state  # noqa: E402
from backends.rlhf.prompts import alignment_prompt_records, split_prompts  # noqa: E402
from backends.rlhf.rewards import adapt_callable, parse_reward_specs  # noqa: E402
from backends.rlhf.trainer import RLHFConfig, local_steps  # noqa: E402
from tests.torch.rlhf_fixtures import tiny_base, tiny_policy  # noqa: E402, F401

pytestmark = pytest.mark.torch


def test_one_firm_step_on_alignment_prompts_with_parsed_rewards(tiny_policy):
    model, tok = tiny_policy
    records = alignment_prompt_records()
    pools = split_prompts([r["prompt"] for r in records], 2, column_values=[r["category"] for r in records])
    safety_pool = format_prompts(tok, pools[1])  # the tiny tokenizer has no template: unchanged
    assert safety_pool == pools[1]
    seen = []

    def trl_length(completions, prompts=None, **kwargs):  # a TRL-style function, as GRPOTrainer calls it
        seen.append(list(prompts))
        return [-len(c) / 100 for c in completions]

    rewards = [*parse_reward_specs(["harmless"]), adapt_callable(trl_length, "short")]
    before = adapter_state(model)
    cfg = RLHFConfig(algorithm="firm", group_size=2, prompts_per_step=2, max_new_tokens=8)
    [rec] = local_steps(model, tok, rewards, safety_pool, cfg, 1, np.random.default_rng(0))
    assert not rec.skipped and rec.rewards.shape == (2,)
    assert 0.0 <= rec.rewards[0] <= 1.0 and rec.rewards[1] <= 0.0
    assert len(seen) == 1 and len(seen[0]) == 4 and set(seen[0]) <= set(safety_pool)  # one batched call
    after = adapter_state(model)
    assert any(not torch.equal(after[k], before[k]) for k in before)
