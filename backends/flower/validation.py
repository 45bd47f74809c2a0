"""Checks on every train reply before anything of it reaches the aggregation.

A reply is *accepted* only when all of these hold, else it is *rejected* with a reason that names
what was wrong and the value found (the round goes on without it):

- it comes from a node this round sent a message to, answers that message (its
  ``reply_to_message_id``, when the grid filled in the sent message's id) and is that node's first
  reply; and it is not an error reply (a client that raised becomes an error reply in Flower);
- its content holds exactly one ArrayRecord with exactly the expected keys ("x" for the numpy
  backend, the adapter's tensor names for the LoRA backend), each Array of the expected dtype and
  shape (float64 (d,) for "x"), whose bytes decode, with every value finite;
- exactly one MetricRecord whose keys are exactly the declared ones (``protocol.reply_metric_specs``
  plus the backend's own), each of its declared type and range: ``num-examples`` a finite number
  equal to the server's own record w_i of that partition, ``partition-id`` the partition this node
  was sent (a node cannot answer for another partition, so it cannot push an honest client out of
  the round), ``local-steps`` = K, ``solver-severity`` in {0, 1, 2}, and ``lambda-mean``: M finite
  floats on the simplex (entries >= -tol, sum 1 within tol).

Checks are pure: the message is only read, and the accepted iterate is a fresh copy.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from flwr.app import ArrayRecord, Message, MetricRecord

from .protocol import (
    CLIENT_ID_KEY,
    LAMBDA_KEY,
    WEIGHT_KEY,
    MetricSpec,
    ProtocolError,
    check_reply_metrics,
    reply_metric_specs,
)
from .records import TensorSpec, Traffic, iterate_specs, message_traffic

#: A reported lambda may leave the simplex by this much (entries below 0, |sum - 1|): the clients'
#: solvers certify feasibility to 1e-12 relative, so anything beyond round-off is a wrong reply.
LAMBDA_SIMPLEX_TOL = 1e-9
#: A reported ``num-examples`` may differ from the server's record w_i by this much, relative: client
#: and server compute w_i from the same problem spec, so only float round-off may separate them.
WEIGHT_RTOL = 1e-12


@dataclass(frozen=True)
class ReplyExpectation:
    """What a valid reply looks like: arrays laid out as ``tensors`` (default: the iterate "x" of
    ``dim`` float64 entries; the LoRA backend passes its adapter's tensors, ``dim`` = their total
    size), ``num_objectives`` lambdas, a partition id in [0, ``num_clients``), ``local_steps`` (None:
    any K >= 1), ``client_weights`` (the server's record w_i, which the reported ``num-examples`` must
    match; None: any finite w >= 0), ``solver_severity`` (the backend reports it), and the backend's
    ``extra_metrics`` {key: MetricSpec}."""

    dim: int
    num_objectives: int
    num_clients: int
    tensors: tuple[TensorSpec, ...] | None = None
    local_steps: int | None = None
    client_weights: tuple[float, ...] | None = None
    solver_severity: bool = True
    extra_metrics: Mapping[str, MetricSpec] = field(default_factory=dict)

    def __post_init__(self):
        for name in ("dim", "num_objectives", "num_clients"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"ReplyExpectation: `{name}` must be an integer >= 1, got {v!r}")
        k = self.local_steps
        if k is not None and (isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1):
            raise ValueError(f"ReplyExpectation: `local_steps` must be an integer >= 1 or None, got {k!r}")
        if self.client_weights is not None:
            w = np.asarray(self.client_weights, dtype=np.float64)
            if w.shape != (self.num_clients,) or not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError(f"ReplyExpectation: `client_weights` must be {self.num_clients} finite numbers >= 0, "
                                 f"got {self.client_weights!r}")
            object.__setattr__(self, "client_weights", tuple(float(v) for v in w))
        clash = sorted(set(self.extra_metrics) & set(self.metric_specs_common()))
        if clash:
            raise ValueError(f"ReplyExpectation: `extra_metrics` redeclares the common keys {clash}")
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

    def metric_specs_common(self) -> dict[str, MetricSpec]:
        return reply_metric_specs(self.num_objectives, self.num_clients, self.local_steps,
                                  solver_severity=self.solver_severity)

    @property
    def metric_specs(self) -> dict[str, MetricSpec]:
        """Every key a reply's MetricRecord must (or may) hold, with its type and range."""
        return {**self.metric_specs_common(), **dict(self.extra_metrics)}


@dataclass(frozen=True)
class SentTrain:
    """What the server sent a node this round: the message id ("" when unknown) and the partition."""

    message_id: str
    client_id: int


@dataclass(frozen=True)
class AcceptedReply:
    """A reply that passed every check. ``y`` is a private copy of the client's iterate in its wire dtype
    (float64 for the numpy iterate, float32 for a float32 adapter; float64 holds it exactly), so the
    server keeps one upload's worth per client."""

    node_id: int
    client_id: int
    y: np.ndarray
    weight: float
    lambda_mean: np.ndarray
    metrics: dict
    traffic: Traffic


