"""Calling a batched client oracle so that one faulty client cannot stop the others.

A client is faulty at a call when its oracle output is non-finite, wrongly shaped, or the oracle
raises an exception for it. Faulty clients are reported (``ok[j] = False`` with a reason) and the
healthy ones keep exactly the values and the random draws they would have had anyway.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _rewind(rngs, states) -> None:
    """Restore generator states (a generator repeated in the list ends at its first saved state)."""
    for r, st in reversed(list(zip(rngs, states))):
        r.bit_generator.state = st


def _one_client(oracle, client, point, rng, shape, what) -> tuple[np.ndarray | None, str | None]:
    """(output (*shape) or None, reason or None) of one client's oracle call."""
    try:
        one = np.asarray(oracle(client, point, rng))
    except Exception as exc:  # noqa: BLE001 - a client's own failure; KeyboardInterrupt still propagates
        return None, f"{what} raised {type(exc).__name__}: {exc}"
    if one.shape != (1, *shape):
        return None, f"wrong {what} shape: got {one.shape[1:] if one.ndim else one.shape}, expected {shape}"
    if not np.all(np.isfinite(one)):
        return None, f"non-finite {what}"
    return one[0], None


def checked_oracle(
    oracle: Callable[[np.ndarray, np.ndarray, list], np.ndarray],
    clients: np.ndarray,
    points: np.ndarray,
    rngs: list,
    shape: tuple[int, ...],
    what: str,
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Call ``oracle(clients, points, rngs)`` expecting an (n, *shape) array; return (out, ok, reasons).

    Non-finite rows are marked not ok. When the batched call raises or returns a wrongly shaped
    array, the call is redone one client at a time from the generators' saved states, and only the
    clients whose own call fails (raises, wrong shape, non-finite) are marked, with the reason.
    """
    n = len(clients)
    states = [r.bit_generator.state for r in rngs] if rngs is not None else None
    try:
        out = np.asarray(oracle(clients, points, rngs))
    except Exception:  # noqa: BLE001 - find out below which client raised
        out = None
    if out is not None and out.shape == (n, *shape):
        ok = np.isfinite(out).reshape(n, -1).all(axis=1)
        return out, ok, [None if good else f"non-finite {what}" for good in ok]
    if rngs is not None:
        _rewind(rngs, states)
    full = np.full((n, *shape), np.nan)
    ok = np.zeros(n, dtype=bool)
    reasons: list[str | None] = [None] * n
    for j in range(n):
        rng = None if rngs is None else [rngs[j]]
        value, reasons[j] = _one_client(oracle, clients[j : j + 1], points[j : j + 1], rng, shape, what)
        if value is not None:
            full[j], ok[j] = value, True
    return full, ok, reasons
