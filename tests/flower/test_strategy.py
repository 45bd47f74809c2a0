"""FirmStrategy on the in-process grid: same iterates and records as the in-memory engine, honest
communication accounting, zero-weight guard, inputs never mutated."""

from __future__ import annotations

import numpy as np
import pytest

from tests.flower.helpers import EQUIVALENCE_ATOL, make_settings, run_inprocess

from firm_core.federated.algorithms import make_algorithm  # noqa: E402
from firm_core.federated.config import RunConfig  # noqa: E402
from firm_core.federated.engine import run as engine_run  # noqa: E402
from firm_core.federated.faults import RoundSkippedWarning  # noqa: E402
from flwr.app import ConfigRecord, Message, MetricRecord, RecordDict  # noqa: E402

from backends.flower.client_app import make_client_app  # noqa: E402
from backends.flower.inprocess import InProcessGrid  # noqa: E402
from backends.flower.numpy_client import train as firm_train  # noqa: E402
from backends.flower.protocol import METRICS_KEY, WEIGHT_KEY  # noqa: E402
from backends.flower.records import iterate_to_record, message_traffic  # noqa: E402
from backends.flower.strategy import FirmStrategy  # noqa: E402

pytestmark = pytest.mark.flower


def _engine(settings):
    return engine_run(settings.build_problem(), settings.algorithm, RunConfig(rounds=settings.rounds), progress=False)


def assert_same_run(flower, engine):
    assert len(flower.records) == len(engine.records)
    np.testing.assert_allclose(flower.final_x, engine.final_x, rtol=0, atol=EQUIVALENCE_ATOL)
    for a, b in zip(flower.records, engine.records, strict=True):
        assert a.round == b.round and a.participants == b.participants and a.skipped == b.skipped
        np.testing.assert_allclose([a.phi, a.d_lambda, a.d_x], [b.phi, b.d_lambda, b.d_x], rtol=1e-10, atol=EQUIVALENCE_ATOL)
        np.testing.assert_allclose(a.objectives, b.objectives, rtol=0, atol=EQUIVALENCE_ATOL)
        np.testing.assert_allclose(a.lambda_mean, b.lambda_mean, rtol=0, atol=EQUIVALENCE_ATOL)
        assert (a.uplink_floats, a.downlink_floats, a.uplink_bytes, a.downlink_bytes) == (
            b.uplink_floats, b.downlink_floats, b.uplink_bytes, b.downlink_bytes)
        assert a.solver_status == b.solver_status and a.dropped == b.dropped


@pytest.mark.parametrize(
    "algorithm",
    [
        {"name": "firm", "beta": 1.0},
        {"name": "firm", "beta": 0.1, "participation": 3, "server_lr": 0.7},
        {"name": "local_mgda", "beta": 0.0},
        {"name": "fedavg_ls", "beta": None, "preference": (0.3, 0.7)},
    ],
    ids=["firm", "firm-partial", "local-mgda", "fedavg-ls"],
)
def test_flower_run_equals_engine(algorithm):
    settings = make_settings(5, rounds=4, **algorithm)
    flower_run, _ = run_inprocess(settings)
    assert_same_run(flower_run.history, _engine(settings))
    # every iterate x_0 .. x_T, against the engine's algorithm stepped round by round
    problem = settings.build_problem()
    algo = make_algorithm(settings.algorithm)
    state = algo.init(problem)
    engine_iterates = [state.x]
    for _ in range(settings.rounds):
        state, _out = algo.step(problem, state)
        engine_iterates.append(state.x)
    np.testing.assert_allclose(np.stack(flower_run.strategy.iterates), np.stack(engine_iterates), rtol=0, atol=EQUIVALENCE_ATOL)
    assert flower_run.history.final()["phi"] < flower_run.history.records[0].phi  # and it made progress


