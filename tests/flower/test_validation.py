"""Reply validation: the good reply passes, and each kind of bad reply is rejected with its reason."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("flwr")

from flwr.app import Array, ArrayRecord, ConfigRecord, Error, Message, MetricRecord, RecordDict  # noqa: E402

from backends.flower.inprocess import ensure_task_identity  # noqa: E402
from backends.flower.protocol import MetricSpec, rlhf_metric_specs  # noqa: E402
from backends.flower.records import iterate_to_record, message_traffic  # noqa: E402
from backends.flower.validation import (  # noqa: E402
    NO_REPLY_REASON,
    AcceptedReply,
    RejectedReply,
    ReplyExpectation,
    check_train_replies,
    SentTrain,
    check_train_reply,
)

pytestmark = pytest.mark.flower

D, M, N = 4, 2, 3
#: The server's record of the client weights: unequal, so a reply cannot pass with another client's weight.
WEIGHTS = (0.2, 0.5, 0.3)
K = 3
EXPECT = ReplyExpectation(dim=D, num_objectives=M, num_clients=N, local_steps=K, client_weights=WEIGHTS)
NODE = 1001


def _instruction(node=NODE, message_id="m-1") -> Message:
    ensure_task_identity(1)
    msg = Message(RecordDict({"arrays": iterate_to_record(np.zeros(D))}), node, "train")
    msg.metadata.__dict__["_message_id"] = message_id
    return msg


def _metrics(**override):
    m = {"num-examples": 0.5, "partition-id": 1, "lambda-mean": [0.25, 0.75], "local-steps": K, "solver-severity": 0}
    m.update(override)
    return MetricRecord({k: v for k, v in m.items() if v is not None})


def _reply(y=None, metrics=None, *, arrays=None, node=NODE, message_id="m-1", extra_records=None) -> Message:
    y = np.arange(D, dtype=np.float64) if y is None else y
    records = {"arrays": ArrayRecord({"x": Array(np.asarray(y))}) if arrays is None else arrays,
               "metrics": _metrics() if metrics is None else metrics}
    records.update(extra_records or {})
    return Message(RecordDict(records), reply_to=_instruction(node, message_id))


def _check(msg, sent=None, seen_nodes=(), expect=EXPECT):
    return check_train_reply(msg, expect, sent=sent or {NODE: SentTrain("m-1", 1)}, seen_nodes=set(seen_nodes))


def test_good_reply_is_accepted_with_a_private_copy():
    y = np.arange(D, dtype=np.float64)
    msg = _reply(y)
    before = msg.content.object_id
    out = _check(msg)
    assert isinstance(out, AcceptedReply), out
    assert out.client_id == 1 and out.weight == 0.5 and out.node_id == NODE
    np.testing.assert_array_equal(out.y, y)
    np.testing.assert_array_equal(out.lambda_mean, [0.25, 0.75])
    assert out.traffic == message_traffic(msg) and out.traffic.payload_floats == D
    out.y[0] = 99.0  # the accepted copy is private: the message is unchanged
    assert msg.content.object_id == before
    assert msg.content["arrays"]["x"].numpy()[0] == 0.0


BAD_REPLIES = {
    "wrong shape": (lambda: _reply(np.zeros(D + 1)), "shape"),
    "2-D array": (lambda: _reply(np.zeros((1, D))), "shape"),
    "float32": (lambda: _reply(np.zeros(D, dtype=np.float32)), "dtype"),
    "nan": (lambda: _reply(np.array([0.0, np.nan, 0.0, 0.0])), "non-finite"),
    "inf": (lambda: _reply(np.array([0.0, 0.0, np.inf, 0.0])), "non-finite"),
    "wrong array key": (lambda: _reply(arrays=ArrayRecord({"w": Array(np.zeros(D))})), "exactly the key"),
    "two arrays": (lambda: _reply(arrays=ArrayRecord({"x": Array(np.zeros(D)), "z": Array(np.zeros(D))})), "exactly the key"),
    "two ArrayRecords": (lambda: _reply(extra_records={"more": iterate_to_record(np.zeros(D))}), "one ArrayRecord"),
    "two MetricRecords": (lambda: _reply(extra_records={"m2": _metrics()}), "one MetricRecord"),
    "no weight": (lambda: _reply(metrics=_metrics(**{"num-examples": None})), "num-examples"),
    "negative weight": (lambda: _reply(metrics=_metrics(**{"num-examples": -1.0})), "num-examples"),
    "nan weight": (lambda: _reply(metrics=_metrics(**{"num-examples": float("nan")})), "num-examples"),
    "list weight": (lambda: _reply(metrics=_metrics(**{"num-examples": [1.0]})), "num-examples"),
    "no partition": (lambda: _reply(metrics=_metrics(**{"partition-id": None})), "partition-id"),
    "partition out of range": (lambda: _reply(metrics=_metrics(**{"partition-id": N})), "partition-id"),
    "float partition": (lambda: _reply(metrics=_metrics(**{"partition-id": 1.0})), "partition-id"),
    "lambda off simplex": (lambda: _reply(metrics=_metrics(**{"lambda-mean": [0.5, 0.6]})), "simplex"),
    "negative lambda": (lambda: _reply(metrics=_metrics(**{"lambda-mean": [-0.1, 1.1]})), "simplex"),
    "lambda wrong length": (lambda: _reply(metrics=_metrics(**{"lambda-mean": [1.0]})), "list of 2"),
    "no lambda": (lambda: _reply(metrics=_metrics(**{"lambda-mean": None})), "lambda-mean"),
    "unknown node": (lambda: _reply(node=2002), "not sent a message"),
    "wrong message id": (lambda: _reply(message_id="other"), "expected 'm-1'"),
    # a hostile or broken client cannot steer the server through its metrics
    "huge weight": (lambda: _reply(metrics=_metrics(**{"num-examples": 1e300})), "server's record 0.5"),
    "max-float weight": (lambda: _reply(metrics=_metrics(**{"num-examples": 1.7e308})), "server's record 0.5"),
    "another client's weight": (lambda: _reply(metrics=_metrics(**{"num-examples": 0.2})), "server's record 0.5"),
    "inf weight": (lambda: _reply(metrics=_metrics(**{"num-examples": float("inf")})), "num-examples"),
    "another partition": (lambda: _reply(metrics=_metrics(**{"partition-id": 2})), "must be 1, the partition this node"),
    "nan severity": (lambda: _reply(metrics=_metrics(**{"solver-severity": float("nan")})), "'solver-severity' must be an integer"),
    "inf severity": (lambda: _reply(metrics=_metrics(**{"solver-severity": float("inf")})), "'solver-severity' must be an integer"),
    "list severity": (lambda: _reply(metrics=_metrics(**{"solver-severity": [2]})), "'solver-severity' must be an integer"),
    "severity 3": (lambda: _reply(metrics=_metrics(**{"solver-severity": 3})), "in [0, 2]"),
    "negative severity": (lambda: _reply(metrics=_metrics(**{"solver-severity": -1})), "in [0, 2]"),
    "no severity": (lambda: _reply(metrics=_metrics(**{"solver-severity": None})), "lacks 'solver-severity'"),
    "wrong local steps": (lambda: _reply(metrics=_metrics(**{"local-steps": K + 1})), "'local-steps' must be an integer in [3, 3]"),
    "float local steps": (lambda: _reply(metrics=_metrics(**{"local-steps": 3.0})), "'local-steps'"),
    "nan in lambda": (lambda: _reply(metrics=_metrics(**{"lambda-mean": [float("nan"), 1.0]})), "'lambda-mean'"),
    "huge lambda": (lambda: _reply(metrics=_metrics(**{"lambda-mean": [1e308, -1e308]})), "simplex"),
    "undeclared metric": (lambda: _reply(metrics=_metrics(**{"loss": 0.1})), "undeclared keys ['loss']"),
}


@pytest.mark.parametrize("case", sorted(BAD_REPLIES))
def test_bad_reply_is_rejected_with_its_reason(case):
    make, needle = BAD_REPLIES[case]
    out = _check(make())
    assert isinstance(out, RejectedReply), f"{case} was accepted"
    assert needle in out.reason, out.reason


def test_error_reply_is_rejected_with_the_clients_reason():
    err = Message(Error(code=2, reason="ValueError: boom"), reply_to=_instruction())
    out = _check(err)
    assert isinstance(out, RejectedReply) and "boom" in out.reason and "code 2" in out.reason


def test_duplicates_are_rejected():
    assert "duplicate" in _check(_reply(), seen_nodes={NODE}).reason


def test_a_node_claiming_another_partition_does_not_push_the_honest_one_out():
    """Node 1001 was sent partition 0 but claims partition 2 (and replies first); node 1002, sent
    partition 2, answers honestly. Only the impostor is dropped, under the partition it was sent."""
    liar = _reply(metrics=_metrics(**{"partition-id": 2, "num-examples": 0.3}), node=1001, message_id="a")
    honest = _reply(metrics=_metrics(**{"partition-id": 2, "num-examples": 0.3}), node=1002, message_id="b")
    accepted, rejected = check_train_replies([liar, honest], EXPECT, sent={1001: SentTrain("a", 0), 1002: SentTrain("b", 2)})
    assert [(a.node_id, a.client_id) for a in accepted] == [(1002, 2)]
    assert [(r.node_id, r.client_id) for r in rejected] == [(1001, 0)]
    assert "must be 0, the partition this node was sent, got 2" in rejected[0].reason


def test_round_check_sorts_accepted_and_reports_missing_nodes():
    r1 = _reply(metrics=_metrics(**{"partition-id": 2, "num-examples": 0.3}), node=1002, message_id="a")
    r2 = _reply(metrics=_metrics(**{"partition-id": 0, "num-examples": 0.2}), node=1001, message_id="b")
    bad = _reply(np.full(D, np.nan), metrics=_metrics(**{"partition-id": 1}), node=1003, message_id="c")
    sent = {1001: SentTrain("b", 0), 1002: SentTrain("a", 2), 1003: SentTrain("c", 1), 1004: SentTrain("d", 1)}
    accepted, rejected = check_train_replies([r1, r2, bad], EXPECT, sent=sent)
    assert [a.client_id for a in accepted] == [0, 2]
    reasons = {r.node_id: r.reason for r in rejected}
    assert set(reasons) == {1003, 1004}
    assert reasons[1004] == NO_REPLY_REASON and "non-finite" in reasons[1003]


def test_expectation_rejects_bad_sizes():
    with pytest.raises(ValueError, match="`dim`"):
        ReplyExpectation(dim=0, num_objectives=2, num_clients=1)
    with pytest.raises(ValueError, match="`num_clients`"):
        ReplyExpectation(dim=2, num_objectives=2, num_clients=True)


def test_config_records_in_replies_do_not_matter():
    out = _check(_reply(extra_records={"cfg": ConfigRecord({"note": "hi"})}))
    assert isinstance(out, AcceptedReply)


RLHF_EXPECT = ReplyExpectation(dim=D, num_objectives=M, num_clients=N, local_steps=K, client_weights=WEIGHTS,
                               solver_severity=False, extra_metrics=rlhf_metric_specs(M, K))


def _rlhf_metrics(**override):
    m = {"num-examples": 0.5, "partition-id": 1, "lambda-mean": [0.25, 0.75], "local-steps": K,
         "rewards": [0.1, -0.3], "kl": 0.01, "skipped-steps": 1, "kl-steps": [0.01] * K}
    m.update(override)
    return MetricRecord({k: v for k, v in m.items() if v is not None})


def test_rlhf_metrics_are_checked_too():
    assert isinstance(_check(_reply(metrics=_rlhf_metrics()), expect=RLHF_EXPECT), AcceptedReply)
    bad = {
        "kl": float("nan"),
        "rewards": [0.1],
        "skipped-steps": K,  # all K skipped: such a client must fail, not reply
        "kl-steps": [0.01] * (K - 1),  # one KL per local step
    }
    for key, value in bad.items():
        out = _check(_reply(metrics=_rlhf_metrics(**{key: value})), expect=RLHF_EXPECT)
        assert isinstance(out, RejectedReply) and repr(key) in out.reason, (key, out)
    out = _check(_reply(metrics=_rlhf_metrics(**{"solver-severity": 0})), expect=RLHF_EXPECT)
    assert isinstance(out, RejectedReply) and "undeclared" in out.reason
    with pytest.raises(ValueError, match="redeclares"):
        ReplyExpectation(dim=D, num_objectives=M, num_clients=N, extra_metrics={"kl": MetricSpec("float"),
                                                                               "num-examples": MetricSpec("float")})
