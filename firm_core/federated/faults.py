"""Warnings raised when a client is dropped from a round or a round is skipped (filterable by class)."""

from __future__ import annotations

import warnings


class ClientDroppedWarning(RuntimeWarning):
    """A client's oracle returned NaN/Inf or a wrongly shaped array; it was left out of the round."""


class RoundSkippedWarning(RuntimeWarning):
    """No client (or no client weight) was left in a round, so the iterate did not move."""


def warn_dropped(round_index: int, algorithm: str, dropped) -> None:
    for item in dropped:
        warnings.warn(
            f"{algorithm}, round {round_index}: client {item['client']} dropped: {item['reason']}",
            ClientDroppedWarning,
            stacklevel=3,
        )


def warn_skipped(round_index: int, algorithm: str, why: str) -> None:
    warnings.warn(f"{algorithm}, round {round_index} skipped: {why}", RoundSkippedWarning, stacklevel=3)
