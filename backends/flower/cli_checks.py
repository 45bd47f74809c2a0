"""Checks of ``firm flower``'s options, each raising a one-line ``click.BadParameter`` that names the
option and the value found. They run before any model loads or any SuperLink starts.
"""

from __future__ import annotations

import math
import os
import tempfile
import zipfile
from pathlib import Path

import click

#: Errors a damaged checkpoint folder can raise while it is read (bad JSON, bad npz, missing keys).
CHECKPOINT_READ_ERRORS = (ValueError, OSError, KeyError, TypeError, EOFError, zipfile.BadZipFile)


def finite_number(value: float, option: str, *, minimum: float, strict: bool) -> float:
    """``value`` when finite and >= ``minimum`` (> when ``strict``)."""
    ok = math.isfinite(value) and (value > minimum if strict else value >= minimum)
    if not ok:
        bound = f"> {minimum:g}" if strict else f">= {minimum:g}"
        raise click.BadParameter(f"must be a finite number {bound}, got {value!r}", param_hint=option)
    return float(value)


def preference(text: str | None, num_objectives: int, option: str = "--preference") -> tuple[float, ...] | None:
    """p from "a,b,...": M finite numbers >= 0 with a positive sum, normalized to sum 1 (None: uniform)."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers such as 0.3,0.7, got {text!r}",
                                 param_hint=option) from None
    if not all(math.isfinite(v) and v >= 0 for v in values) or not sum(values) > 0:
        raise click.BadParameter(f"weights must be finite, >= 0 and have a positive sum, got {text!r}", param_hint=option)
    if len(values) != num_objectives:
        raise click.BadParameter(f"needs one weight per objective ({num_objectives}), got {len(values)} in {text!r}",
                                 param_hint=option)
    total = sum(values)
    return tuple(v / total for v in values)


def writable_directory(path: str | os.PathLike, option: str) -> Path:
    """The absolute path, after checking it is (or can be created as) a directory this process can
    write: an existing path must be a directory, and the nearest existing folder on the way must take
    a new file (probed with a temporary file, removed at once)."""
    target = Path(path).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise click.BadParameter(f"{str(target)!r} exists and is not a directory", param_hint=option)
    probe_dir = target
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise click.BadParameter(f"cannot create {str(target)!r}: {str(probe_dir)!r} is not a directory", param_hint=option)
    try:
        fd, name = tempfile.mkstemp(dir=probe_dir, prefix=".firm-write-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        raise click.BadParameter(f"cannot write into {str(probe_dir)!r} ({exc.strerror or exc})", param_hint=option) from None
    return target


def resumable_checkpoint(path: str | os.PathLike, algorithm, problem, rounds: int, option: str = "--resume") -> None:
    """The checkpoint folder reads back (``load_checkpoint``), was written with this algorithm config
    (and, when ``problem`` is given, this problem), and its round is at most ``rounds``."""
    from firm_core.federated.engine import load_checkpoint

    try:
        state, _ = load_checkpoint(path, algorithm, problem)
    except CHECKPOINT_READ_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise click.BadParameter(f"{str(path)!r} is not a usable checkpoint: {reason}", param_hint=option) from None
    if state.round > rounds:
        raise click.BadParameter(f"the checkpoint in {str(path)!r} is at round {state.round}, beyond --rounds {rounds}",
                                 param_hint=option)


def pretrained_name(value: str, option: str, builtin: tuple[str, ...]) -> str:
    """``value`` when it is built in, a hub id, or a directory saved by ``save_pretrained`` (nothing is loaded)."""
    from .rlhf.pretrained import pretrained_problem

    problem = pretrained_problem(value, builtin)
    if problem is not None:
        raise click.BadParameter(f"{value!r} {problem}", param_hint=option)
    return value
