"""Which node serves which partition: one "query" message per node, answered with its ``partition-id``.

The first time, the server waits (up to the round timeout) until N nodes are connected, as Flower's
own sampling does, then asks every node it does not know yet. A partition claimed by several nodes
goes to the lowest node id (logged): the claim is trusted, so deployments where nodes may lie about
their identity need Flower's node authentication. Invalid answers are logged and the node left out.
"""

from __future__ import annotations

import time
from logging import INFO, WARNING

from flwr.app import Message, MessageType, RecordDict
from flwr.serverapp.grid import Grid
from flwr.supercore import log

from .protocol import CLIENT_ID_KEY

#: Seconds between checks of the connected nodes while waiting for N of them.
NODE_POLL_INTERVAL = 0.5


def discover_nodes(grid: Grid, num_clients: int, timeout: float, known: dict[int, int] | None = None) -> dict[int, int]:
    """``known`` (client id -> node id) completed with the answers of the other nodes (module docstring)."""
    mapping = dict(known or {})
    deadline = time.monotonic() + timeout
    while not mapping and len(list(grid.get_node_ids())) < num_clients and time.monotonic() < deadline:
        time.sleep(NODE_POLL_INTERVAL)
    mapped = set(mapping.values())
    nodes = sorted(int(n) for n in grid.get_node_ids() if int(n) not in mapped)
    messages = [Message(RecordDict(), node, MessageType.QUERY) for node in nodes]
    replies = grid.send_and_receive(messages, timeout=timeout) if messages else []
    for reply in replies:
        node = int(reply.metadata.src_node_id)
        if reply.has_error() or len(reply.content.metric_records) != 1:
            why = reply.error.reason if reply.has_error() else "no MetricRecord"
            log(WARNING, "FIRM: node %d did not report its partition: %s", node, why)
            continue
        cid = next(iter(reply.content.metric_records.values())).get(CLIENT_ID_KEY)
        if isinstance(cid, bool) or not isinstance(cid, int) or not 0 <= cid < num_clients:
            log(WARNING, "FIRM: node %d reported an invalid partition id %r", node, cid)
            continue
        if cid in mapping:
            log(WARNING, "FIRM: partition %d claimed by nodes %d and %d", cid, mapping[cid], node)
            node = min(node, mapping[cid])
        mapping[cid] = node
    log(INFO, "FIRM: %d of %d partitions are served", len(mapping), num_clients)
    return mapping
