"""The FIRM ClientApp on its own: identity from node_config, state in context.state, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from tests.flower.helpers import make_settings

from firm_core.federated.client import client_rng, local_update  # noqa: E402
from flwr.app import ConfigRecord, Context, Message, RecordDict  # noqa: E402

from backends.flower.client_app import app  # noqa: E402
from backends.flower.client_state import STATE_KEY, ClientUpdateError  # noqa: E402
from backends.flower.numpy_client import train as firm_train  # noqa: E402
from backends.flower.protocol import partition_id  # noqa: E402
from backends.flower.inprocess import ensure_task_identity  # noqa: E402
from backends.flower.records import iterate_to_record, record_to_iterate  # noqa: E402

pytestmark = pytest.mark.flower


def _train_message(settings, t=0, x=None, node=1001, **config_override):
    ensure_task_identity(1)
    problem = settings.build_problem()
    x = problem.initial_point() if x is None else x
    cfg = dict(settings.train_config(t, problem.num_objectives)) | config_override
    msg = Message(RecordDict({"arrays": iterate_to_record(x), "config": ConfigRecord(cfg)}), node, "train")
    msg.metadata.__dict__["_message_id"] = f"m{t}"
    return msg


def _context(**node_config):
    return Context(run_id=1, node_id=1001, node_config=node_config, state=RecordDict(), run_config={})


def test_client_runs_the_engines_local_update_for_its_partition():
    settings = make_settings(4)
    problem = settings.build_problem()
    a = settings.algorithm
    reply = app(_train_message(settings, t=2), _context(**{"partition-id": 3, "num-partitions": 4}))
    assert not reply.has_error()
    expected = local_update(problem, [3], problem.initial_point(), [client_rng(a.seed, 2, 3)], local_steps=a.local_steps,
                            lr=a.lr, beta=a.effective_beta, preference=a.preference_array(2))
    np.testing.assert_array_equal(record_to_iterate(reply.content["arrays"]), expected.y[0])
    metrics = reply.content["metrics"]
    assert metrics["partition-id"] == 3 and metrics["num-examples"] == pytest.approx(problem.client_weights[3])
    np.testing.assert_allclose(metrics["lambda-mean"], expected.mean_lambdas[0])


def test_state_counts_rounds_and_refuses_stale_rounds():
    settings = make_settings(2)
    ctx = _context(**{"partition-id": 0})
    firm_train(_train_message(settings, t=0), ctx)
    firm_train(_train_message(settings, t=3), ctx)
    state = ctx.state[STATE_KEY]
    assert state["rounds-trained"] == 2 and state["last-round-index"] == 3
    assert state["local-steps-total"] == 2 * settings.algorithm.local_steps
    with pytest.raises(ClientUpdateError, match="not newer"):
        firm_train(_train_message(settings, t=3), ctx)


@pytest.mark.parametrize("node_config", [{}, {"partition-id": 7}, {"partition-id": -1}, {"partition-id": "a"}])
def test_bad_partition_id_is_refused(node_config):
    settings = make_settings(4)
    with pytest.raises(ValueError, match="partition-id"):
        firm_train(_train_message(settings), _context(**node_config))


def test_string_partition_id_from_the_command_line_is_accepted():
    assert partition_id({"partition-id": "2"}, 4) == 2


@pytest.mark.parametrize("key, value, err", [("lr", "fast", TypeError), ("local-steps", True, TypeError)])
def test_bad_train_config_is_refused(key, value, err):
    settings = make_settings(2)
    with pytest.raises(err, match=key):
        firm_train(_train_message(settings, **{key: value}), _context(**{"partition-id": 0}))


def test_wrong_iterate_size_is_refused():
    settings = make_settings(2)
    with pytest.raises(ValueError, match="shape"):
        firm_train(_train_message(settings, x=np.zeros(3)), _context(**{"partition-id": 0}))


def test_query_reports_the_partition():
    ensure_task_identity(1)
    msg = Message(RecordDict(), 1001, "query")
    reply = app(msg, _context(**{"partition-id": 1}))
    assert reply.content["metrics"]["partition-id"] == 1
