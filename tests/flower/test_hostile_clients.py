"""A client cannot crash or steer the server: the server weights clients by its own record, checks
every reply metric's type and range and the partition a node answers for, and refuses a non-finite
average. Every problem here has UNEQUAL client weights, so a server that averaged with equal weights
(or with the weights the clients report) would give another iterate."""

from __future__ import annotations

import numpy as np
import pytest

from tests.flower.helpers import EQUIVALENCE_ATOL, firm_train, make_settings, run_inprocess
from tests.flower.test_strategy import _engine, assert_same_run

from firm_core.federated.client import client_rng, local_update  # noqa: E402
from firm_core.federated.faults import ClientDroppedWarning, RoundSkippedWarning  # noqa: E402
from flwr.app import Array, ArrayRecord, Message, MetricRecord, RecordDict  # noqa: E402

from backends.flower.aggregation import NOT_FINITE  # noqa: E402
from backends.flower.client_app import make_client_app  # noqa: E402
from backends.flower.protocol import (  # noqa: E402
    ARRAYS_KEY,
    CLIENT_ID_KEY,
    ITERATE_KEY,
    METRICS_KEY,
    SOLVER_STATUS_KEY,
    WEIGHT_KEY,
)

pytestmark = pytest.mark.flower

#: Unequal client weights (sum 1): client 0 weighs 4.5 times client 4.
WEIGHTS = [0.36, 0.24, 0.2, 0.12, 0.08]


def unequal_settings(rounds=2, **algorithm):
    return make_settings(5, rounds=rounds, problem_extra={"client_weights": WEIGHTS}, **algorithm)


def tampering_app(change):
    """FIRM's ClientApp whose reply passes through ``change(metrics: dict, y: ndarray) -> (metrics, y)``."""

    def train(message: Message, context) -> Message:
        reply = firm_train(message, context)
        metrics = dict(reply.content.metric_records[METRICS_KEY])
        y = reply.content.array_records[ARRAYS_KEY][ITERATE_KEY].numpy()
        metrics, y = change(metrics, y.copy())
        content = RecordDict({ARRAYS_KEY: ArrayRecord({ITERATE_KEY: Array(np.asarray(y))}),
                              METRICS_KEY: MetricRecord(metrics)})
        return Message(content, reply_to=message)

    return make_client_app(train)


def set_metric(key, value):
    def change(metrics, y):
        metrics[key] = value
        return metrics, y

    return change


def expected_final(settings, good, rounds, *, weights=None):
    """x_T when only the ``good`` clients are averaged with ``weights`` (default: the problem's own)."""
    problem = settings.build_problem()
    a = settings.algorithm
    w = np.asarray(problem.client_weights if weights is None else weights, dtype=np.float64)
    x = problem.initial_point()
    for t in range(rounds):
        ys = np.stack([local_update(problem, [i], x, [client_rng(a.seed, t, i)], local_steps=a.local_steps, lr=a.lr,
                                    beta=a.effective_beta, preference=a.preference_array(2)).y[0] for i in good])
        wg = w[good]
        x = x + a.server_lr * (wg / wg.sum()) @ (ys - x)
    return x


@pytest.mark.parametrize("algorithm", [{}, {"participation": 3, "server_lr": 0.7}], ids=["full", "partial"])
def test_unequal_client_weights_give_the_engines_iterates(algorithm):
    settings = unequal_settings(rounds=3, **algorithm)
    flower_run, _ = run_inprocess(settings)
    assert_same_run(flower_run.history, _engine(settings))
    if not algorithm:  # the instance tells the weightings apart: equal weights land elsewhere
        equal = expected_final(settings, list(range(5)), 3, weights=np.full(5, 0.2))
        assert np.max(np.abs(flower_run.history.final_x - equal)) > 1e3 * EQUIVALENCE_ATOL


