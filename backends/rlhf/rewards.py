"""Reward sources: each scores (prompt, completion) texts for one objective, named for what it measures.

Built in and offline:
- ``positive_sentiment``: VADER compound polarity of the completion, in [-1, 1] (Hutto & Gilbert 2014,
  the ``vaderSentiment`` lexicon, MIT).
- ``brevity``: 1 - min(len(completion), max_chars) / max_chars, in [0, 1]: shorter is better.
  It conflicts with sentiment: saying something positive takes characters.
Also: any callable ``f(prompt, completion) -> float`` (:class:`CallableReward`) and a sequence
classifier reward model loaded by local path (:class:`SequenceClassifierReward`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from .hub import from_pretrained_offline

BUILTIN_REWARDS = ("positive_sentiment", "brevity")


def _check_texts(prompts: Sequence[str], completions: Sequence[str], name: str):
    if len(prompts) != len(completions):
        raise ValueError(f"reward '{name}': got {len(prompts)} prompts but {len(completions)} completions")


class CallableReward:
    """Wrap ``fn(prompt, completion) -> float`` as a named reward source."""

    def __init__(self, name: str, fn: Callable[[str, str], float]):
        if not callable(fn):
            raise TypeError(f"`fn` must be callable, got {type(fn).__name__}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string, got {name!r}")
        self.name = name
        self.fn = fn

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        _check_texts(prompts, completions, self.name)
        out = np.array([float(self.fn(p, c)) for p, c in zip(prompts, completions, strict=True)])
        if not np.all(np.isfinite(out)):
            raise ValueError(f"reward '{self.name}' returned non-finite values: {out.tolist()}")
        return out


class SentimentReward(CallableReward):
    """VADER compound polarity of the completion (-1 most negative, +1 most positive)."""

    def __init__(self):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = SentimentIntensityAnalyzer()
        super().__init__("positive_sentiment", lambda _p, c: analyzer.polarity_scores(c)["compound"])


class BrevityReward(CallableReward):
    """1 - min(len(completion.strip()), max_chars) / max_chars."""

    def __init__(self, max_chars: int = 100):
        if max_chars < 1:
            raise ValueError(f"`max_chars` must be >= 1, got {max_chars}")
        super().__init__("brevity", lambda _p, c: 1.0 - min(len(c.strip()), max_chars) / max_chars)


class SequenceClassifierReward:
    """Reward model: ``AutoModelForSequenceClassification`` scoring ``prompt + completion``.

    The score is the logit when the model has one label, else the logit of ``label_index`` (default
    the last label) minus the log-sum-exp of all logits (its log-probability).
    """

    def __init__(self, name_or_path: str, name: str | None = None, label_index: int | None = None,
                 batch_size: int = 16, device=None):
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        self.model = from_pretrained_offline(AutoModelForSequenceClassification, name_or_path, "reward model").eval()
        self.tokenizer = from_pretrained_offline(AutoTokenizer, name_or_path, "reward model tokenizer")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"  # classifiers read the last non-pad token; positions stay 0..n-1
        if self.model.config.pad_token_id is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id
        n = self.model.config.num_labels
        if label_index is not None and not -n <= label_index < n:
            raise ValueError(f"`label_index` must index one of the {n} labels, got {label_index}")
        self.label_index = label_index
        self.batch_size = batch_size
        self.device = device or torch.device("cpu")
        self.model.to(self.device)
        self.name = name or f"reward_model:{str(name_or_path).rstrip('/').split('/')[-1]}"

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        import torch

        _check_texts(prompts, completions, self.name)
        texts = [p + c for p, c in zip(prompts, completions, strict=True)]
        out = []
        with torch.no_grad():
            for s in range(0, len(texts), self.batch_size):
                enc = self.tokenizer(texts[s : s + self.batch_size], return_tensors="pt", padding=True,
                                     truncation=True).to(self.device)
                logits = self.model(**enc).logits.float()
                if logits.shape[-1] == 1:
                    out.append(logits[:, 0])
                else:
                    k = -1 if self.label_index is None else self.label_index
                    out.append(torch.log_softmax(logits, dim=-1)[:, k])
        return torch.cat(out).cpu().numpy().astype(np.float64)


def resolve_reward(spec, **kwargs):
    """A reward source from a built-in name, a callable, an object with ``name`` and ``__call__``,
    or a local reward-model directory / cached hub id."""
    if isinstance(spec, str):
        if spec == "positive_sentiment":
            return SentimentReward()
        if spec == "brevity":
            return BrevityReward(**kwargs)
        return SequenceClassifierReward(spec, **kwargs)
    if hasattr(spec, "name") and callable(spec):
        return spec
    if callable(spec):
        return CallableReward(getattr(spec, "__name__", "custom"), spec)
    raise TypeError(f"reward source must be a name, a path or a callable, got {type(spec).__name__}")


def score(sources: Sequence, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
    """Rewards (n, M): column m from ``sources[m]``."""
    return np.stack([np.asarray(src(prompts, completions), dtype=np.float64) for src in sources], axis=1)
