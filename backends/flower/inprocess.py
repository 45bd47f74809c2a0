"""A Flower ``Grid`` that runs ClientApps in this process: no Ray, no SuperLink, no sockets.

It behaves like the real grids where it matters for a strategy:

- every message crosses a serialization boundary both ways (deflate every object of its tree,
  inflate a fresh copy), so the client never shares an object with the server and sizes are real;
- each node keeps one ``Context`` (its ``node_config`` and ``state``) across rounds;
- a ClientApp that raises produces an error reply (code CLIENT_APP_RAISED_EXCEPTION), as Flower's
  runtime does;
- ``send_and_receive(messages, timeout=...)`` returns the replies that arrived before the timeout;
  a node still working is simply absent (its late reply is never delivered).

Clients run concurrently in a thread pool. Use it as a context manager (or call ``close``) so the
pool is shut down.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from uuid import uuid4

from flwr.app import Context, Error, Message, RecordDict
from flwr.common.constant import ErrorCode
from flwr.serverapp.grid import Grid
from flwr.supercore.inflatable.inflatable_object import get_all_nested_objects
from flwr.supercore.inflatable.inflatable_utils import inflate_object_from_contents
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

from .protocol import PARTITION_KEY

ClientCallable = Callable[[Message, Context], Message]

#: Node ids start here (Flower reserves small ids for the SuperLink).
FIRST_NODE_ID = 1001
#: Node id of the server side (Flower's SUPERLINK_NODE_ID).
SERVER_NODE_ID = 1
#: Task id this process claims when no Flower runtime set one (instruction Messages need it).
IN_PROCESS_TASK_ID = 1


def ensure_task_identity(run_id: int) -> None:
    """Give this process the task identity Flower's runtime would set (``Message(...)`` reads it);
    identities set by a real runtime are left alone."""
    if TaskIdentity._run_id is None:  # noqa: SLF001 - the public getter raises when unset
        TaskIdentity.run_id = run_id
    if TaskIdentity._node_id is None:  # noqa: SLF001
        TaskIdentity.node_id = SERVER_NODE_ID
    if TaskIdentity._task_id is None:  # noqa: SLF001
        TaskIdentity.task_id = IN_PROCESS_TASK_ID


def roundtrip(message: Message) -> Message:
    """A fresh copy of ``message`` obtained by deflating every object of its tree and inflating them
    back (what a transfer through the SuperLink does)."""
    contents = {oid: obj.deflate() for oid, obj in get_all_nested_objects(message).items()}
    copy = inflate_object_from_contents(message.object_id, contents)
    assert isinstance(copy, Message)
    # metadata travels in the Message object itself; keep the id fields the grid assigned
    copy.metadata.__dict__["_message_id"] = message.metadata.message_id
    return copy


@dataclass
class InProcessNode:
    """One simulated SuperNode: its id, the ClientApp (any callable (Message, Context) -> Message)
    and its node config (e.g. {"partition-id": 0, "num-partitions": 4})."""

    node_id: int
    app: ClientCallable
    node_config: Mapping[str, int | float | str | bool] = field(default_factory=dict)


class InProcessGrid(Grid):
    """Grid over in-process nodes. ``make_nodes`` builds one node per client for a given app."""

    def __init__(self, nodes: Sequence[InProcessNode], *, run_id: int = 1, max_workers: int | None = None):
        if not nodes:
            raise ValueError("InProcessGrid: `nodes` must not be empty, got []")
        ids = [n.node_id for n in nodes]
        if len(set(ids)) != len(ids):
            raise ValueError(f"InProcessGrid: node ids must be unique, got {ids}")
        self._nodes = {n.node_id: n for n in nodes}
        self._contexts = {
            n.node_id: Context(
                run_id=run_id, node_id=n.node_id, node_config=dict(n.node_config), state=RecordDict(), run_config={}
            )
            for n in nodes
        }
        ensure_task_identity(run_id)
        self._run = Run.create_empty(run_id)
        self._pool = cf.ThreadPoolExecutor(max_workers=max_workers or len(nodes), thread_name_prefix="inproc-node")
        self._pending: dict[str, cf.Future] = {}
        #: every message pushed and every reply delivered, in order (serialized copies), for accounting
        self.sent_log: list[Message] = []
        self.reply_log: list[Message] = []

    @classmethod
    def make_nodes(cls, app: ClientCallable, num_nodes: int, **node_config) -> list[InProcessNode]:
        """``num_nodes`` nodes running ``app`` with node_config partition-id = i, num-partitions = n."""
        return [
            InProcessNode(
                FIRST_NODE_ID + i, app, {PARTITION_KEY: i, "num-partitions": num_nodes, **node_config}
            )
            for i in range(num_nodes)
        ]

    # --- Grid interface ---------------------------------------------------------------------------
    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._nodes)

    def context(self, node_id: int) -> Context:
        """The persistent Context of a node (its ``state`` is what the ClientApp stored)."""
        return self._contexts[node_id]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for msg in messages:
            if msg.metadata.dst_node_id not in self._nodes:
                raise ValueError(f"InProcessGrid: `dst_node_id` {msg.metadata.dst_node_id} is not a node of this grid")
            msg.metadata.__dict__["_message_id"] = uuid4().hex
            wire = roundtrip(msg)
            self.sent_log.append(wire)
            self._pending[wire.metadata.message_id] = self._pool.submit(self._execute, wire)
            ids.append(wire.metadata.message_id)
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        out = []
        for mid in list(message_ids):
            fut = self._pending.get(mid)
            if fut is not None and fut.done():
                del self._pending[mid]
                reply = fut.result()
                self.reply_log.append(reply)
                out.append(reply)
        return out

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None) -> Iterable[Message]:
        ids = list(self.push_messages(messages))
        futures = [self._pending[i] for i in ids]
        cf.wait(futures, timeout=timeout)
        replies = list(self.pull_messages(ids))
        for mid in ids:  # undelivered: the node missed the deadline; its reply is never pulled
            self._pending.pop(mid, None)
        return replies

    # --- execution ----------------------------------------------------------------------------------
    def _execute(self, message: Message) -> Message:
        node = self._nodes[message.metadata.dst_node_id]
        context = self._contexts[node.node_id]
        try:
            reply = node.app(message, context)
            if not isinstance(reply, Message):
                raise TypeError(f"ClientApp returned {type(reply).__name__}, expected Message")
        except Exception as exc:  # as Flower's runtime: a raising ClientApp becomes an error reply
            reason = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
            reply = Message(Error(code=ErrorCode.CLIENT_APP_RAISED_EXCEPTION, reason=reason), reply_to=message)
        reply.metadata.__dict__["_message_id"] = uuid4().hex
        reply.metadata.__dict__["_delivered_at"] = str(time.time())
        return roundtrip(reply)

    def close(self) -> None:
        """Stop accepting work; threads of nodes that never answered finish on their own."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> InProcessGrid:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
