"""A reward written in Python for `firm rlhf --reward examples/configs/on_topic_reward.py:on_topic`.

TRL's batched convention: ``fn(prompts, completions, **kwargs) -> list[float]``. A cheap stand-in for
helpfulness: the share of the request's content words (4+ letters) that the response takes up, in [0, 1].
It needs no model, so a run with it fits in the tests; the ``helpful`` built-in (an LLM judge) is the
real thing.
"""

import re

WORD = re.compile(r"[a-z]{4,}")


def on_topic(prompts, completions, **kwargs):
    scores = []
    for prompt, completion in zip(prompts, completions):
        asked = set(WORD.findall(prompt.lower()))
        said = set(WORD.findall(completion.lower()))
        scores.append(len(asked & said) / len(asked) if asked else 0.0)
    return scores
