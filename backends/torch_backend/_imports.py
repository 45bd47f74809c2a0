"""Guarded import of the optional torch extra."""

from __future__ import annotations

EXTRA_HINT = "pip install 'firm[torch]' (install torch==2.13.0 first on CPU machines; see README)"


def require_torch():
    """Return the ``torch`` module, or raise ImportError naming the extra to install."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"the torch backend needs torch: {EXTRA_HINT}") from exc
    return torch
