"""The optional parts of the ClientTask protocol (wire size, per-round training extras), the generators
FMGDA's clients get, and the server's memory per extra client: engine plumbing, on a small fake task."""

from __future__ import annotations

import csv
import tracemalloc

import numpy as np
import pytest

from firm_core.federated import AlgorithmConfig, History, RunConfig, aggregate, client_rngs, make_algorithm, run
from firm_core.federated.metrics import model_drift
from firm_core.federated.server import all_finite
from tests.federated._fake_task import ExtrasTask, FakeTask, WireTask

#: The server's peak memory per extra client of a FIRM round, in float64 copies of the upload: the
#: task's own row is unavoidable; anything above it is a server-side copy (before: 3 copies).
MAX_COPIES_PER_EXTRA_CLIENT = 1.25
#: aggregate against the (y - x) form: both are float64 sums of the same terms in another order.
SUMMATION_ORDER_ATOL = 1e-12


def test_records_count_bytes_with_the_tasks_wire_size():
    cfg = AlgorithmConfig(name="firm", local_steps=1, lr=0.1, beta=1.0)
    for task, size in ((WireTask(), 4), (FakeTask(), 8)):
        algo = make_algorithm(cfg)
        _, rec = algo.round(task, algo.init(task))
        assert rec.uplink_floats == 3 * task.dim and rec.downlink_floats == 3 * task.dim
        assert rec.uplink_bytes == size * rec.uplink_floats
        assert rec.downlink_bytes == size * rec.downlink_floats


@pytest.mark.parametrize("bad", [0, -4, 2.5, True, "4"])
def test_a_wrong_wire_size_is_rejected_naming_it(bad):
    task = FakeTask()
    task.bytes_per_float = bad
    algo = make_algorithm(AlgorithmConfig(name="firm", local_steps=1, lr=0.1))
    with pytest.raises(ValueError, match="bytes_per_float"):
        algo.round(task, algo.init(task))


def test_round_extras_reach_records_history_json_csv_and_checkpoints(tmp_path):
    task = ExtrasTask(num_clients=4)
    task.local_update([0, 1, 2], np.zeros(task.dim), None, local_steps=1, lr=0.1, beta=0.0, preference=None,
                      mode="firm")  # leftover client work before the run: not part of round 0
    cfg = AlgorithmConfig(name="firm", local_steps=1, lr=0.1, participation=2)
    hist = run(task, cfg, RunConfig(rounds=3, checkpoint_every=1), checkpoint_dir=tmp_path / "ck")
    calls = [r.extras["train_client_calls"] for r in hist.records]
    assert calls == [float(len(r.participants)) for r in hist.records]  # the leftover 3 calls are dropped
    assert all("eval_score" in r.extras for r in hist.records)  # the evaluation's extras are kept
    hist.to_json(tmp_path / "h.json")
    back = History.from_json(tmp_path / "h.json")
    assert [r.extras["train_client_calls"] for r in back.records] == calls
    hist.to_csv(tmp_path / "h.csv")
    with open(tmp_path / "h.csv") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["extra.train_client_calls"]) for r in rows] == calls
    resumed = run(task, cfg, RunConfig(rounds=4), resume_from=tmp_path / "ck")
    assert [r.extras["train_client_calls"] for r in resumed.records][:3] == calls
    assert resumed.records[3].extras["train_client_calls"] == len(resumed.records[3].participants)


def test_fmgda_round_extras_and_a_task_without_them():
    task = ExtrasTask(num_clients=3)
    algo = make_algorithm(AlgorithmConfig(name="fmgda", local_steps=1, lr=0.1))
    _, rec = algo.round(task, algo.init(task), evaluate=False)
    assert rec.extras == {"train_client_calls": 3.0}
    plain = FakeTask()
    _, rec = algo.round(plain, algo.init(plain), evaluate=False)
    assert rec.extras == {}


def test_round_extras_that_clash_or_are_not_a_dict_are_rejected():
    algo = make_algorithm(AlgorithmConfig(name="firm", local_steps=1, lr=0.1))
    clash = ExtrasTask()
    clash.pop_round_extras = lambda: {"eval_score": 1.0}
    with pytest.raises(ValueError, match="eval_score"):
        algo.round(clash, algo.init(clash))
    wrong = ExtrasTask()
    wrong.pop_round_extras = lambda: [("a", 1.0)]
    with pytest.raises(TypeError, match="pop_round_extras"):
        algo.round(wrong, algo.init(wrong))