@dataclass(frozen=True)
class RejectedReply:
    """A reply (or a missing one) left out of the round, and why. ``client_id``: the partition the node
    was sent (None for a node that was sent nothing)."""

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


def wire_dtype(specs: tuple[TensorSpec, ...]) -> np.dtype:
    """The one dtype that holds every tensor of ``specs`` exactly (float32 for a float32 adapter)."""
    return np.result_type(*[np.dtype(s.dtype) for s in specs])


def arrays_to_vector(record: ArrayRecord, specs: tuple[TensorSpec, ...], dtype=np.float64) -> np.ndarray:
    """The arrays of ``record`` checked against ``specs`` (exactly these names; each its dtype and
    shape, decodable, finite) and flattened, in the order of ``specs``, into one fresh vector of
    ``dtype`` (float64 by default; a reply is kept in its :func:`wire_dtype`). Raises
    :class:`ReplyRejected` (a ValueError) naming the first problem found."""
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
    return np.concatenate([_check_array(record[s.name], s).reshape(-1) for s in specs], dtype=dtype)


def _check_metrics(record: MetricRecord, expect: ReplyExpectation, client_id: int) -> tuple[float, np.ndarray, dict]:
    try:
        values = check_reply_metrics(record, expect.metric_specs)
    except ProtocolError as exc:
        raise ReplyRejected(str(exc)) from None
    cid = values[CLIENT_ID_KEY]
    if cid != client_id:
        raise ReplyRejected(f"{CLIENT_ID_KEY!r} must be {client_id}, the partition this node was sent, got {cid!r}")
    w = float(values[WEIGHT_KEY])
    if expect.client_weights is not None:
        own = expect.client_weights[client_id]
        if not abs(w - own) <= WEIGHT_RTOL * abs(own):
            raise ReplyRejected(f"{WEIGHT_KEY!r} must equal the server's record {own!r} for partition {client_id}, "
                                f"got {w!r}")
    lam_arr = np.asarray(values[LAMBDA_KEY], dtype=np.float64)
    if np.any(lam_arr < -LAMBDA_SIMPLEX_TOL) or abs(lam_arr.sum() - 1.0) > LAMBDA_SIMPLEX_TOL:
        raise ReplyRejected(f"{LAMBDA_KEY!r} must lie on the simplex, got {values[LAMBDA_KEY]!r}")
    return w, lam_arr, values


def check_train_reply(
    message: Message,
    expect: ReplyExpectation,
    *,
    sent: Mapping[int, SentTrain],
    seen_nodes: set[int],
) -> AcceptedReply | RejectedReply:
    """Accept or reject one train reply (see the module docstring). ``sent`` maps node id -> what it was
    sent this round; ``seen_nodes`` (the nodes that already replied) is only read."""
    node = int(message.metadata.src_node_id)
    traffic = message_traffic(message)
    expected = sent.get(node)
    try:
        if expected is None:
            raise ReplyRejected(f"reply from node {node}, which was not sent a message this round")
        if node in seen_nodes:
            raise ReplyRejected(f"second reply from node {node} this round (duplicate)")
        if expected.message_id and message.metadata.reply_to_message_id != expected.message_id:
            raise ReplyRejected(
                f"reply to message {message.metadata.reply_to_message_id!r}, expected {expected.message_id!r}"
            )
        if message.has_error():
            err = message.error
            raise ReplyRejected(f"client error (code {err.code}): {err.reason}")
        content = message.content
        y = arrays_to_vector(_single(content.array_records, "ArrayRecord"), expect.specs, wire_dtype(expect.specs))
        weight, lam, metrics = _check_metrics(_single(content.metric_records, "MetricRecord"), expect,
                                              expected.client_id)
    except ReplyRejected as exc:
        return RejectedReply(node, None if expected is None else expected.client_id, str(exc), traffic)
    return AcceptedReply(node, expected.client_id, y, weight, lam, metrics, traffic)


def check_train_replies(
    replies: Iterable[Message], expect: ReplyExpectation, *, sent: Mapping[int, SentTrain]
) -> tuple[list[AcceptedReply], list[RejectedReply]]:
    """Check every reply of a round; ``sent`` maps each node sent a message this round to what it was sent.

    Returns (accepted sorted by client id, rejected). Nodes that were sent a message but did not
    answer are rejected with reason "no reply before the round's timeout".
    """
    accepted: list[AcceptedReply] = []
    rejected: list[RejectedReply] = []
    seen_nodes: set[int] = set()
    for msg in replies:
        verdict = check_train_reply(msg, expect, sent=sent, seen_nodes=seen_nodes)
        if int(msg.metadata.src_node_id) in sent:
            seen_nodes.add(int(msg.metadata.src_node_id))
        (accepted if isinstance(verdict, AcceptedReply) else rejected).append(verdict)
    for node, what in sent.items():
        if node not in seen_nodes:
            rejected.append(RejectedReply(int(node), what.client_id, NO_REPLY_REASON, Traffic(0, 0, 0)))
    accepted.sort(key=lambda r: r.client_id)
    return accepted, rejected
