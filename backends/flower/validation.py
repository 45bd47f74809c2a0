"""Checks on every train reply before anything of it reaches the aggregation.

A reply is *accepted* only when all of these hold, else it is *rejected* with a reason that names
what was wrong and the value found (the round goes on without it):

- it comes from a node this round sent a message to, answers that message (its
  ``reply_to_message_id``, when the grid filled in the sent message's id) and is that node's first
  reply; and it is not an error reply (a client that raised becomes an error reply in Flower);
- its content holds exactly one ArrayRecord with exactly the expected keys ("x" for the numpy
  backend, the adapter's tensor names for the LoRA backend), each Array of the expected dtype and
  shape (float64 (d,) for "x"), whose bytes decode, with every value finite;
- exactly one MetricRecord with a scalar, finite, non-negative ``num-examples`` (the weight w_i),
  an integer ``partition-id`` in [0, N) not already seen this round, and ``lambda-mean``: M finite
  floats on the simplex (entries >= -tol, sum 1 within tol).

Checks are pure: the message is only read, and the accepted iterate is a fresh copy.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from flwr.app import ArrayRecord, Message, MetricRecord

from .records import (
    CLIENT_ID_KEY,
    LAMBDA_KEY,
    WEIGHT_KEY,
    TensorSpec,
    Traffic,
    iterate_specs,
    message_traffic,
)

#: A reported lambda may leave the simplex by this much (entries below 0, |sum - 1|): the clients'
#: solvers certify feasibility to 1e-12 relative, so anything beyond round-off is a wrong reply.
LAMBDA_SIMPLEX_TOL = 1e-9


@dataclass(frozen=True)
class ReplyExpectation:
    """What a valid reply looks like: arrays laid out as ``tensors`` (default: the iterate "x" of
    ``dim`` float64 entries; the LoRA backend passes its adapter's tensors, ``dim`` = their total
    size), ``num_objectives`` lambdas, a partition id in [0, ``num_clients``)."""

    dim: int
    num_objectives: int
    num_clients: int
    tensors: tuple[TensorSpec, ...] | None = None

    def __post_init__(self):
        for name in ("dim", "num_objectives", "num_clients"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"ReplyExpectation: `{name}` must be an integer >= 1, got {v!r}")
        if self.tensors is not None:
            specs = tuple(self.tensors)
            if not specs or not all(isinstance(t, TensorSpec) for t in specs):
                raise TypeError(f"ReplyExpectation: `tensors` must be a non-empty tuple of TensorSpec, got {self.tensors!r}")
            names = [t.name for t in specs]
            if names != sorted(set(names)):
                raise ValueError(f"ReplyExpectation: `tensors` names must be unique and sorted, got {names}")
            if sum(t.size for t in specs) != self.dim:
                raise ValueError(
                    f"ReplyExpectation: `dim` must equal the tensors' total size {sum(t.size for t in specs)}, got {self.dim}"
                )
            object.__setattr__(self, "tensors", specs)

    @property
    def specs(self) -> tuple[TensorSpec, ...]:
        """The arrays a reply carries, in the order of the flattened vector."""
        return self.tensors if self.tensors is not None else iterate_specs(self.dim)


@dataclass(frozen=True)
class AcceptedReply:
    """A reply that passed every check. ``y`` is a private float64 copy of the client's iterate."""

    node_id: int
    client_id: int
    y: np.ndarray
    weight: float
    lambda_mean: np.ndarray
    metrics: dict
    traffic: Traffic


@dataclass(frozen=True)
class RejectedReply:
    """A reply (or a missing one) left out of the round, and why."""

    node_id: int
    client_id: int | None
    reason: str
    traffic: Traffic


#: Reason recorded for a node that was sent a message but did not answer in time.
NO_REPLY_REASON = "no reply before the round's timeout"


class ReplyRejected(ValueError):
    """Raised inside the checks; carries the reason that ends up in :class:`RejectedReply`."""


def _single(records: dict, kind: str):
    if len(records) != 1:
        raise ReplyRejected(f"expected exactly one {kind}, got {len(records)} ({sorted(records)})")
    return next(iter(records.values()))


def _check_array(arr, spec: TensorSpec) -> np.ndarray:
    if np.dtype(arr.dtype) != spec.dtype:
        raise ReplyRejected(f"array {spec.name!r} must have dtype {spec.dtype}, got {arr.dtype}")
    if tuple(arr.shape) != spec.shape:
        raise ReplyRejected(f"array {spec.name!r} must have shape {spec.shape}, got {tuple(arr.shape)}")
    try:
        y = np.array(arr.numpy(), dtype=spec.dtype, copy=True)
    except Exception as exc:  # undecodable bytes: any numpy load error rejects the reply
        raise ReplyRejected(f"array {spec.name!r} does not decode: {exc}") from None
    if y.shape != spec.shape:
        raise ReplyRejected(f"array {spec.name!r} decodes to shape {y.shape}, header says {spec.shape}")
    bad = np.flatnonzero(~np.isfinite(y.reshape(-1)))
    if bad.size:
        raise ReplyRejected(
            f"array {spec.name!r} has {bad.size} non-finite entries (first at flat index {bad[0]}: {y.reshape(-1)[bad[0]]})"
        )
    return y