@pytest.mark.parametrize("name", ["fmgda", "fsmgda"])
def test_per_objective_clients_always_get_their_generators(name):
    task = FakeTask(num_clients=4)
    algo = make_algorithm(AlgorithmConfig(name=name, local_steps=1, lr=0.1, participation=3, seed=7))
    state = algo.init(task)
    for t in range(2):
        state, out = algo.step(task, state)
        kind, rngs = task.calls[-1]
        assert kind == "per_objective_update" and rngs is not None
        want = client_rngs(7, t, out.participants)
        assert [r.bit_generator.state for r in rngs] == [r.bit_generator.state for r in want]


def _round_peak_bytes(n: int, d: int, row_dtype=np.float64) -> int:
    task = FakeTask(num_clients=n, dim=d, row_dtype=row_dtype)
    algo = make_algorithm(AlgorithmConfig(name="firm", local_steps=1, lr=0.1))
    state = algo.init(task)
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        algo.round(task, state, evaluate=False)
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_server_memory_per_extra_client_is_the_upload_alone(monkeypatch):
    """With blocks of one row (as for d >= 2**20 by default), extra clients add only their uploads."""
    d = 200_000
    monkeypatch.setattr("firm_core.federated.server.FINITE_CHECK_ENTRIES", d)
    monkeypatch.setattr("firm_core.federated.metrics.DRIFT_BLOCK_ENTRIES", d)
    per_client = (_round_peak_bytes(5, d) - _round_peak_bytes(2, d)) / 3
    assert per_client <= MAX_COPIES_PER_EXTRA_CLIENT * 8 * d, per_client / (8 * d)


def test_float32_rows_cost_one_float32_copy_per_extra_client(monkeypatch):
    """A task returning float32 rows (the LLM adapters): the server neither converts nor copies them."""
    d = 200_000
    monkeypatch.setattr("firm_core.federated.server.FINITE_CHECK_ENTRIES", d)
    monkeypatch.setattr("firm_core.federated.metrics.DRIFT_BLOCK_ENTRIES", d)
    per_client = (_round_peak_bytes(5, d, np.float32) - _round_peak_bytes(2, d, np.float32)) / 3
    assert per_client <= MAX_COPIES_PER_EXTRA_CLIENT * 4 * d, per_client / (4 * d)


def test_aggregate_of_float32_rows_is_the_float64_mean_of_their_values():
    rng = np.random.default_rng(4)
    x = rng.standard_normal(50)
    y32 = (x + rng.standard_normal((5, 50))).astype(np.float32)
    w = np.array([0.1, 0.5, 0.15, 0.2, 0.05])
    want = aggregate(x, y32.astype(np.float64), w, 0.7)
    got = aggregate(x, y32, w, 0.7)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=SUMMATION_ORDER_ATOL)
    # summing in float32 instead would be far outside the tolerance
    lossy = x + 0.7 * ((w.astype(np.float32) @ y32).astype(np.float64) - x)
    assert np.abs(lossy - want).max() > 1e3 * SUMMATION_ORDER_ATOL
    assert model_drift(y32, got) == pytest.approx(model_drift(y32.astype(np.float64), got), rel=1e-12)


def test_aggregate_matches_the_weighted_mean_of_the_moves():
    rng = np.random.default_rng(3)
    x, y = 5.0 + rng.standard_normal(6), 5.0 + rng.standard_normal((4, 6))
    w = np.array([0.1, 0.5, 0.15, 0.25])
    want = x + 0.7 * ((w / w.sum()) @ (y - x))
    np.testing.assert_allclose(aggregate(x, y, 3.0 * w, 0.7), want, rtol=0, atol=SUMMATION_ORDER_ATOL)
    # a wrong weighting (the uniform mean) is far outside the tolerance
    assert np.abs(x + 0.7 * (y.mean(axis=0) - x) - want).max() > 1e3 * SUMMATION_ORDER_ATOL


def test_all_finite_checks_every_block(monkeypatch):
    monkeypatch.setattr("firm_core.federated.server.FINITE_CHECK_ENTRIES", 8)
    a = np.zeros((10, 3))
    assert all_finite(a)
    a[9, 2] = np.inf  # in the last block only
    assert not all_finite(a)
    with pytest.raises(ValueError, match="non-finite"):
        aggregate(np.zeros(3), a, np.ones(10))
