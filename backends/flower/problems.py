"""Problem specs of the "numpy" backend: ``{"name": ..., **kwargs}`` for ``firm_core.problems.make_problem``.

The server and every client build the problem from the same JSON spec (cached per process), so the
server's record of the client weights w_i is the clients' own.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

def build_problem(spec: Mapping[str, Any]):
    """``make_problem(spec["name"], **rest)``; ValueError naming the spec when it has no string name."""
    from firm_core.problems import make_problem

    spec = dict(spec)
    name = spec.pop("name", None)
    if not isinstance(name, str):
        raise ValueError(f"build_problem: `problem` needs a string 'name', got {name!r}")
    return make_problem(name, **spec)


def check_spec(spec: Mapping[str, Any]) -> None:
    """Build the problem once (cheap for numpy problems): the problem's own checks name a bad key."""
    problem_from_json(json.dumps(dict(spec), sort_keys=True))


@functools.lru_cache(maxsize=8)
def problem_from_json(spec_json: str):
    """The problem for a JSON spec, built once per process (the server and clients of a process share it)."""
    return build_problem(json.loads(spec_json))
