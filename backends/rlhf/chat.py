"""Chat templates: how an instruct model sees a prompt, and which tokens end its turn.

An instruct model (SmolLM2-135M-Instruct, for one) was trained on conversations rendered by its
tokenizer's chat template; a bare prompt string is out of distribution for it. ``format_prompts``
renders each prompt as one user turn followed by the opening of the assistant's turn
(``apply_chat_template(..., add_generation_prompt=True)``), so the policy writes the assistant's answer.
Without a template (the tiny default model) or with ``use_chat_template=False`` prompts pass unchanged.

A rendered prompt already holds the model's special tokens: tokenize it with
``add_special_tokens=False``. Generation must stop at the end of the assistant's turn; that token
(``<|im_end|>`` for SmolLM2) is not always the tokenizer's ``eos_token``: ``stop_token_ids`` collects
every id that ends a turn, and ``completion_mask`` marks the completion tokens up to the first of them.
"""

from __future__ import annotations

from collections.abc import Sequence

#: end-of-turn / end-of-text markers of common chat formats (ChatML, Llama 3, Gemma, Phi, GPT-2, Llama 2)
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>",
                      "</s>")


def has_chat_template(tokenizer) -> bool:
    """Whether ``tokenizer`` carries a chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def _as_messages(prompt, i: int) -> list[dict]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    if isinstance(prompt, (list, tuple)) and prompt and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in prompt):
        return [dict(m) for m in prompt]
    raise TypeError(f"`prompts[{i}]` must be a string or a non-empty list of {{'role', 'content'}} messages, "
                    f"got {prompt!r:.80}")


def format_prompts(tokenizer, prompts: Sequence, *, use_chat_template: bool = True,
                   system_prompt: str | None = None) -> list[str]:
    """Prompt strings as the model should see them.

    With a chat template (and ``use_chat_template``): each prompt, a string (one user turn) or a list of
    ``{"role", "content"}`` messages, is rendered by ``apply_chat_template(messages, tokenize=False,
    add_generation_prompt=True)``, with ``system_prompt`` as a leading system turn when given. Otherwise
    plain-string prompts are returned unchanged (``system_prompt`` then raises: it needs a template).
    """
    if isinstance(prompts, str) or not isinstance(prompts, Sequence):
        raise TypeError(f"`prompts` must be a list of prompts, got {type(prompts).__name__}")
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise TypeError(f"`system_prompt` must be a string, got {type(system_prompt).__name__}")
    messages = [_as_messages(p, i) for i, p in enumerate(prompts)]
    if not (use_chat_template and has_chat_template(tokenizer)):
        if system_prompt is not None:
            raise ValueError("`system_prompt` needs a chat template: the tokenizer has none"
                             if use_chat_template else "`system_prompt` needs use_chat_template=True")
        bad = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
        if bad:
            why = "the tokenizer has no chat template" if use_chat_template else "use_chat_template=False"
            raise ValueError(f"`prompts[{bad[0]}]` is a list of messages but {why}: give plain-text prompts")
        return list(prompts)
    if system_prompt is not None:
        messages = [m if m[0]["role"] == "system" else [{"role": "system", "content": system_prompt}, *m]
                    for m in messages]
    return [tokenizer.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages]


def _token_id(tokenizer, token: str) -> int | None:
    """The id of ``token`` when the tokenizer knows it as one special (or added) token, else None."""
    special = set(getattr(tokenizer, "all_special_tokens", []) or [])
    added = getattr(tokenizer, "get_added_vocab", None)
    if added is not None:
        special |= set(added())
    if token not in special:
        return None
    tid = tokenizer.convert_tokens_to_ids(token)
    unk = getattr(tokenizer, "unk_token_id", None)
    return None if tid is None or (unk is not None and tid == unk and token != tokenizer.unk_token) else int(tid)


def stop_token_ids(tokenizer, generation_config=None) -> list[int]:
    """Token ids that end a completion: the tokenizer's ``eos_token_id`` first, then the model's
    ``generation_config.eos_token_id`` (an int or a list), then every end-of-turn marker of
    :data:`END_OF_TURN_TOKENS` the tokenizer holds as a special token; deduplicated, in that order."""
    ids: list[int] = []

    def add(tid):
        if tid is not None and int(tid) not in ids:
            ids.append(int(tid))

    add(getattr(tokenizer, "eos_token_id", None))
    gen_eos = getattr(generation_config, "eos_token_id", None)
    for tid in (gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos]):
        add(tid)
    for tok in END_OF_TURN_TOKENS:
        add(_token_id(tokenizer, tok))
    if not ids:
        raise ValueError("the tokenizer has no eos token and no known end-of-turn token: "
                         "set `tokenizer.eos_token` before generating")
    return ids


def completion_mask(generated, stop_ids: Sequence[int]):
    """(B, T) long mask over generated ids (B, T): 1 up to and including the first stop token, 0 after.

    Pass ``stop_ids`` (from :func:`stop_token_ids`) as ``eos_token_id`` to ``generate`` too, so that
    sampling ends there.
    """
    import torch

    if not len(stop_ids):
        raise ValueError("`stop_ids` must name at least one token id")
    is_stop = torch.isin(generated, torch.as_tensor(list(stop_ids), device=generated.device))
    after_stop = (is_stop.long().cumsum(dim=1) - is_stop.long()) > 0
    return (~after_stop).long()
