"""Reward specs: built-in names, module:callable, file.py:callable, TRL's convention, errors naming --reward."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from backends.rlhf.rewards import (
    BUILTIN_REWARDS,
    BrevityReward,
    CallableReward,
    HarmlessReward,
    LLMJudgeReward,
    SentimentReward,
    TRLRewardAdapter,
    adapt_callable,
    parse_reward_specs,
    resolve_reward,
    score,
)

PROMPTS = ["Say hi.", "Say bye."]
COMPLETIONS = ["hi there", "bye"]

USER_MODULE = '''
import numpy as np

def trl_len(completions, **kwargs):
    """TRL convention, plain or conversational completions."""
    texts = [c if isinstance(c, str) else c[0]["content"] for c in completions]
    return [float(len(t)) for t in texts]

def trl_with_prompts(prompts, completions):
    return [float(c.startswith(p.split()[1][:2].lower())) for p, c in zip(prompts, completions)]

def trl_solution(completions, solution, **kwargs):
    return [float(s in c) for c, s in zip(completions, solution)]

def trl_seen(completions, **kwargs):
    SEEN.append(kwargs)
    return [0.0] * len(completions)
SEEN = []

def per_sample(prompt, completion):
    return float(len(completion) - len(prompt))

def per_sample_extra(prompt, completion, scale=2.0):
    return scale * len(completion)

def returns_none(completions, **kwargs):
    return [None] * len(completions)

def wrong_length(completions, **kwargs):
    return [1.0]

def one_arg(text):
    return 1.0

class Scorer:
    def __call__(self, completions, **kwargs):
        return np.ones(len(completions))

class Named:
    name = "named_reward"

    def __call__(self, prompts, completions):
        return np.array([float(len(p)) for p in prompts])

class NamedTRL:
    name = "named_trl"

    def __call__(self, completions, **kwargs):
        return [float(len(c)) for c in completions]

class NeedsArgs:
    def __init__(self, k):
        pass

NOT_CALLABLE = 3
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """An importable module `firm_test_user_rewards` and the same code as a file `rewards_file.py`."""
    (tmp_path / "firm_test_user_rewards.py").write_text(USER_MODULE)
    (tmp_path / "rewards_file.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(__import__("sys").modules, "firm_test_user_rewards", raising=False)
    return tmp_path


def test_builtins_parse_in_order_and_replace_nothing_silently():
    rewards = parse_reward_specs(["harmless", "brevity", "positive_sentiment", "helpful"])
    assert [r.name for r in rewards] == ["harmless", "brevity", "positive_sentiment", "helpful"]
    assert isinstance(rewards[0], HarmlessReward) and isinstance(rewards[1], BrevityReward)
    assert isinstance(rewards[2], SentimentReward) and isinstance(rewards[3], LLMJudgeReward)
    assert rewards[3].model is None  # the judge loads on first use, not at parse time
    assert set(BUILTIN_REWARDS) == {"positive_sentiment", "brevity", "harmless", "helpful", "on_topic"}
    for r in rewards:
        lo, hi = r.bounds
        assert lo < hi


def test_unknown_name_lists_the_builtins_and_the_other_forms():
    with pytest.raises(ValueError, match=r"--reward 'harmlessness': not a built-in reward.*Built-ins: "
                                         r"positive_sentiment, brevity, harmless, helpful.*module:callable"):
        parse_reward_specs(["harmlessness"])


@pytest.mark.parametrize("specs, err, match", [
    ([], ValueError, "--reward: give at least one reward; built-ins: positive_sentiment"),
    ("harmless", TypeError, "--reward: expected a list of reward specs, got str"),
    (["brevity", "brevity"], ValueError, r"distinct names, \['brevity'\] appear more than once"),
    ([""], ValueError, "--reward: empty reward spec"),
    ([3], TypeError, "each reward spec must be a string, got int"),
    (["./no/such/folder"], ValueError, "--reward './no/such/folder': no such reward-model folder"),
    (["org/some-reward-model"], ValueError, "hub ids are not resolved here"),
])
def test_bad_spec_lists(specs, err, match):
    with pytest.raises(err, match=match):
        parse_reward_specs(specs)


def test_a_file_is_not_a_folder(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"x")
    with pytest.raises(ValueError, match="is a file, expected a reward-model folder"):
        parse_reward_specs([str(f)])


def test_module_and_file_callables_follow_trl_or_per_sample_by_signature(user_module):
    specs = ["firm_test_user_rewards:trl_len", f"{user_module / 'rewards_file.py'}:per_sample",
             "firm_test_user_rewards:trl_with_prompts", "firm_test_user_rewards:Scorer"]
    rewards = parse_reward_specs(specs)
    assert [r.name for r in rewards] == ["trl_len", "per_sample", "trl_with_prompts", "Scorer"]
    assert isinstance(rewards[0], TRLRewardAdapter) and isinstance(rewards[1], CallableReward)
    got = score(rewards, PROMPTS, COMPLETIONS)
    np.testing.assert_array_equal(got, [[8.0, 1.0, 1.0, 1.0], [3.0, -5.0, 1.0, 1.0]])


def test_reward_objects_keep_their_names_and_get_arguments_by_keyword(user_module):
    rewards = parse_reward_specs(["firm_test_user_rewards:Named", "firm_test_user_rewards:NamedTRL",
                                  "backends.rlhf.rewards:BrevityReward"])
    assert [r.name for r in rewards] == ["named_reward", "named_trl", "brevity"]
    np.testing.assert_allclose(score(rewards, PROMPTS, COMPLETIONS), [[7.0, 8.0, 0.92], [8.0, 3.0, 0.97]])


def test_conversational_trl_functions_get_message_lists(user_module):
    [plain] = parse_reward_specs(["firm_test_user_rewards:trl_seen"])
    [conv] = parse_reward_specs(["firm_test_user_rewards:trl_seen"], conversational=True)
    import firm_test_user_rewards as mod

    plain(PROMPTS, COMPLETIONS)
    conv(PROMPTS, COMPLETIONS)
    assert mod.SEEN[0]["prompts"] == PROMPTS
    assert mod.SEEN[1]["prompts"] == [[{"role": "user", "content": "Say hi."}],
                                      [{"role": "user", "content": "Say bye."}]]
    [length] = parse_reward_specs(["firm_test_user_rewards:trl_len"], conversational=True)
    np.testing.assert_array_equal(length(PROMPTS, COMPLETIONS), [8.0, 3.0])  # read from message contents


def test_dataset_columns_reach_trl_functions_through_score(user_module):
    rewards = parse_reward_specs(["firm_test_user_rewards:trl_solution", "brevity"])
    got = score(rewards, PROMPTS, COMPLETIONS, columns={"solution": ["there", "hi"]})
    np.testing.assert_allclose(got, [[1.0, 0.92], [0.0, 0.97]])
    with pytest.raises(ValueError, match="column 'solution' has 1 values for 2 completions"):
        score(rewards, PROMPTS, COMPLETIONS, columns={"solution": ["x"]})


@pytest.mark.parametrize("attr, match", [
    ("returns_none", r"returned None for sample\(s\) \[0, 1\]"),
    ("wrong_length", "returned 1 scores for 2 completions"),
])
def test_bad_return_values_are_named(user_module, attr, match):
    [r] = parse_reward_specs([f"firm_test_user_rewards:{attr}"])
    with pytest.raises(ValueError, match=f"reward '{attr}' " + match):
        r(PROMPTS, COMPLETIONS)


@pytest.mark.parametrize("spec, match", [
    ("firm_test_user_rewards:missing", "'firm_test_user_rewards' has no attribute 'missing'"),
    ("firm_test_user_rewards:NOT_CALLABLE", "'NOT_CALLABLE' is a int, not a callable"),
    ("firm_test_user_rewards:NeedsArgs", "cannot instantiate NeedsArgs with no arguments"),
    ("firm_test_user_rewards:one_arg", r"the callable takes \(text\); a reward is either f\(completions"),
    ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz' \\(ModuleNotFoundError"),
    ("missing_file.py:f", "no such Python file missing_file.py"),
])
def test_bad_callable_specs_name_the_option_and_the_problem(user_module, spec, match):
    with pytest.raises(ValueError, match=f"--reward '{spec}': " + match):
        parse_reward_specs([spec])


def test_a_file_that_fails_to_run_is_reported(tmp_path):
    f = tmp_path / "broken.py"
    f.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ValueError, match=r"running .*broken.py.* raised RuntimeError: boom"):
        parse_reward_specs([f"{f}:anything"])


def test_per_sample_form_with_defaults_and_trl_detection():
    r = adapt_callable(lambda prompt, completion, scale=2.0: scale * len(completion), "scaled")
    assert isinstance(r, CallableReward)
    np.testing.assert_array_equal(r(PROMPTS, COMPLETIONS), [16.0, 6.0])
    t = adapt_callable(lambda completions, **kw: [0.5] * len(completions), "half")
    assert isinstance(t, TRLRewardAdapter)
    with pytest.raises(ValueError, match="a TRL-style reward function takes `completions`"):
        TRLRewardAdapter(lambda prompts: [0.0], "bad")


def test_score_stacks_columns_in_order_and_checks_shapes():
    a = CallableReward("len", lambda p, c: float(len(c)))
    b = CallableReward("plen", lambda p, c: float(len(p)))
    np.testing.assert_array_equal(score([b, a], PROMPTS, COMPLETIONS), [[7.0, 8.0], [8.0, 3.0]])

    class Short:
        name = "short"

        def __call__(self, prompts, completions):
            return np.zeros(len(completions) + 1)

    with pytest.raises(ValueError, match="reward 'short' returned 3 scores for 2 completions"):
        score([a, Short()], PROMPTS, COMPLETIONS)
    with pytest.raises(ValueError, match="got 2 prompts but 1 completions"):
        score([a], PROMPTS, COMPLETIONS[:1])

    class Inf:
        name = "inf"

        def __call__(self, prompts, completions):
            return np.full(len(completions), np.inf)

    assert np.isinf(score([Inf()], PROMPTS, COMPLETIONS)).all()  # passed on: the trainer skips that step


def test_resolve_reward_knows_the_new_builtins():
    assert isinstance(resolve_reward("harmless"), HarmlessReward)
    assert resolve_reward("brevity", max_chars=10).name == "brevity"
    assert isinstance(resolve_reward("helpful"), LLMJudgeReward)
