"""Guarded imports of the optional torch/transformers/peft stack."""

from __future__ import annotations

EXTRA_HINT = "pip install 'firm[torch]' (install torch==2.13.0 first on CPU machines; see README)"


def require_llm_stack():
    """Import torch, transformers and peft, or raise ImportError naming the extra to install."""
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"the RLHF backend needs torch, transformers and peft ({exc.name} is missing): "
                          f"{EXTRA_HINT}") from exc
