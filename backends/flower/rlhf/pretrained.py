"""Cheap checks of model and reward-model names before anything is loaded (no torch needed).

A name that is not built in and names an existing path must be a directory written by
``save_pretrained``: it holds a ``config.json`` that parses as a JSON object with a ``model_type``.
Any other name is a hub id, resolved offline when the task is built.
"""

from __future__ import annotations

import json
from pathlib import Path

#: Policy models that are not paths: built in code, or shipped by a wheel.
BUILTIN_MODELS = ("tiny", "smollm2")
#: Reward sources that are not paths.
BUILTIN_REWARDS = ("positive_sentiment", "brevity")


def pretrained_problem(value: str, builtin: tuple[str, ...] = ()) -> str | None:
    """What is wrong with ``value`` as a model / reward-model name (see the module docstring), or None."""
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if value in builtin:
        return None
    path = Path(value).expanduser()
    if not path.exists():
        return None
    if not path.is_dir():
        return "is a file; expected a built-in name, a hub id or a directory saved by save_pretrained"
    config = path / "config.json"
    if not config.is_file():
        listing = sorted(p.name for p in path.iterdir())[:5]
        return f"is a directory without config.json (holds {listing}); expected one saved by save_pretrained"
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"has a config.json that does not parse ({type(exc).__name__}: {exc})"
    if not isinstance(data, dict) or "model_type" not in data:
        return "has a config.json that names no model_type (not saved by save_pretrained)"
    return None


def check_pretrained(value: str, what: str, builtin: tuple[str, ...] = ()) -> None:
    """ValueError "``what`` ``value!r`` <problem>" when :func:`pretrained_problem` finds one."""
    problem = pretrained_problem(value, builtin)
    if problem is not None:
        raise ValueError(f"{what} {value!r} {problem}")
