"""The LLM section's hook. Until an LLM backend registers a provider, the section says "not run".

A provider is ``fn(config: SuiteConfig, progress: bool) -> dict`` returning at least
{"verdict": {"verdict": ..., "line": ...}} plus its numbers, e.g. "rewards_per_preference"
({algorithm: [[p, reward_1, reward_2], ...]}) and "uplink_bytes_to_target" ({algorithm: bytes}).
Register it with :func:`register_llm_provider` before ``firm report`` runs.
"""

from __future__ import annotations

from . import verdicts as vd

_PROVIDER = None


def register_llm_provider(fn) -> None:
    """Use ``fn`` for the LLM section (None removes it)."""
    global _PROVIDER
    if fn is not None and not callable(fn):
        raise TypeError(f"register_llm_provider: `fn` must be callable or None, got {fn!r}")
    _PROVIDER = fn


def run_llm_section(config, progress: bool) -> dict:
    if _PROVIDER is None:
        return {"status": "not run",
                "verdict": vd.not_run_verdict("no LLM task is registered with the report yet; the toy sections "
                                              "above are the measured evidence")}
    out = dict(_PROVIDER(config, progress))
    out.setdefault("status", "run")
    return out
