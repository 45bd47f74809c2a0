"""Sampling groups of completions and scoring their per-token log-probabilities."""

from __future__ import annotations

from dataclasses import dataclass

from ._imports import require_llm_stack
from .chat import completion_mask, format_prompts, has_chat_template, stop_token_ids

require_llm_stack()

import torch  # noqa: E402


@dataclass
class Rollout:
    """G completions for each of B prompts, flattened prompt-major: row b*G + g.

    input_ids / attention_mask : (B*G, P + T) left-padded prompt followed by the completion.
    completion_mask : (B*G, T) 1 on completion tokens up to and including the first EOS.
    """

    prompts: list[str]
    group_size: int
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    prompt_len: int
    completion_mask: torch.Tensor
    completions: list[str]

    @property
    def flat_prompts(self) -> list[str]:
        return [p for p in self.prompts for _ in range(self.group_size)]


@torch.no_grad()
def sample_group(model, tokenizer, prompts: list[str], group_size: int, max_new_tokens: int,
                 temperature: float = 1.0, seed: int | None = None, *, use_chat_template: bool = True,
                 system_prompt: str | None = None) -> Rollout:
    """Sample ``group_size`` completions per prompt (ancestral sampling, no top-k/top-p): one batched
    ``generate`` call over all prompts x group, with the KV cache, on the model's device.

    The model sees each prompt as ``chat.format_prompts`` renders it (the tokenizer's chat template when
    it has one and ``use_chat_template``; then tokenized with ``add_special_tokens=False``); sampling stops
    at any of ``chat.stop_token_ids`` (the end-of-turn token of an instruct model). ``Rollout.prompts``
    keep the raw prompt text (what the rewards score)."""
    if group_size < 2:
        raise ValueError(f"`group_size` must be >= 2 for group-normalized advantages, got {group_size}")
    if not prompts:
        raise ValueError("`prompts` must be non-empty")
    if seed is not None:
        torch.manual_seed(seed)
    device = next(model.parameters()).device
    templated = use_chat_template and has_chat_template(tokenizer)
    shown = format_prompts(tokenizer, list(prompts), use_chat_template=use_chat_template, system_prompt=system_prompt)
    flat = [p for p in shown for _ in range(group_size)]
    enc = tokenizer(flat, return_tensors="pt", padding=True,
                    **({"add_special_tokens": False} if templated else {})).to(device)
    stop_ids = stop_token_ids(tokenizer, getattr(model, "generation_config", None))
    out = model.generate(**enc, do_sample=True, top_k=0, top_p=1.0, temperature=temperature,
                         max_new_tokens=max_new_tokens, min_new_tokens=1, use_cache=True,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=stop_ids)
    plen = enc["input_ids"].shape[1]
    gen = out[:, plen:]
    # mask: tokens up to and including the first stop token
    cmask = completion_mask(gen, stop_ids)
    is_stop = torch.isin(gen, torch.as_tensor(stop_ids, device=gen.device))
    texts = tokenizer.batch_decode(gen.masked_fill(is_stop | (cmask == 0), tokenizer.pad_token_id),
                                   skip_special_tokens=True)
    attn = torch.cat([enc["attention_mask"], cmask], dim=1)
    return Rollout(list(prompts), group_size, out, attn, plen, cmask, texts)


def completion_logprobs(model, rollout: Rollout) -> torch.Tensor:
    """log pi(token | prefix) for each completion token, (B*G, T); zeros where the mask is 0."""
    mask = rollout.attention_mask
    position_ids = (mask.cumsum(dim=1) - 1).clamp(min=0)
    logits = model(input_ids=rollout.input_ids, attention_mask=mask, position_ids=position_ids).logits
    plen = rollout.prompt_len
    logits = logits[:, plen - 1 : -1, :].float()
    targets = rollout.input_ids[:, plen:]
    logp = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return logp * rollout.completion_mask


def reference_logprobs(model, rollout: Rollout) -> torch.Tensor:
    """Per-token log-probs of the reference policy: the same PEFT model with its adapter disabled."""
    with torch.no_grad(), model.disable_adapter():
        return completion_logprobs(model, rollout)
