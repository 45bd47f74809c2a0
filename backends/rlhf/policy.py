"""Policy = frozen causal LM + a PEFT LoRA adapter; reference policy = the same model, adapter disabled.

GPT-2 gotchas: call ``.eval()`` (dropout would break "adapter disabled = reference"),
LoRA dropout 0, ``fan_in_fan_out=True`` for GPT-2's Conv1D layers, bos/eos/pad ids in the config.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._imports import require_llm_stack

require_llm_stack()

import torch  # noqa: E402
from peft import LoraConfig, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from .hub import from_pretrained_offline, smollm2_gguf  # noqa: E402
from .tiny_model import TinyModelSpec, tiny_model_dir  # noqa: E402

#: LoRA target modules by architecture family (GPT-2 Conv1D vs. Linear attention projections)
GPT2_TARGETS = ("c_attn", "c_proj", "c_fc")
LINEAR_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass(frozen=True)
class LoraSpec:
    r: int = 8
    alpha: float = 16.0
    target_modules: tuple[str, ...] | None = None  # None: picked from the architecture

    def __post_init__(self):
        if self.r < 1:
            raise ValueError(f"LoraSpec: `r` must be >= 1, got {self.r}")
        if not self.alpha > 0:
            raise ValueError(f"LoraSpec: `alpha` must be > 0, got {self.alpha}")


def load_base(model: str = "tiny", progress: bool = False, tiny_spec: TinyModelSpec | None = None,
              dtype=torch.float32):
    """(frozen base model in eval mode, tokenizer) for "tiny", "smollm2", a local directory or a cached hub id."""
    if model == "tiny":
        path = tiny_model_dir(tiny_spec, progress=progress)
        base = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        tok = AutoTokenizer.from_pretrained(path)
    elif model == "smollm2":
        directory, gguf = smollm2_gguf()
        base = AutoModelForCausalLM.from_pretrained(directory, gguf_file=gguf, dtype=dtype)
        tok = AutoTokenizer.from_pretrained(directory, gguf_file=gguf)
    else:
        base = from_pretrained_offline(AutoModelForCausalLM, model, "policy model", dtype=dtype)
        tok = from_pretrained_offline(AutoTokenizer, model, "policy tokenizer")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        if getattr(base.config, name, None) is None:
            setattr(base.config, name, tok.eos_token_id if name != "pad_token_id" else tok.pad_token_id)
    if getattr(base, "generation_config", None) is not None and base.generation_config.pad_token_id is None:
        base.generation_config.pad_token_id = tok.pad_token_id
    base.eval()
    for p in base.parameters():
        p.requires_grad_(False)
    return base, tok


def is_gpt2_like(model) -> bool:
    from transformers.pytorch_utils import Conv1D

    return any(isinstance(m, Conv1D) for m in model.modules())


def attach_lora(base, spec: LoraSpec | None = None, seed: int = 0):
    """Wrap ``base`` in a PEFT LoRA model (dropout 0, fan_in_fan_out for Conv1D); returns the PeftModel."""
    spec = spec or LoraSpec()
    gpt2 = is_gpt2_like(base)
    targets = list(spec.target_modules or (GPT2_TARGETS if gpt2 else LINEAR_TARGETS))
    config = LoraConfig(r=spec.r, lora_alpha=spec.alpha, lora_dropout=0.0, target_modules=targets,
                        fan_in_fan_out=gpt2, bias="none", task_type="CAUSAL_LM")
    torch.manual_seed(seed)
    model = get_peft_model(base, config)
    model.eval()
    return model


def lora_parameters(model) -> list:
    """The trainable (LoRA) parameters, in a fixed order."""
    return [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]


def state_ordered_parameters(model) -> list:
    """The trainable adapter parameters in the order of :func:`state_to_vector` (sorted state keys), so
    that a gradient flattened over them lines up with the flattened adapter."""
    by_ptr = {p.data_ptr(): p for p in lora_parameters(model)}
    state = get_peft_model_state_dict(model)
    out = []
    for k in sorted(state):
        p = by_ptr.get(state[k].data_ptr())
        if p is None or p.shape != state[k].shape:
            raise ValueError(f"adapter tensor {k!r} is not a trainable parameter of the model")
        out.append(p)
    return out


def adapter_state(model) -> dict:
    """A detached copy of the adapter tensors (what a federated client uploads)."""
    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}


def load_adapter_state(model, state: dict) -> None:
    """Load adapter tensors into ``model`` in place (all keys must match)."""
    result = set_peft_model_state_dict(model, state)
    unexpected = getattr(result, "unexpected_keys", [])
    if unexpected:
        raise ValueError(f"adapter state has keys the model does not: {unexpected[:5]}")


def state_nbytes(state: dict) -> int:
    """Bytes of the real tensors in an adapter state."""
    return int(sum(t.numel() * t.element_size() for t in state.values()))


def state_to_vector(state: dict):
    """Flatten an adapter state (sorted keys) to one float64 numpy vector."""
    keys = sorted(state)
    return torch.cat([state[k].detach().reshape(-1).to(torch.float64).cpu() for k in keys]).numpy()


def vector_to_state(vec, like: dict) -> dict:
    """Inverse of :func:`state_to_vector`, with the dtypes/devices of ``like``."""
    total = sum(t.numel() for t in like.values())
    if len(vec) != total:
        raise ValueError(f"`vec` has {len(vec)} entries, the adapter holds {total}")
    out, start = {}, 0
    for k in sorted(like):
        t = like[k]
        out[k] = torch.as_tensor(vec[start : start + t.numel()]).reshape(t.shape).to(dtype=t.dtype, device=t.device)
        start += t.numel()
    return out
