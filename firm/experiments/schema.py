"""Path-aware checks for configuration trees (dicts and lists parsed from TOML / YAML).

Every check takes the dotted *path* of the value it inspects (``"algorithms[1].beta"``) and raises
:class:`ConfigError` naming that path and the value found, e.g.
``algorithms[1].beta must be >= 0, got -1``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence


class ConfigError(ValueError):
    """A configuration field is missing, unknown, of the wrong type, or out of range.

    ``path`` is the dotted field path (``"run.rounds"``); ``str(error)`` is the full message.
    """

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path} {message}" if path else message)


def join(path: str, key: str | int) -> str:
    """Child path: ``join("run", "seed") == "run.seed"``, ``join("algorithms", 1) == "algorithms[1]"``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def show(value) -> str:
    """How a found value appears in messages: strings quoted, numbers as written in the file."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return repr(dict(value))
    return str(value)


def require_mapping(value, path: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ConfigError(path, f"must be a table (mapping), got {show(value)} of type {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise ConfigError(path, f"keys must be strings, got key {key!r} of type {type(key).__name__}")
    return value


def require_list(value, path: str, *, min_len: int = 0) -> Sequence:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ConfigError(path, f"must be a list, got {show(value)} of type {type(value).__name__}")
    if len(value) < min_len:
        raise ConfigError(path, f"must have at least {min_len} {'entry' if min_len == 1 else 'entries'}, got {len(value)}")
    return value


def check_known_keys(table: Mapping, path: str, allowed: Iterable[str]) -> None:
    """Raise naming the first key of ``table`` not in ``allowed`` (and listing the allowed ones)."""
    allowed = sorted(set(allowed))
    for key in table:
        if key not in allowed:
            raise ConfigError(join(path, key), f"is not a known field (allowed: {', '.join(allowed)}), got {show(table[key])}")


def require_key(table: Mapping, key: str, path: str):
    if key not in table:
        raise ConfigError(join(path, key), "is required but missing")
    return table[key]


def check_str(value, path: str, *, choices: Iterable[str] | None = None, nonempty: bool = True) -> str:
    if not isinstance(value, str):
        raise ConfigError(path, f"must be a string, got {show(value)} of type {type(value).__name__}")
    if nonempty and not value.strip():
        raise ConfigError(path, f"must be a non-empty string, got {value!r}")
    if choices is not None:
        choices = sorted(choices)
        if value not in choices:
            raise ConfigError(path, f"must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_int(value, path: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(path, f"must be an integer, got {show(value)} of type {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ConfigError(path, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(path, f"must be <= {maximum}, got {value}")
    return value


def check_float(value, path: str) -> float:
    """A finite real number (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(path, f"must be a number, got {show(value)} of type {type(value).__name__}")
    out = float(value)
    if not math.isfinite(out):
        raise ConfigError(path, f"must be finite, got {value}")
    return out


def check_float_list(value, path: str, *, length: int | None = None) -> list[float]:
    items = require_list(value, path)
    if length is not None and len(items) != length:
        raise ConfigError(path, f"must have {length} entries, got {len(items)}: {list(items)}")
    return [check_float(v, join(path, i)) for i, v in enumerate(items)]
