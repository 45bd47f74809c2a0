"""Reward sources: each scores a batch of (prompt, completion) texts for one objective.

A reward is any object with a ``name`` and ``__call__(prompts, completions) -> array of n floats``
(:class:`Reward`); higher is always better. Built in and offline (see :data:`BUILTIN_REWARDS`):

=====================  ==============  =====================================================================
name                   range           score of one completion c
=====================  ==============  =====================================================================
``positive_sentiment`` [-1, 1]         VADER compound polarity of c (Hutto & Gilbert 2014, ``vaderSentiment``)
``brevity``            [0, 1]          1 - min(len(c.strip()), 100) / 100: shorter is better
``harmless``           [0, 1]          1 - P(offensive | c), the scikit-learn classifier inside
                                       ``alt-profanity-check`` (calibrated linear SVM on TF-IDF words)
``helpful``            (-inf, inf)     LLM-as-judge: log P("Yes") - log P("No") of SmolLM2-135M-Instruct
                                       asked whether c usefully answers the prompt (a proxy, see below)
``on_topic``           [0, 1]          share of the prompt's content words (4+ letters) that c uses: a
                                       model-free stand-in for ``helpful`` where loading a judge is too slow
=====================  ==============  =====================================================================

``brevity`` conflicts with ``positive_sentiment`` (praise takes characters); ``helpful`` conflicts with
``harmless`` on requests for insults or angry messages, where the most on-request answer is offensive.

:func:`parse_reward_specs` turns the user's list of specs into rewards: a built-in name, a local
reward-model folder (``AutoModelForSequenceClassification``, safetensors weights only, no remote
code), ``module:callable`` or ``path/to/file.py:callable``. A callable may follow TRL's reward-function
convention, ``f(completions, prompts=..., **kwargs) -> list[float]`` (batched; completions plain strings
or conversational ``[{"role": "assistant", "content": ...}]`` lists), so reward functions written for
TRL's ``GRPOTrainer`` work unchanged; or the per-sample form ``f(prompt, completion) -> float``.
:func:`score` evaluates M rewards on one batch into an (n, M) array.
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from firm_core.user_code import run_python_file

from .hub import from_pretrained_offline

BUILTIN_REWARDS = ("positive_sentiment", "brevity", "harmless", "helpful", "on_topic")
#: the option named in errors about reward specs (the command line's repeatable flag)
OPTION = "--reward"
#: files whose formats unpickle (and so can run code) when loaded: refused in a reward-model folder
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib")


@runtime_checkable
class Reward(Protocol):
    """One objective: ``name`` and a batched scorer returning n floats, higher = better."""

    name: str

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray: ...


def _check_texts(prompts: Sequence[str], completions: Sequence[str], name: str):
    if len(prompts) != len(completions):
        raise ValueError(f"reward '{name}': got {len(prompts)} prompts but {len(completions)} completions")


def _as_scores(values, n: int, name: str, *, finite: bool = True) -> np.ndarray:
    """``values`` as a float64 array of n (finite) scores, or a ValueError naming the reward."""
    if values is None or isinstance(values, (str, bytes)):
        raise ValueError(f"reward '{name}' must return {n} numbers, got {type(values).__name__}")
    vals = list(values) if not isinstance(values, np.ndarray) else values.reshape(-1).tolist()
    if len(vals) != n:
        raise ValueError(f"reward '{name}' returned {len(vals)} scores for {n} completions")
    missing = [i for i, v in enumerate(vals) if v is None]
    if missing:
        raise ValueError(f"reward '{name}' returned None for sample(s) {missing[:5]}: every completion needs a score")
    try:
        out = np.array([float(v) for v in vals], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"reward '{name}' returned non-numeric scores: {vals[:5]!r}") from None
    if finite and not np.all(np.isfinite(out)):
        raise ValueError(f"reward '{name}' returned non-finite values: {out.tolist()}")
    return out


# --------------------------------------------------------------------------------------------------
# per-sample callables and the two lexical built-ins (kept as they were: the trainer uses them)

class CallableReward:
    """Wrap ``fn(prompt, completion) -> float`` as a named reward source (called once per sample)."""

    bounds = (-math.inf, math.inf)

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
    """VADER compound polarity of the completion, in [-1, 1]: -1 most negative, +1 most positive."""

    bounds = (-1.0, 1.0)

    def __init__(self):
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        analyzer = SentimentIntensityAnalyzer()
        super().__init__("positive_sentiment", lambda _p, c: analyzer.polarity_scores(c)["compound"])


class BrevityReward(CallableReward):
    """1 - min(len(completion.strip()), max_chars) / max_chars, in [0, 1]: 1 for an empty answer."""

    bounds = (0.0, 1.0)

    def __init__(self, max_chars: int = 100):
        if max_chars < 1:
            raise ValueError(f"`max_chars` must be >= 1, got {max_chars}")
        super().__init__("brevity", lambda _p, c: 1.0 - min(len(c.strip()), max_chars) / max_chars)


class OnTopicReward(CallableReward):
    """|words(prompt) & words(c)| / |words(prompt)|, in [0, 1] (words: runs of 4+ letters, lower-cased; 0 for
    a prompt without such words): how much of the request the answer takes up. A cheap, model-free proxy
    for helpfulness; it cannot tell a useful answer from one that repeats the question."""

    bounds = (0.0, 1.0)
    WORD = re.compile(r"[a-z]{4,}")

    def __init__(self):
        super().__init__("on_topic", self._score)

    @classmethod
    def _score(cls, prompt: str, completion: str) -> float:
        asked = set(cls.WORD.findall(prompt.lower()))
        said = set(cls.WORD.findall(completion.lower()))
        return len(asked & said) / len(asked) if asked else 0.0


# --------------------------------------------------------------------------------------------------
# harmless: a trained offensive-language classifier that ships inside a package

class HarmlessReward:
    """1 - P(offensive | completion), in [0, 1]; higher = less offensive. Batched, CPU, ~ms per 100 texts.

    P(offensive) comes from the calibrated linear SVM over TF-IDF word features that
    ``alt-profanity-check`` ships (trained by its authors on ~200k human-labelled clean and offensive
    texts). It reads the completion only (a refusal to a hostile request scores as harmless) and sees
    words, not intent: a proxy for harmlessness, blind to politely worded harm. Loads on first use (~1 s).
    """

    name = "harmless"
    bounds = (0.0, 1.0)

    def __init__(self):
        self._predict = None

    def _predictor(self):
        if self._predict is None:
            try:
                from profanity_check import predict_prob
            except ImportError:
                raise ImportError("the `harmless` reward needs alt-profanity-check: pip install 'firm[align]' "
                                  "(alt-profanity-check==1.9.1)") from None
            self._predict = predict_prob
        return self._predict

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        _check_texts(prompts, completions, self.name)
        if not len(completions):
            return np.zeros(0)
        p_offensive = np.asarray(self._predictor()([str(c) for c in completions]), dtype=np.float64)
        return _as_scores(1.0 - p_offensive, len(completions), self.name)


# --------------------------------------------------------------------------------------------------
# helpful: an instruct model as judge

JUDGE_TEMPLATE = ("Here is a request and a response.\n\nRequest: {prompt}\n\nResponse: {completion}\n\n"
                  "{question} Answer Yes or No.")
HELPFUL_QUESTION = "Is this response a helpful answer to the request?"
#: answers whose next-token probabilities the judge compares (each must be one token to count)
YES_ANSWERS = ("Yes", " Yes")
NO_ANSWERS = ("No", " No")


def _single_token_ids(tokenizer, words: Sequence[str]) -> list[int]:
    ids = []
    for w in words:
        enc = tokenizer(w, add_special_tokens=False)["input_ids"]
        if len(enc) == 1 and enc[0] not in ids:
            ids.append(int(enc[0]))
    return ids


class LLMJudgeReward:
    """LLM-as-judge: score = log P(yes | q) - log P(no | q), the log-odds of answering Yes over No.

    q renders :data:`JUDGE_TEMPLATE` (prompt, completion, ``question``) as one user turn of the judge's
    chat template (plain text when it has none). P(yes) sums the next-token probabilities of the
    single-token forms of ``yes_answers`` (default :data:`YES_ANSWERS`; likewise No). Range (-inf, inf), 0 = undecided,
    higher = the judge leans Yes. One forward pass per ``batch_size`` texts (left-padded, positions
    from the attention mask), no sampling. The judge is loaded by ``loader() -> (model, tokenizer)``
    on first use unless ``model`` and ``tokenizer`` are given, and moved to ``device`` when one is given.
    """

    bounds = (-math.inf, math.inf)

    def __init__(self, name: str, question: str, *, model=None, tokenizer=None, loader=None,
                 batch_size: int = 16, max_completion_chars: int = 2000, use_chat_template: bool = True,
                 yes_answers: Sequence[str] = YES_ANSWERS, no_answers: Sequence[str] = NO_ANSWERS,
                 device=None):
        if (model is None) != (tokenizer is None):
            raise ValueError("give both `model` and `tokenizer` to the judge, or neither (with `loader`)")
        if model is None and loader is None:
            raise ValueError("the judge needs `model` and `tokenizer`, or a `loader` returning them")
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be >= 1, got {batch_size}")
        if max_completion_chars < 1:
            raise ValueError(f"`max_completion_chars` must be >= 1, got {max_completion_chars}")
        self.name, self.question = name, question
        self.model, self.tokenizer, self.loader = model, tokenizer, loader
        self.batch_size, self.max_completion_chars = batch_size, max_completion_chars
        self.use_chat_template = use_chat_template
        self.yes_answers, self.no_answers = tuple(yes_answers), tuple(no_answers)
        self.device = device
        self._ids = None

    def load(self):
        """Load the judge now (else on first call); returns self."""
        if self.model is None:
            self.model, self.tokenizer = self.loader()
            self.model.eval()
        if self.device is not None:
            self.model.to(self.device)
        if self._ids is None:
            yes = _single_token_ids(self.tokenizer, self.yes_answers)
            no = _single_token_ids(self.tokenizer, self.no_answers)
            if not yes or not no:
                raise ValueError(f"judge '{self.name}': the tokenizer has no single token for any of "
                                 f"{self.yes_answers if not yes else self.no_answers}")
            if set(yes) & set(no):
                raise ValueError(f"judge '{self.name}': yes and no answers share tokens {sorted(set(yes) & set(no))}")
            self._ids = (yes, no)
        return self

    def judge_texts(self, prompts: Sequence[str], completions: Sequence[str]) -> list[str]:
        """The texts the judge reads (chat-formatted when it has a template)."""
        from .chat import format_prompts

        self.load()
        asks = [JUDGE_TEMPLATE.format(prompt=p, completion=c[: self.max_completion_chars], question=self.question)
                for p, c in zip(prompts, completions, strict=True)]
        return format_prompts(self.tokenizer, asks, use_chat_template=self.use_chat_template)

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        import torch

        _check_texts(prompts, completions, self.name)
        texts = self.judge_texts(prompts, completions)
        yes, no = self._ids
        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        device = next(self.model.parameters()).device
        out = []
        with torch.no_grad():
            for s in range(0, len(texts), self.batch_size):
                rows = [tok(t, add_special_tokens=False)["input_ids"] for t in texts[s: s + self.batch_size]]
                width = max(len(r) for r in rows)
                ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=device)
                mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)
                pos = (mask.cumsum(dim=1) - 1).clamp(min=0)
                logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos).logits[:, -1, :]
                logp = torch.log_softmax(logits.float(), dim=-1)
                out.append(torch.logsumexp(logp[:, yes], dim=-1) - torch.logsumexp(logp[:, no], dim=-1))
        scores = torch.cat(out).cpu().numpy() if out else np.zeros(0)
        return _as_scores(scores, len(texts), self.name)


def _load_smollm2_judge():
    from .policy import load_base

    return load_base("smollm2")


def helpful_reward(**kwargs) -> LLMJudgeReward:
    """The ``helpful`` built-in: SmolLM2-135M-Instruct judging :data:`HELPFUL_QUESTION`.

    A proxy: a 135 M-parameter judge mostly rewards on-topic, fluent, direct answers; it cannot check
    facts and is easy to flatter. Measured on 1 CPU thread: 20-75 s to load, 5-8 s per batch of 16 texts.
    """
    kwargs.setdefault("loader", _load_smollm2_judge)
    return LLMJudgeReward("helpful", HELPFUL_QUESTION, **kwargs)


# --------------------------------------------------------------------------------------------------
# reward models from local folders

class SequenceClassifierReward:
    """Reward model: ``AutoModelForSequenceClassification`` scoring ``prompt + completion``.

    The score is the logit when the model has one label, else the logit of ``label_index`` (default
    the last label) minus the log-sum-exp of all logits (its log-probability). Range (-inf, inf) for one
    label, (-inf, 0] otherwise; higher = better.
    """

    bounds = (-math.inf, math.inf)

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


def check_reward_folder(path, option: str = OPTION) -> Path:
    """Refuse a reward-model folder that could run code when loaded; returns the resolved path.

    Required: ``config.json`` (a JSON object without ``auto_map``: remote code is never trusted; the
    same for ``tokenizer_config.json``), at least one ``*.safetensors`` weight file, and no file in a
    pickle-based format (``*.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``, ``*.pkl``, ``*.pickle``,
    ``*.joblib``): unpickling can execute arbitrary code. Errors are ValueErrors naming ``option``.
    """
    folder = Path(path).expanduser()
    where = f"{option} {str(path)!r}"
    if not folder.is_dir():
        raise ValueError(f"{where}: " + ("is a file, expected a reward-model folder" if folder.exists()
                                         else "no such reward-model folder"))
    config = folder / "config.json"
    if not config.is_file():
        raise ValueError(f"{where}: the folder has no config.json, so it is not a model saved by "
                         "save_pretrained; refusing it")
    for name in ("config.json", "tokenizer_config.json"):
        f = folder / name
        if not f.is_file():
            continue
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{where}: {name} is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{where}: {name} must hold a JSON object, got {type(data).__name__}")
        if "auto_map" in data:
            raise ValueError(f"{where}: {name} has `auto_map`, i.e. the model needs its own Python code "
                             "(remote code), which is never run here; use a model class transformers ships")
    pickles = sorted(f.name for f in folder.iterdir() if f.is_file() and f.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise ValueError(f"{where}: refusing pickle-format files {pickles[:5]} (loading them can run "
                         "arbitrary code); keep only safetensors weights: "
                         "model.save_pretrained(DIR, safe_serialization=True)")
    if not any(folder.glob("*.safetensors")):
        raise ValueError(f"{where}: no *.safetensors weights in the folder")
    return folder


# --------------------------------------------------------------------------------------------------
# user callables: TRL's batched convention or per-sample

def _assistant_turns(completions: Sequence[str]) -> list[list[dict]]:
    return [[{"role": "assistant", "content": c}] for c in completions]


def _user_turns(prompts: Sequence[str]) -> list[list[dict]]:
    return [[{"role": "user", "content": p}] for p in prompts]


class TRLRewardAdapter:
    """A reward function in TRL's convention, ``f(completions, prompts=..., **kwargs) -> list[float]``.

    Called once per batch with keywords only, as TRL's GRPOTrainer calls it: ``prompts``,
    ``completions`` and any extra dataset ``columns`` (each a list of n values), filtered to the
    parameters ``f`` names unless it takes ``**kwargs``. With ``conversational`` the prompts and
    completions go as ``[{"role": "user"/"assistant", "content": ...}]`` lists, else as plain strings.
    Every returned score must be a finite number (TRL's ``None`` for "not applicable" is refused).
    """

    bounds = (-math.inf, math.inf)

    def __init__(self, fn: Callable, name: str, *, conversational: bool = False):
        if not callable(fn):
            raise TypeError(f"`fn` must be callable, got {type(fn).__name__}")
        params = inspect.signature(fn).parameters
        self.takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
        self.accepted = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if "completions" not in self.accepted and not self.takes_kwargs:
            raise ValueError(f"reward '{name}': a TRL-style reward function takes `completions` "
                             f"(or **kwargs); its parameters are {list(params)}")
        self.fn, self.name, self.conversational = fn, name, conversational

    def __call__(self, prompts: Sequence[str], completions: Sequence[str], **columns) -> np.ndarray:
        _check_texts(prompts, completions, self.name)
        for key, col in columns.items():
            if len(col) != len(completions):
                raise ValueError(f"reward '{self.name}': column {key!r} has {len(col)} values for "
                                 f"{len(completions)} completions")
        kwargs = {"prompts": _user_turns(prompts) if self.conversational else list(prompts),
                  "completions": _assistant_turns(completions) if self.conversational else list(completions),
                  **columns}
        if not self.takes_kwargs:
            kwargs = {k: v for k, v in kwargs.items() if k in self.accepted}
        return _as_scores(self.fn(**kwargs), len(completions), self.name)


def is_trl_convention(fn: Callable) -> bool:
    """True when ``fn`` takes ``completions`` by name or ``**kwargs`` (TRL's batched convention);
    False for the per-sample ``f(prompt, completion)`` form (two positional parameters, no ``completions``)."""
    params = inspect.signature(fn).parameters.values()
    return any(p.kind is p.VAR_KEYWORD for p in params) or any(p.name == "completions" for p in params)


def adapt_callable(fn: Callable, name: str, *, conversational: bool = False, option: str = OPTION,
                   spec: str | None = None):
    """The reward for a user callable, by its signature: TRL's batched convention
    (:class:`TRLRewardAdapter`) or per-sample ``f(prompt, completion) -> float`` (:class:`CallableReward`).
    Errors name ``option`` and ``spec`` (default: ``name``)."""
    spec = spec or name
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        raise ValueError(f"{option} {spec!r}: cannot read the signature of {fn!r}") from None
    if is_trl_convention(fn):
        return TRLRewardAdapter(fn, name, conversational=conversational)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in params if p.default is p.empty and p.kind is not p.VAR_POSITIONAL]
    if (len(positional) >= 2 and len(required) <= 2) or any(p.kind is p.VAR_POSITIONAL for p in params):
        return CallableReward(name, fn)
    raise ValueError(f"{option} {spec!r}: the callable takes ({', '.join(p.name for p in params)}); a reward is "
                     "either f(completions, prompts=None, **kwargs) -> list[float] (TRL's convention) or "
                     "f(prompt, completion) -> float")


def load_callable(spec: str, option: str = OPTION):
    """The object named by ``module:attr`` or ``path/to/file.py:attr`` (``attr`` may be dotted; a class
    is instantiated with no arguments)."""
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ValueError(f"{option} {spec!r}: expected module:callable or file.py:callable")
    if target.endswith(".py"):
        file = Path(target).expanduser()
        if not file.is_file():
            raise ValueError(f"{option} {spec!r}: no such Python file {file}")
        module = run_python_file(file, prefix="_firm_reward", what=f"{option} {spec!r}")
    else:
        try:
            module = importlib.import_module(target)
        except Exception as exc:
            raise ValueError(f"{option} {spec!r}: cannot import module {target!r} "
                             f"({type(exc).__name__}: {exc})") from exc
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{option} {spec!r}: {target!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, type):
        try:
            obj = obj()
        except Exception as exc:
            raise ValueError(f"{option} {spec!r}: cannot instantiate {attr} with no arguments "
                             f"({type(exc).__name__}: {exc})") from exc
    if not callable(obj):
        raise ValueError(f"{option} {spec!r}: {attr!r} is a {type(obj).__name__}, not a callable")
    return obj


# --------------------------------------------------------------------------------------------------
# resolving specs

def builtin_reward(name: str, **kwargs):
    """A fresh built-in reward by name (``kwargs`` go to its constructor)."""
    makers = {"positive_sentiment": SentimentReward, "brevity": BrevityReward, "harmless": HarmlessReward,
              "helpful": helpful_reward, "on_topic": OnTopicReward}
    if name not in makers:
        raise ValueError(f"unknown built-in reward {name!r}; built-ins: {', '.join(BUILTIN_REWARDS)}")
    return makers[name](**kwargs)


def _unknown(spec: str, option: str) -> ValueError:
    return ValueError(f"{option} {spec!r}: not a built-in reward, a folder or a callable. Built-ins: "
                      f"{', '.join(BUILTIN_REWARDS)}; or give a reward-model folder (config.json + "
                      "*.safetensors), module:callable or path/to/file.py:callable")


def parse_reward_spec(spec: str, *, conversational: bool = False, option: str = OPTION):
    """One reward from one spec (see :func:`parse_reward_specs`)."""
    if not isinstance(spec, str):
        raise TypeError(f"{option}: each reward spec must be a string, got {type(spec).__name__}")
    spec = spec.strip()
    if not spec:
        raise ValueError(f"{option}: empty reward spec; built-ins: {', '.join(BUILTIN_REWARDS)}")
    if spec in BUILTIN_REWARDS:
        return builtin_reward(spec)
    path = Path(spec).expanduser()
    if path.is_dir():
        folder = check_reward_folder(path, option)
        return SequenceClassifierReward(str(folder))
    head = spec.rpartition(":")[0]
    if head and (head.endswith(".py") or all(p.isidentifier() for p in head.split("."))):
        fn = load_callable(spec, option)
        own = getattr(fn, "name", None) if not (inspect.isfunction(fn) or inspect.ismethod(fn)) else None
        name = own if isinstance(own, str) and own else spec.rpartition(":")[2].split(".")[-1]
        # by signature, also for reward objects: their (prompts, completions) go by keyword like TRL's
        return adapt_callable(fn, name, conversational=conversational, option=option, spec=spec)
    if path.exists():
        raise ValueError(f"{option} {spec!r}: is a file, expected a reward-model folder "
                         "(or file.py:callable for a reward written in Python)")
    if "/" in spec or spec.startswith((".", "~")):
        raise ValueError(f"{option} {spec!r}: no such reward-model folder (hub ids are not resolved here: "
                         "save the model with save_pretrained(DIR) and pass DIR)")
    raise _unknown(spec, option)


def parse_reward_specs(specs: Sequence[str], *, conversational: bool = False,
                       option: str = OPTION) -> list[Reward]:
    """The rewards the user listed, in order: each spec is a built-in name (:data:`BUILTIN_REWARDS`), a
    local reward-model folder (checked by :func:`check_reward_folder`), ``module:callable`` or
    ``path/to/file.py:callable`` (TRL's batched convention or per-sample, by signature; ``conversational``
    passes TRL-style functions chat-message lists). Names must be distinct. Bad specs raise a
    ValueError naming ``option``."""
    if isinstance(specs, str) or not isinstance(specs, Sequence):
        raise TypeError(f"{option}: expected a list of reward specs, got {type(specs).__name__}")
    if not specs:
        raise ValueError(f"{option}: give at least one reward; built-ins: {', '.join(BUILTIN_REWARDS)}")
    rewards = [parse_reward_spec(s, conversational=conversational, option=option) for s in specs]
    names = [r.name for r in rewards]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{option}: rewards must have distinct names, {dup} appear more than once in {list(specs)}")
    return rewards


def resolve_reward(spec, **kwargs):
    """A reward source from a built-in name, a callable, an object with ``name`` and ``__call__``,
    or a local reward-model directory / cached hub id."""
    if isinstance(spec, str):
        if spec in BUILTIN_REWARDS:
            return builtin_reward(spec, **kwargs)
        return SequenceClassifierReward(spec, **kwargs)
    if hasattr(spec, "name") and callable(spec):
        return spec
    if callable(spec):
        return CallableReward(getattr(spec, "__name__", "custom"), spec)
    raise TypeError(f"reward source must be a name, a path or a callable, got {type(spec).__name__}")


def score(sources: Sequence, prompts: Sequence[str], completions: Sequence[str], *,
          columns: dict | None = None) -> np.ndarray:
    """Rewards (n, M): column m = ``sources[m](prompts, completions)``, each source called once on the
    whole batch. ``columns`` (extra per-sample dataset columns) go to TRL-style rewards. Every source
    must return n numbers; non-finite ones pass through (the trainer skips a step they poison)."""
    _check_texts(prompts, completions, "score")
    n = len(completions)
    cols = []
    for src in sources:
        out = src(prompts, completions, **columns) if columns and isinstance(src, TRLRewardAdapter) \
            else src(prompts, completions)
        cols.append(_as_scores(out, n, getattr(src, "name", repr(src)), finite=False))
    return np.stack(cols, axis=1) if cols else np.zeros((n, 0))