def arrays_to_vector(record: ArrayRecord, specs: tuple[TensorSpec, ...]) -> np.ndarray:
    """The arrays of ``record`` checked against ``specs`` (exactly these names; each its dtype and
    shape, decodable, finite) and flattened, in the order of ``specs``, into one fresh float64
    vector. Raises :class:`ReplyRejected` (a ValueError) naming the first problem found."""
    if not isinstance(record, ArrayRecord):
        raise ReplyRejected(f"expected an ArrayRecord, got {type(record).__name__}")
    keys = list(record.keys())
    names = [s.name for s in specs]
    if sorted(keys) != names:
        if len(names) == 1:
            raise ReplyRejected(f"ArrayRecord must hold exactly the key {names[0]!r}, got {keys}")
        missing, extra = sorted(set(names) - set(keys)), sorted(set(keys) - set(names))
        raise ReplyRejected(
            f"ArrayRecord must hold exactly the keys of the {len(names)} expected arrays; missing {missing[:5]}, "
            f"unexpected {extra[:5]} (got {len(keys)} keys)"
        )
    return np.concatenate([_check_array(record[s.name], s).reshape(-1).astype(np.float64) for s in specs])


def _check_metrics(record: MetricRecord, expect: ReplyExpectation) -> tuple[float, int, np.ndarray]:
    if WEIGHT_KEY not in record:
        raise ReplyRejected(f"MetricRecord lacks {WEIGHT_KEY!r} (keys: {sorted(record)})")
    w = record[WEIGHT_KEY]
    if isinstance(w, bool) or not isinstance(w, numbers.Real) or not math.isfinite(w) or w < 0:
        raise ReplyRejected(f"{WEIGHT_KEY!r} must be a finite number >= 0, got {w!r}")
    cid = record.get(CLIENT_ID_KEY)
    if isinstance(cid, bool) or not isinstance(cid, numbers.Integral) or not 0 <= cid < expect.num_clients:
        raise ReplyRejected(f"{CLIENT_ID_KEY!r} must be an integer in [0, {expect.num_clients}), got {cid!r}")
    lam = record.get(LAMBDA_KEY)
    if not isinstance(lam, list) or len(lam) != expect.num_objectives:
        raise ReplyRejected(f"{LAMBDA_KEY!r} must be a list of {expect.num_objectives} floats, got {lam!r}")
    lam_arr = np.asarray(lam, dtype=np.float64)
    if not np.all(np.isfinite(lam_arr)) or np.any(lam_arr < -LAMBDA_SIMPLEX_TOL) or (
        abs(lam_arr.sum() - 1.0) > LAMBDA_SIMPLEX_TOL
    ):
        raise ReplyRejected(f"{LAMBDA_KEY!r} must lie on the simplex, got {lam!r}")
    return float(w), int(cid), lam_arr


def check_train_reply(
    message: Message,
    expect: ReplyExpectation,
    *,
    sent: dict[int, str],
    seen_nodes: set[int],
    seen_clients: set[int],
) -> AcceptedReply | RejectedReply:
    """Accept or reject one train reply (see the module docstring). ``sent`` maps node id -> id of the
    message sent to it ("" when unknown); ``seen_nodes`` / ``seen_clients`` are only read."""
    node = int(message.metadata.src_node_id)
    traffic = message_traffic(message)
    client_id = None
    try:
        if node not in sent:
            raise ReplyRejected(f"reply from node {node}, which was not sent a message this round")
        if node in seen_nodes:
            raise ReplyRejected(f"second reply from node {node} this round (duplicate)")
        expected_id = sent[node]
        if expected_id and message.metadata.reply_to_message_id != expected_id:
            raise ReplyRejected(
                f"reply to message {message.metadata.reply_to_message_id!r}, expected {expected_id!r}"
            )
        if message.has_error():
            err = message.error
            raise ReplyRejected(f"client error (code {err.code}): {err.reason}")
        content = message.content
        y = arrays_to_vector(_single(content.array_records, "ArrayRecord"), expect.specs)
        metrics = _single(content.metric_records, "MetricRecord")
        weight, client_id, lam = _check_metrics(metrics, expect)
        if client_id in seen_clients:
            raise ReplyRejected(f"{CLIENT_ID_KEY!r} {client_id} already replied this round (duplicate)")
    except ReplyRejected as exc:
        return RejectedReply(node, client_id, str(exc), traffic)
    plain = {k: (list(v) if isinstance(v, list) else v) for k, v in metrics.items()}
    return AcceptedReply(node, client_id, y, weight, lam, plain, traffic)


def check_train_replies(
    replies: Iterable[Message], expect: ReplyExpectation, *, sent: dict[int, str]
) -> tuple[list[AcceptedReply], list[RejectedReply]]:
    """Check every reply of a round; ``sent`` maps each node sent a message this round to that
    message's id ("" when unknown).

    Returns (accepted sorted by client id, rejected). Nodes that were sent a message but did not
    answer are rejected with reason "no reply before the round's timeout".
    """
    accepted: list[AcceptedReply] = []
    rejected: list[RejectedReply] = []
    seen_clients: set[int] = set()
    seen_nodes: set[int] = set()
    for msg in replies:
        verdict = check_train_reply(msg, expect, sent=sent, seen_nodes=seen_nodes, seen_clients=seen_clients)
        if int(msg.metadata.src_node_id) in sent:
            seen_nodes.add(int(msg.metadata.src_node_id))
        if isinstance(verdict, AcceptedReply):
            seen_clients.add(verdict.client_id)
            accepted.append(verdict)
        else:
            rejected.append(verdict)
    for node in sent:
        if node not in seen_nodes:
            rejected.append(RejectedReply(int(node), None, NO_REPLY_REASON, Traffic(0, 0, 0)))
    accepted.sort(key=lambda r: r.client_id)
    return accepted, rejected
