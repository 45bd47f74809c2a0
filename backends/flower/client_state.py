"""A client's own bookkeeping across rounds, shared by every backend's train handler.

``context.state["firm-client"]`` (a ConfigRecord): rounds trained, the last round index trained (a
message for an older or the same round is refused), local steps run so far.
"""

from __future__ import annotations

from flwr.app import ConfigRecord, Context

#: context.state key of the client's own bookkeeping.
STATE_KEY = "firm-client"


class ClientUpdateError(RuntimeError):
    """The local update could not produce a valid y_i (the reason is in the message)."""


def record_round(context: Context, round_index: int, local_steps: int) -> ConfigRecord:
    """Check that round ``round_index`` is newer than the last one this client trained and record it."""
    state = context.state.config_records.get(STATE_KEY)
    if state is None:
        state = ConfigRecord({"rounds-trained": 0, "last-round-index": -1, "local-steps-total": 0})
    last = int(state["last-round-index"])
    if round_index <= last:
        raise ClientUpdateError(f"round index {round_index} is not newer than the last one trained ({last})")
    new = ConfigRecord(
        {
            "rounds-trained": int(state["rounds-trained"]) + 1,
            "last-round-index": int(round_index),
            "local-steps-total": int(state["local-steps-total"]) + int(local_steps),
        }
    )
    context.state[STATE_KEY] = new
    return new