@pytest.mark.parametrize("reported", [1e300, 1.7e308, 0.2], ids=["1e300", "max-float", "another-clients"])
def test_a_client_reporting_a_false_weight_is_dropped_and_does_not_steer(reported):
    """Clients 1 and 3 report ``reported`` as their num-examples (with 1.7e308 two of them would
    overflow a sum of reported weights): both are dropped, the others are averaged with the server's
    own weights."""
    settings = unequal_settings(rounds=2)
    liar = tampering_app(set_metric(WEIGHT_KEY, reported))
    with pytest.warns(ClientDroppedWarning, match="server's record"):
        flower_run, _ = run_inprocess(settings, {1: liar, 3: liar})
    h = flower_run.history
    assert all(not r.skipped and [d["client"] for d in r.dropped] == [1, 3] for r in h.records)
    np.testing.assert_allclose(h.final_x, expected_final(settings, [0, 2, 4], 2), rtol=0, atol=EQUIVALENCE_ATOL)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [2], 7, -1], ids=["nan", "inf", "list", "7", "-1"])
def test_a_bad_solver_severity_is_dropped_not_a_crash(value):
    settings = unequal_settings(rounds=2)
    with pytest.warns(ClientDroppedWarning, match=SOLVER_STATUS_KEY):
        flower_run, _ = run_inprocess(settings, {2: tampering_app(set_metric(SOLVER_STATUS_KEY, value))})
    h = flower_run.history
    assert all([d["client"] for d in r.dropped] == [2] for r in h.records)
    np.testing.assert_allclose(h.final_x, expected_final(settings, [0, 1, 3, 4], 2), rtol=0, atol=EQUIVALENCE_ATOL)
    assert all(r.solver_status == "converged" for r in h.records)


def test_a_reply_for_another_partition_is_dropped_and_the_honest_client_kept():
    """Client 1's node answers as partition 2 (with partition 2's weight): only client 1 is dropped;
    client 2, which answers honestly, stays in the average."""
    settings = unequal_settings(rounds=2)
    impostor = tampering_app(lambda m, y: ({**m, CLIENT_ID_KEY: 2, WEIGHT_KEY: WEIGHTS[2]}, y))
    with pytest.warns(ClientDroppedWarning, match="partition this node was sent"):
        flower_run, _ = run_inprocess(settings, {1: impostor})
    h = flower_run.history
    assert all([d["client"] for d in r.dropped] == [1] for r in h.records)
    np.testing.assert_allclose(h.final_x, expected_final(settings, [0, 2, 3, 4], 2), rtol=0, atol=EQUIVALENCE_ATOL)


def test_a_finite_but_huge_reply_cannot_overflow_the_iterate():
    """A reply of 1e300 everywhere is finite, so it passes the array checks; with eta_g = 1e10 the
    average overflows. The server refuses that average: every round is skipped, x stays finite (x_0)."""
    settings = unequal_settings(rounds=2, server_lr=1e10)
    huge = tampering_app(lambda m, y: (m, np.full_like(y, 1e300)))
    with pytest.warns(RoundSkippedWarning, match="not finite"):
        flower_run, _ = run_inprocess(settings, {0: huge})
    h = flower_run.history
    assert all(r.skipped and r.dropped == () for r in h.records)
    np.testing.assert_array_equal(h.final_x, settings.build_problem().initial_point())
    assert all(np.all(np.isfinite(x)) for x in flower_run.strategy.iterates)


def test_a_huge_server_step_skips_rounds_instead_of_stopping_the_server():
    """eta_g = 1e200 on honest clients: x_1 is huge but finite; from there every average overflows and
    is refused, and the run still finishes with a finite iterate and complete records."""
    settings = unequal_settings(rounds=3, server_lr=1e200)
    with pytest.warns(RoundSkippedWarning, match=NOT_FINITE.split("(")[0].strip()):
        flower_run, _ = run_inprocess(settings)
    h = flower_run.history
    assert len(h) == 3 and [r.round for r in h.records if r.skipped] == [1, 2]
    assert np.all(np.isfinite(h.final_x)) and np.max(np.abs(h.final_x)) > 1e100
