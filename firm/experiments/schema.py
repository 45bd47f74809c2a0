"""Path-aware checks for configuration trees (dicts and lists parsed from TOML / YAML).

Every check takes the dotted *path* of the value it inspects (``"algorithms[1].beta"``) and raises
:class:`ConfigError` naming that path and the value found, e.g.
``algorithms[1].beta must be >= 0, got -1``.
"""

from __future__ import annotations

import math
import numbers
import reprlib
from collections.abc import Iterable, Mapping, Sequence

#: Longest message a ConfigError prints; longer ones are cut with a note of their length.
MAX_MESSAGE_CHARS = 800
#: Most containers and scalars a configuration tree may hold (counting every use of a YAML alias).
MAX_CONFIG_NODES = 100_000
#: Largest magnitude of an integer in a configuration (a 64-bit signed integer).
MAX_CONFIG_INT = 2**63 - 1

_SHOW = reprlib.Repr()
_SHOW.maxlevel, _SHOW.maxlist, _SHOW.maxtuple, _SHOW.maxdict = 3, 8, 8, 6
_SHOW.maxstring, _SHOW.maxother, _SHOW.maxlong = 80, 80, 40


def truncate(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` cut to about ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters in all)"


class ConfigError(ValueError):
    """A configuration field is missing, unknown, of the wrong type, or out of range.

    ``path`` is the dotted field path (``"run.rounds"``); ``str(error)`` is the full message, cut to
    :data:`MAX_MESSAGE_CHARS` characters.
    """

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(truncate(f"{path} {message}" if path else message))


def join(path: str, key: str | int) -> str:
    """Child path: ``join("run", "seed") == "run.seed"``, ``join("algorithms", 1) == "algorithms[1]"``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def show(value) -> str:
    """How a found value appears in messages: strings quoted, numbers as written in the file; long or
    deeply nested values are abbreviated with '...' (in time that does not grow with their size)."""
    if isinstance(value, bool | float):
        return str(value)
    if isinstance(value, Mapping) and not isinstance(value, dict):
        value = dict(value)
    return _SHOW.repr(value)


def check_tree(tree, path: str = "", *, max_nodes: int = MAX_CONFIG_NODES) -> None:
    """Bound a parsed configuration before anything looks at it: at most ``max_nodes`` values in all
    (shared sub-trees counted at every use; the walk stops at the bound, so it is cheap even for a tree
    that expands exponentially) and no integer beyond 64 bits. ConfigError names the path."""
    stack = [(path, tree)]
    seen = 0
    while stack:
        where, node = stack.pop()
        seen += 1
        if seen > max_nodes:
            raise ConfigError("", f"holds more than {max_nodes} values (counting every use of a YAML alias); "
                                  "a configuration is far smaller: is an alias expanding out of control?")
        if isinstance(node, bool):
            continue
        if isinstance(node, numbers.Integral) and abs(int(node)) > MAX_CONFIG_INT:
            digits = len(str(abs(int(node)))) if abs(int(node)).bit_length() < 10_000 else "thousands of"
            raise ConfigError(where, f"must be an integer of at most 64 bits, got an integer of {digits} digits")
        if isinstance(node, Mapping):
            stack.extend((join(where, str(k)), v) for k, v in node.items())
        elif isinstance(node, list | tuple):
            stack.extend((join(where, i), v) for i, v in enumerate(node))


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
        raise ConfigError(path, f"must be a non-empty string, got {show(value)}")
    if choices is not None:
        choices = sorted(choices)
        if value not in choices:
            raise ConfigError(path, f"must be one of {', '.join(choices)}; got {show(value)}")
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
    try:
        out = float(value)
    except OverflowError:
        out = math.inf
    if not math.isfinite(out):
        raise ConfigError(path, f"must be finite, got {show(value)}")
    return out


def check_float_list(value, path: str, *, length: int | None = None) -> list[float]:
    items = require_list(value, path)
    if length is not None and len(items) != length:
        raise ConfigError(path, f"must have {length} entries, got {len(items)}: {show(list(items))}")
    return [check_float(v, join(path, i)) for i, v in enumerate(items)]
