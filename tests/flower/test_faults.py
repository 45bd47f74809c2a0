"""Faulty clients: one raises, one sends a wrong shape, one NaN, one float32, one never answers.
The run completes on the others and equals the aggregation over the good replies only."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.flower.helpers import EQUIVALENCE_ATOL, faulty_app, make_settings, run_inprocess

from firm_core.federated.client import client_rng, local_update  # noqa: E402
from firm_core.federated.faults import ClientDroppedWarning, RoundSkippedWarning  # noqa: E402
from firm_core.federated.server import aggregate  # noqa: E402

from backends.flower.validation import NO_REPLY_REASON  # noqa: E402

pytestmark = pytest.mark.flower

#: Seconds the server waits for a round's replies (the hanging client costs this per round).
FAULT_TIMEOUT = 1.0
FAULTS = {1: "raise", 2: "shape", 3: "nan", 4: "hang", 6: "float32"}
GOOD = [0, 5]


def expected_iterates(settings, good, rounds):
    """x_t when only the ``good`` clients' replies are averaged, computed with firm_core directly."""
    problem = settings.build_problem()
    a = settings.algorithm
    p = a.preference_array(problem.num_objectives)
    x = problem.initial_point()
    out = [x]
    for t in range(rounds):
        ys = [
            local_update(problem, [i], x, [client_rng(a.seed, t, i)], local_steps=a.local_steps, lr=a.lr,
                         beta=a.effective_beta, preference=p).y[0]
            for i in good
        ]
        x = aggregate(x, np.stack(ys), problem.client_weights[good], a.server_lr)
        out.append(x)
    return out


@pytest.fixture
def release():
    event = threading.Event()
    yield event
    event.set()  # lets the hanging client's thread finish


def test_run_completes_on_the_good_clients(release):
    rounds = 2
    settings = make_settings(7, rounds=rounds, timeout=FAULT_TIMEOUT)
    apps = {cid: faulty_app(kind, release) for cid, kind in FAULTS.items()}
    with pytest.warns(ClientDroppedWarning) as caught:
        flower_run, _ = run_inprocess(settings, apps)
    assert len(caught) == rounds * len(FAULTS)  # one warning per dropped client per round
    h = flower_run.history
    assert len(h) == rounds and not any(r.skipped for r in h.records)
    np.testing.assert_allclose(h.final_x, expected_iterates(settings, GOOD, rounds)[-1], rtol=0, atol=EQUIVALENCE_ATOL)
    d = settings.build_problem().dim
    for rec in h.records:
        reasons = {item["client"]: item["reason"] for item in rec.dropped}
        assert sorted(reasons) == sorted(FAULTS)
        assert "injected client failure" in reasons[1]
        assert "shape" in reasons[2] and "non-finite" in reasons[3] and "dtype" in reasons[6]
        assert reasons[4] == NO_REPLY_REASON
        assert rec.uplink_floats == len(GOOD) * d  # only accepted uploads count
        assert rec.downlink_floats == 7 * d
        assert rec.participants == tuple(range(7))


def test_every_client_failing_skips_rounds_and_keeps_x():
    settings = make_settings(3, rounds=2, timeout=30.0)
    app = faulty_app("raise")
    with pytest.warns(ClientDroppedWarning), pytest.warns(RoundSkippedWarning, match="no valid reply"):
        flower_run, _ = run_inprocess(settings, {i: app for i in range(3)})
    h = flower_run.history
    assert all(r.skipped and len(r.dropped) == 3 for r in h.records)
    np.testing.assert_array_equal(h.final_x, settings.build_problem().initial_point())


def test_non_finite_oracle_inside_the_client_is_an_error_reply(monkeypatch):
    """A client whose own oracle goes non-finite (the engine's fault) fails with the engine's reason."""
    from backends.flower import numpy_client

    settings = make_settings(3, rounds=1)
    problem = settings.build_problem()
    real = problem.stochastic_jacobians

    def broken(clients, x, rngs):
        jac = real(clients, x, rngs)
        jac[clients == 2] = np.nan
        return jac

    monkeypatch.setattr(problem, "stochastic_jacobians", broken)
    monkeypatch.setattr(numpy_client, "problem_from_json", lambda _spec: problem)
    with pytest.warns(ClientDroppedWarning, match="non-finite"):
        flower_run, _ = run_inprocess(settings)
    (rec,) = flower_run.history.records
    assert [d["client"] for d in rec.dropped] == [2]
    assert "non-finite stochastic Jacobian" in rec.dropped[0]["reason"]


def test_a_partition_without_node_is_dropped_not_waited_for():
    """Flower's own sampling waits forever for missing nodes; FIRM waits one timeout, then runs on
    the nodes it has and records the unserved partition."""
    from backends.flower.client_app import make_client_app
    from backends.flower.inprocess import InProcessGrid
    from backends.flower.server_app import run_strategy
    from backends.flower.strategy import NO_NODE_REASON

    settings = make_settings(4, rounds=2, timeout=0.5)
    nodes = InProcessGrid.make_nodes(make_client_app(), 4)[:3]  # partition 3 has no node
    with InProcessGrid(nodes) as grid, pytest.warns(ClientDroppedWarning, match=NO_NODE_REASON):
        flower_run = run_strategy(grid, settings)
    h = flower_run.history
    assert all(r.dropped == ({"client": 3, "reason": NO_NODE_REASON},) for r in h.records)
    np.testing.assert_allclose(h.final_x, expected_iterates(settings, [0, 1, 2], 2)[-1], rtol=0, atol=EQUIVALENCE_ATOL)