def test_communication_is_measured_from_the_serialized_messages():
    settings = make_settings(4, rounds=2)
    flower_run, grid = run_inprocess(settings)
    d = settings.build_problem().dim
    train_sent = [m for m in grid.sent_log if m.metadata.message_type == "train"]
    train_replies = [m for m in grid.reply_log if m.metadata.message_type == "train"]
    assert len(train_sent) == len(train_replies) == 8
    for rec in flower_run.history.records:
        assert rec.uplink_floats == rec.downlink_floats == 4 * d
        assert rec.uplink_bytes == 8 * rec.uplink_floats
    # total uplink / downlink payload equals what the grid actually carried
    up = sum(message_traffic(m).payload_bytes for m in train_replies)
    down = sum(message_traffic(m).payload_bytes for m in train_sent)
    assert up == sum(r.uplink_bytes for r in flower_run.history.records)
    assert down == sum(r.downlink_bytes for r in flower_run.history.records)
    # wire counters: every byte of the serialized train messages (payload + Flower framing)
    s = flower_run.strategy
    assert s.wire_uplink_bytes == sum(message_traffic(m).wire_bytes for m in train_replies)
    assert s.wire_downlink_bytes == sum(message_traffic(m).wire_bytes for m in train_sent)
    assert s.wire_uplink_bytes > up and s.wire_downlink_bytes > down


def test_zero_total_weight_skips_the_round_without_dividing():
    """The server's own weights w = (0, 0, 1): when client 2 fails, the accepted clients weigh 0 in
    total, so the round is skipped (no division by 0) and x stays x_0."""
    from tests.flower.helpers import faulty_app

    settings = make_settings(3, rounds=2, problem_extra={"client_weights": [0.0, 0.0, 1.0]})
    with pytest.warns(RoundSkippedWarning, match="total weight is 0"):
        flower_run, _ = run_inprocess(settings, {2: faulty_app("raise")})
    h = flower_run.history
    x0 = settings.build_problem().initial_point()
    assert all(r.skipped and [d["client"] for d in r.dropped] == [2] for r in h.records)
    np.testing.assert_array_equal(h.final_x, x0)
    assert np.all(np.isnan(h.series("lambda_mean")))
    assert np.all(np.isfinite(h.series("d_lambda")))  # the two finished clients are still described, as in the engine


def test_strategy_never_mutates_its_inputs():
    settings = make_settings(3, rounds=1)
    strategy = FirmStrategy(settings)
    arrays = strategy.initial_arrays()
    config = ConfigRecord({"clipping_norm": 2.5})
    arrays_id, config_id = arrays.object_id, config.object_id
    with InProcessGrid(InProcessGrid.make_nodes(make_client_app(), 3)) as grid:
        strategy.evaluate_global(0, arrays)
        messages = list(strategy.configure_train(1, arrays, config, grid))
        assert arrays.object_id == arrays_id and config.object_id == config_id and dict(config) == {"clipping_norm": 2.5}
        # the wrapper's key is forwarded, FIRM's keys are added to a new record
        assert all(m.content["config"]["clipping_norm"] == 2.5 for m in messages)
        replies = list(grid.send_and_receive(messages, timeout=30))
    ids = [r.content.object_id for r in replies]
    agg, metrics = strategy.aggregate_train(1, replies)
    assert [r.content.object_id for r in replies] == ids
    assert agg is not None and metrics["num-accepted"] == 3
    assert agg.object_id != arrays_id


def test_strategy_rejects_aggregate_without_configure():
    strategy = FirmStrategy(make_settings(3, rounds=1))
    with pytest.raises(RuntimeError, match="without a matching configure_train"):
        strategy.aggregate_train(1, [])


def test_initial_arrays_rejects_wrong_x0():
    strategy = FirmStrategy(make_settings(3, rounds=1))
    with pytest.raises(ValueError, match="`x0`"):
        strategy.initial_arrays(np.zeros(2))
    np.testing.assert_array_equal(iterate_to_record(np.ones(5))["x"].numpy(), strategy.initial_arrays(np.ones(5))["x"].numpy())


def test_make_server_app_runs_given_settings_without_run_config():
    """The ServerApp built for run_simulation (which passes an empty run config) uses its settings."""
    from flwr.app import Context

    from backends.flower.server_app import make_server_app

    settings = make_settings(3, rounds=2)
    done = []
    server_app = make_server_app(settings, on_done=done.append)
    with InProcessGrid(InProcessGrid.make_nodes(make_client_app(), 3)) as grid:
        server_app(grid, Context(run_id=1, node_id=1, node_config={}, state=RecordDict(), run_config={}))
    (run,) = done
    assert_same_run(run.history, _engine(settings))
