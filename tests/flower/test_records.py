"""Iterate records, message sizes, and the in-process grid's transport."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr")

from flwr.app import ConfigRecord, Message, MetricRecord, RecordDict  # noqa: E402

from backends.flower.inprocess import InProcessGrid, InProcessNode, ensure_task_identity, roundtrip  # noqa: E402
from backends.flower.records import (  # noqa: E402
    array_payload,
    iterate_to_record,
    message_traffic,
    record_to_iterate,
    wire_bytes,
)

pytestmark = pytest.mark.flower


def test_iterate_round_trip_is_an_exact_float64_copy():
    x = np.random.default_rng(0).normal(size=7)
    rec = iterate_to_record(x)
    x[0] = 42.0  # the record holds a copy
    out = record_to_iterate(rec)
    assert out.dtype == np.float64 and out.shape == (7,) and out[0] != 42.0
    assert array_payload(rec) == (7, 56)


@pytest.mark.parametrize("bad, err", [(np.zeros((2, 2)), ValueError), (np.arange(3), TypeError)])
def test_iterate_to_record_rejects_bad_input(bad, err):
    with pytest.raises(err, match="`x`"):
        iterate_to_record(bad)


def test_record_to_iterate_rejects_other_records():
    with pytest.raises(TypeError, match="`record`"):
        record_to_iterate({"x": np.zeros(2)})


def test_traffic_counts_payload_and_serialized_tree():
    ensure_task_identity(1)
    d = 100
    msg = Message(RecordDict({"arrays": iterate_to_record(np.ones(d)), "config": ConfigRecord({"lr": 0.1})}), 1001, "train")
    t = message_traffic(msg)
    assert t.payload_floats == d and t.payload_bytes == 8 * d
    # the serialized tree holds the npy bytes (payload + header) plus framing of every object
    data_bytes = len(msg.content["arrays"]["x"].data)
    assert data_bytes > 8 * d
    assert t.wire_bytes == wire_bytes(msg) > data_bytes
    bigger = Message(RecordDict({"arrays": iterate_to_record(np.ones(2 * d)), "config": ConfigRecord({"lr": 0.1})}), 1001, "train")
    # d more floats cost 8 d bytes, plus a few where length fields in the headers gain a digit
    extra = wire_bytes(bigger) - t.wire_bytes - 8 * d
    assert 0 <= extra <= 16, extra


def test_roundtrip_gives_an_equal_independent_message():
    ensure_task_identity(1)
    msg = Message(RecordDict({"arrays": iterate_to_record(np.arange(3.0)), "metrics": MetricRecord({"a": 1.0})}), 1001, "train")
    msg.metadata.__dict__["_message_id"] = "id-1"
    copy = roundtrip(msg)
    assert copy is not msg and copy.content is not msg.content
    assert copy.metadata.message_id == "id-1" and copy.content.object_id == msg.content.object_id
    np.testing.assert_array_equal(record_to_iterate(copy.content["arrays"]), [0.0, 1.0, 2.0])


def test_grid_turns_exceptions_into_error_replies_and_drops_late_nodes():
    import threading

    release = threading.Event()

    def ok(msg, ctx):
        return Message(RecordDict({"metrics": MetricRecord({"node": ctx.node_id})}), reply_to=msg)

    def boom(msg, ctx):
        raise RuntimeError("boom")

    def late(msg, ctx):
        release.wait(30)
        return ok(msg, ctx)

    nodes = [InProcessNode(1, ok), InProcessNode(2, boom), InProcessNode(3, late)]
    with InProcessGrid(nodes) as grid:
        msgs = [Message(RecordDict(), n, "query") for n in (1, 2, 3)]
        replies = grid.send_and_receive(msgs, timeout=0.5)
        release.set()
    by_node = {r.metadata.src_node_id: r for r in replies}
    assert set(by_node) == {1, 2}
    assert not by_node[1].has_error() and by_node[1].content["metrics"]["node"] == 1
    assert by_node[2].has_error() and "boom" in by_node[2].error.reason
    assert {r.metadata.reply_to_message_id for r in replies} == {m.metadata.message_id for m in msgs[:2]}


def test_grid_rejects_bad_construction():
    with pytest.raises(ValueError, match="`nodes`"):
        InProcessGrid([])
    with pytest.raises(ValueError, match="unique"):
        InProcessGrid([InProcessNode(1, print), InProcessNode(1, print)])
