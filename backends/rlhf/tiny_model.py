"""The offline default policy: a tiny GPT-2-style causal LM and a byte-level BPE tokenizer, both built
in code from text that ships with Python (``pydoc_data.topics``, the interpreter's help topics, ~465 KB
of English, plus the lines of ``import this``, the Zen of Python by Tim Peters, repeated so that evaluative
words - "beautiful is better than ugly", "a bad idea", "a good idea" - are common enough for a sentiment
reward to have something to reinforce; both PSF licence), then briefly pretrained so that sampled text
has words in it.

Built once and cached under ``$FIRM_CACHE`` (default ``$XDG_CACHE_HOME/firm`` or ``~/.cache/firm``),
never in the repository. Everything is seeded: the same settings build the same weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ._imports import require_llm_stack

require_llm_stack()

import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast  # noqa: E402

EOS_TOKEN = "<|endoftext|>"


@dataclass(frozen=True)
class TinyModelSpec:
    """Size and pretraining budget of the offline model (2 layers, hidden 64 by default)."""

    vocab_size: int = 1024
    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    n_positions: int = 128
    pretrain_steps: int = 300
    batch_size: int = 16
    block_size: int = 64
    lr: float = 5e-3
    zen_repeats: int = 40
    seed: int = 0

    def __post_init__(self):
        for name in ("vocab_size", "n_layer", "n_embd", "n_head", "n_positions", "batch_size", "block_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TinyModelSpec: `{name}` must be >= 1, got {getattr(self, name)}")
        if self.pretrain_steps < 0:
            raise ValueError(f"TinyModelSpec: `pretrain_steps` must be >= 0, got {self.pretrain_steps}")
        if self.n_embd % self.n_head:
            raise ValueError(f"TinyModelSpec: `n_embd` ({self.n_embd}) must be divisible by `n_head` ({self.n_head})")

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def cache_root() -> Path:
    """``$FIRM_CACHE``, else ``$XDG_CACHE_HOME/firm``, else ``~/.cache/firm``."""
    if os.environ.get("FIRM_CACHE"):
        return Path(os.environ["FIRM_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "firm"


def zen_lines() -> list[str]:
    """The aphorisms of ``import this`` (decoded from its ROT13 source without printing them)."""
    import codecs
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return [ln for ln in codecs.decode(this.s, "rot13").splitlines()[2:] if ln.strip()]


def corpus_paragraphs(zen_repeats: int = 0) -> list[str]:
    """Prose paragraphs of ``pydoc_data.topics`` (code blocks and headings dropped), followed by the
    Zen of Python lines ``zen_repeats`` times each."""
    from pydoc_data.topics import topics

    out = []
    for text in topics.values():
        for para in text.split("\n\n"):
            lines = [ln for ln in para.splitlines() if ln.strip()]
            if not lines or any(ln.startswith(" ") for ln in lines):
                continue  # indented = code or grammar
            joined = " ".join(ln.strip() for ln in lines)
            if len(joined) > 40 and not set(joined) <= set("*=-~ "):
                out.append(joined)
    return out + zen_lines() * zen_repeats


def train_tokenizer(vocab_size: int = 1024, zen_repeats: int = 0) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained on :func:`corpus_paragraphs` (milliseconds)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS_TOKEN],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(corpus_paragraphs(zen_repeats), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS_TOKEN, eos_token=EOS_TOKEN,
                                   pad_token=EOS_TOKEN, unk_token=None)
    fast.padding_side = "left"
    return fast


def build_model(spec: TinyModelSpec, tokenizer) -> GPT2LMHeadModel:
    """Random-init GPT-2-style model with bos/eos/pad ids taken from ``tokenizer``."""
    eos = tokenizer.eos_token_id
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=spec.n_positions, n_embd=spec.n_embd,
                        n_layer=spec.n_layer, n_head=spec.n_head, bos_token_id=eos, eos_token_id=eos,
                        pad_token_id=eos)
    torch.manual_seed(spec.seed)
    return GPT2LMHeadModel(config)


def pretrain(model, tokenizer, spec: TinyModelSpec, progress: bool = False) -> list[float]:
    """Next-token pretraining on the corpus (paragraphs joined by EOS, packed into blocks). Returns losses."""
    from tqdm.auto import tqdm

    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for para in corpus_paragraphs(spec.zen_repeats):
        ids.extend(tokenizer(para)["input_ids"])
        ids.append(eos)
    data = torch.tensor(ids, dtype=torch.long)
    gen = torch.Generator().manual_seed(spec.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=spec.lr, total_steps=max(spec.pretrain_steps, 1))
    model.train()
    losses = []
    for _ in tqdm(range(spec.pretrain_steps), desc="pretraining tiny model", disable=not progress):
        starts = torch.randint(0, len(data) - spec.block_size, (spec.batch_size,), generator=gen)
        batch = torch.stack([data[s : s + spec.block_size] for s in starts])
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    model.eval()
    return losses


def tiny_model_dir(spec: TinyModelSpec | None = None, cache: Path | None = None, progress: bool = False) -> Path:
    """Directory with the pretrained tiny model and tokenizer (built and cached on first use)."""
    spec = spec or TinyModelSpec()
    root = Path(cache) if cache is not None else cache_root()
    target = root / f"tiny-gpt2-{spec.fingerprint()}"
    if (target / "config.json").exists() and (target / "tokenizer.json").exists():
        return target
    root.mkdir(parents=True, exist_ok=True)
    import fcntl

    with open(root / ".build.lock", "w") as lock:  # concurrent builders (pytest -n 2) wait for the first
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "config.json").exists() and (target / "tokenizer.json").exists():
            return target
        _build(spec, root, target, progress)
    return target


def _build(spec: TinyModelSpec, root: Path, target: Path, progress: bool) -> None:
    tokenizer = train_tokenizer(spec.vocab_size, spec.zen_repeats)
    model = build_model(spec, tokenizer)
    losses = pretrain(model, tokenizer, spec, progress=progress)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".building-"))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / "pretrain.json").write_text(json.dumps({"spec": asdict(spec), "losses": losses}))
        tmp.rename(target)  # atomic
    except OSError as exc:
        raise OSError(f"could not store the tiny model in {target} ({exc}); "
                      "if that folder is left from an interrupted build, delete it and retry") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already when the rename succeeded
