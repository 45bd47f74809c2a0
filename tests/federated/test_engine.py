"""The engine: metrics per round, reproducibility, checkpoint / resume identity, faulty clients."""

import math
import warnings

import numpy as np
import pytest

from firm_core.federated import (
    ALGORITHMS,
    AlgorithmConfig,
    ClientDroppedWarning,
    History,
    RoundSkippedWarning,
    RunConfig,
    load_checkpoint,
    make_algorithm,
    run,
    run_many,
)
from tests.federated._problems import FaultyProblem, mgda_weight_m2, random_scalar_quadratic

#: Hand formulas vs the engine's metrics.
HAND_TOL = 1e-12


def _cfg(name, **kw):
    base = dict(name=name, local_steps=2, lr=0.05, participation=3, seed=11, sketch_rank=1)
    if name in ("firm", "fedcmoo"):
        base["beta"] = 0.5
    return AlgorithmConfig(**(base | kw))


def _records_equal(h1: History, h2: History):
    """Bit-for-bit equality of everything but wall time."""
    assert len(h1) == len(h2)
    for a, b in zip(h1.records, h2.records):
        da, db = a.to_dict(), b.to_dict()
        da.pop("wall_time"), db.pop("wall_time")
        for k in da:
            va, vb = np.asarray(da[k], dtype=object), np.asarray(db[k], dtype=object)
            if k in ("phi", "d_lambda", "d_x", "objectives", "lambda_mean"):
                np.testing.assert_array_equal(np.asarray(da[k], float), np.asarray(db[k], float), err_msg=k)
            else:
                assert da[k] == db[k], k
    assert h1.final_point == h2.final_point


def test_metrics_per_round_match_hand_computation():
    prob = random_scalar_quadratic(num_clients=4, num_objectives=2, dim=3, noise_std=0.2)
    cfg = _cfg("firm", participation=None)
    hist = run(prob, cfg, RunConfig(rounds=4), progress=False)
    algo = make_algorithm(cfg)
    state = algo.init(prob)
    for t in range(4):
        rec = hist.records[t]
        x = state.x
        jac = prob.jacobian(x)
        lam = mgda_weight_m2(jac[0], jac[1])
        assert math.isclose(rec.phi, float(np.sum((lam @ jac) ** 2)), rel_tol=0, abs_tol=HAND_TOL)
        np.testing.assert_allclose(rec.objectives, prob.values(x), rtol=0, atol=HAND_TOL)
        state, out = algo.step(prob, state)
        lams = out.client_lambdas
        assert math.isclose(rec.d_lambda, float(np.mean(np.sum((lams - lams.mean(0)) ** 2, axis=1))), abs_tol=HAND_TOL)
        assert math.isclose(rec.d_x, float(np.mean(np.sum((out.client_points - state.x) ** 2, axis=1))), abs_tol=HAND_TOL)
        assert rec.dist_pareto is None and rec.wall_time > 0
    np.testing.assert_array_equal(hist.final_x, state.x)
    assert hist.final_point["round"] == 4


@pytest.mark.parametrize("name", ALGORITHMS)
def test_same_seed_same_results_bit_for_bit(name):
    prob = random_scalar_quadratic(num_clients=5, num_objectives=3, dim=3, noise_std=0.3)
    h1 = run(prob, _cfg(name), RunConfig(rounds=5), progress=False)
    h2 = run(prob, _cfg(name), RunConfig(rounds=5), progress=False)
    _records_equal(h1, h2)
    h3 = run(prob, _cfg(name, seed=12), RunConfig(rounds=5), progress=False)
    assert not np.array_equal(h1.final_x, h3.final_x)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_resume_after_crash_is_identical_to_uninterrupted_run(name, tmp_path):
    base = random_scalar_quadratic(num_clients=5, num_objectives=3, dim=3, noise_std=0.3)
    full = run(base, _cfg(name), RunConfig(rounds=7), progress=False)
    crashing = FaultyProblem(base, {}, interrupt_after_calls=9)  # dies inside some round > 2
    with pytest.raises(KeyboardInterrupt):
        run(crashing, _cfg(name), RunConfig(rounds=7, checkpoint_every=2), progress=False, checkpoint_dir=tmp_path)
    state, partial = load_checkpoint(tmp_path)
    assert 2 <= state.round < 7 and state.round % 2 == 0
    resumed = run(base, _cfg(name), RunConfig(rounds=7), progress=False, resume_from=tmp_path)
    _records_equal(full, resumed)
    np.testing.assert_array_equal(full.final_x, resumed.final_x)


def test_resume_extends_a_finished_run(tmp_path):
    prob = random_scalar_quadratic(num_clients=4, num_objectives=2, dim=2, noise_std=0.1)
    full = run(prob, _cfg("firm"), RunConfig(rounds=6), progress=False)
    run(prob, _cfg("firm"), RunConfig(rounds=3), progress=False, checkpoint_dir=tmp_path)
    resumed = run(prob, _cfg("firm"), RunConfig(rounds=6), progress=False, resume_from=tmp_path)
    _records_equal(full, resumed)


def test_resume_refuses_another_config_or_problem(tmp_path):
    prob = random_scalar_quadratic(num_clients=4, num_objectives=2, dim=2)
    run(prob, _cfg("firm"), RunConfig(rounds=2), progress=False, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match=r"`beta` \(saved 0.5, given 0.9\)"):
        run(prob, _cfg("firm", beta=0.9), RunConfig(rounds=4), progress=False, resume_from=tmp_path)
    other = random_scalar_quadratic(num_clients=4, num_objectives=2, dim=2, seed=5)
    with pytest.raises(ValueError, match="another problem"):
        run(other, _cfg("firm"), RunConfig(rounds=4), progress=False, resume_from=tmp_path)
    with pytest.raises(ValueError, match="`run_config.rounds`"):
        run(prob, _cfg("firm"), RunConfig(rounds=1), progress=False, resume_from=tmp_path)
    with pytest.raises(ValueError, match="holds no"):
        run(prob, _cfg("firm"), RunConfig(rounds=4), progress=False, resume_from=tmp_path / "missing")


#: what a dropped client's reason says for each kind of fault
FAULT_REASON = {"nan": "non-finite", "shape": "shape", "raise": "raised RuntimeError: oracle failed for client 1"}


@pytest.mark.parametrize("name", ALGORITHMS)
@pytest.mark.parametrize("kind", ["nan", "shape", "raise"])
def test_faulty_client_dropped_with_reason_and_warning(name, kind):
    base = random_scalar_quadratic(num_clients=4, num_objectives=2, dim=3, noise_std=0.1)
    prob = FaultyProblem(base, {1: kind}, full_batch_faults=True)
    cfg = _cfg(name, participation=None)
    with pytest.warns(ClientDroppedWarning, match="client 1 dropped"):
        hist = run(prob, cfg, RunConfig(rounds=3), progress=False)
    for rec in hist.records:
        assert [d["client"] for d in rec.dropped] == [1]
        assert FAULT_REASON[kind] in rec.dropped[0]["reason"]
        assert not rec.skipped and rec.participants == (0, 1, 2, 3)
    assert np.all(np.isfinite(hist.final_x))
    # the round equals a round of the three healthy clients with renormalized weights
    algo = make_algorithm(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClientDroppedWarning)
        s_faulty, out_faulty = algo.step(prob, algo.init(prob))
    assert list(out_faulty.finished) == [0, 2, 3]
    if name not in ("fmgda", "fsmgda", "fedcmoo"):  # per-client updates: compare with a run without client 1
        healthy = random_scalar_quadratic(num_clients=4, num_objectives=2, dim=3, noise_std=0.1,
                                          weights=np.array([1 / 3, 0.0, 1 / 3, 1 / 3]))
        s_ref, _ = algo.step(healthy, algo.init(healthy))
        np.testing.assert_allclose(s_faulty.x, s_ref.x, rtol=0, atol=HAND_TOL)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_round_without_clients_is_skipped_and_run_goes_on(name):
    base = random_scalar_quadratic(num_clients=2, num_objectives=2, dim=2, noise_std=0.1)
    prob = FaultyProblem(base, {1: "nan"}, full_batch_faults=True)
    cfg = _cfg(name, participation=1, seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hist = run(prob, cfg, RunConfig(rounds=8), progress=False)
    skipped = hist.series("skipped")
    sampled_faulty = np.array([rec.participants == (1,) for rec in hist.records])
    assert sampled_faulty.any() and (~sampled_faulty).any()  # the seed gives both kinds of rounds
    np.testing.assert_array_equal(skipped, sampled_faulty)
    assert any(issubclass(w.category, RoundSkippedWarning) for w in caught)
    for t in np.flatnonzero(skipped):
        rec = hist.records[t]
        assert rec.uplink_floats == 0 and math.isnan(rec.d_x) and np.isnan(rec.lambda_mean).all()
        nxt = hist.records[t + 1].objectives if t + 1 < len(hist) else hist.final_point["objectives"]
        np.testing.assert_array_equal(nxt, rec.objectives)  # x did not move
    assert not np.array_equal(hist.final_x, base.initial_point())


@pytest.mark.parametrize("name", ALGORITHMS)
def test_zero_weight_finishers_skip_the_round(name):
    """Client 0 (all the weight) fails; client 1 (weight 0) finishes alone: nothing to average."""
    base = random_scalar_quadratic(num_clients=2, num_objectives=2, dim=2, weights=np.array([1.0, 0.0]))
    prob = FaultyProblem(base, {0: "nan"}, full_batch_faults=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hist = run(prob, _cfg(name, participation=None), RunConfig(rounds=3), progress=False)
    assert hist.series("skipped").all()
    np.testing.assert_array_equal(hist.final_x, base.initial_point())
    assert any("total weight is 0" in str(w.message) for w in caught)


def test_zero_weight_clients_are_never_sampled():
    prob = random_scalar_quadratic(num_clients=3, num_objectives=2, dim=2, weights=np.array([0.5, 0.0, 0.5]))
    hist = run(prob, _cfg("firm", participation=2, seed=3), RunConfig(rounds=20), progress=False)
    assert all(1 not in rec.participants for rec in hist.records)
    assert not hist.series("skipped").any()


def test_eval_every_and_distance_to_pareto_set():
    from firm_core.problems import HeterogeneousQuadratics

    prob = HeterogeneousQuadratics(num_clients=4, num_objectives=2, dim=3, heterogeneity=0.5, seed=0)
    hist = run(prob, AlgorithmConfig(name="firm", local_steps=2, lr=0.1), RunConfig(rounds=5, eval_every=2),
               progress=False)
    phi = hist.series("phi")
    assert np.isnan(phi[[1, 3]]).all() and np.isfinite(phi[[0, 2, 4]]).all()
    dist = hist.series("dist_pareto")
    assert np.isfinite(dist[[0, 2, 4]]).all()
    assert hist.final_point["dist_pareto"] < dist[0]


def test_run_validates_its_arguments():
    prob = random_scalar_quadratic(num_clients=2)
    with pytest.raises(TypeError, match="`algorithm_config`"):
        run(prob, {"name": "firm"}, RunConfig(rounds=1), progress=False)
    with pytest.raises(ValueError, match="`participation`"):
        run(prob, AlgorithmConfig(participation=5), RunConfig(rounds=1), progress=False)
    with pytest.raises(ValueError, match="`x0`"):
        run(prob, AlgorithmConfig(), RunConfig(rounds=1), x0=np.zeros(9), progress=False)


def test_run_many_shares_x0_and_rejects_duplicate_names():
    prob = random_scalar_quadratic(num_clients=3, num_objectives=2, dim=2)
    out = run_many(prob, [_cfg("firm"), _cfg("fedavg_ls")], RunConfig(rounds=2), progress=False)
    assert list(out) == ["FIRM (beta=0.5)", "FedAvg-LS"]
    np.testing.assert_array_equal(out["FIRM (beta=0.5)"].records[0].objectives, out["FedAvg-LS"].records[0].objectives)
    with pytest.raises(ValueError, match="duplicate display names"):
        run_many(prob, [_cfg("firm"), _cfg("firm", lr=0.1)], RunConfig(rounds=1), progress=False)


def test_history_of_a_run_round_trips(tmp_path):
    prob = random_scalar_quadratic(num_clients=3, num_objectives=2, dim=2, noise_std=0.1)
    hist = run(prob, _cfg("fmgda"), RunConfig(rounds=3), progress=False)
    hist.to_json(tmp_path / "h.json")
    back = History.from_json(tmp_path / "h.json")
    _records_equal(hist, back)
    assert back.metadata["config"]["name"] == "fmgda"
    hist.to_csv(tmp_path / "h.csv")
    np.testing.assert_array_equal(History.read_csv(tmp_path / "h.csv")["d_x"], hist.series("d_x"))


@pytest.mark.parametrize("kind, reason", [("inf", "non-finite stochastic Jacobian"),
                                          ("raise", "stochastic Jacobian at local step 0 raised RuntimeError")])
def test_fedcmoo_client_failing_after_its_sketch(kind, reason):
    base = random_scalar_quadratic(num_clients=4, num_objectives=2, dim=3, noise_std=0.1)
    prob = FaultyProblem(base, {2: kind}, faults_from_call=2)  # call 1 is round 0's sketch, then local steps
    algo = make_algorithm(_cfg("fedcmoo", participation=None, sketch_rank=1))
    with pytest.warns(ClientDroppedWarning, match=f"client 2 dropped: {reason}"):
        _, rec = algo.round(prob, algo.init(prob))
    m, d = 2, 3
    # four lambda phases (sketch, Gram, cross term, residual Gram), three models; official FedCMOO counts
    assert rec.uplink_floats == 4 * ((m + d) + 3 * m * m) + 3 * d
    assert rec.downlink_floats == 4 * (d + (m + d) + 1 + m)
    assert [x["client"] for x in rec.dropped] == [2] and not rec.skipped


def test_progress_hook_sees_every_round_and_the_app_draws_the_bar(capsys):
    from firm.progress import round_bar

    prob = random_scalar_quadratic(num_clients=2)
    seen = []
    run(prob, _cfg("firm", participation=None), RunConfig(rounds=3), progress=lambda rec, total: seen.append((rec.round, total)))
    assert seen == [(0, 3), (1, 3), (2, 3)]
    with round_bar("FIRM") as hook:
        run(prob, _cfg("firm", participation=None), RunConfig(rounds=3), progress=hook)
    assert "FIRM" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [True, "yes", 3])
def test_progress_must_be_a_hook(bad):
    prob = random_scalar_quadratic(num_clients=2)
    with pytest.raises(TypeError, match="progress"):
        run(prob, _cfg("firm", participation=None), RunConfig(rounds=1), progress=bad)


def test_benchmark_script_runs_quick():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_federated.py"
    spec = importlib.util.spec_from_file_location("bench_federated", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ratio = bench.main(["--quick", "--reps", "1"])
    assert np.isfinite(ratio) and ratio > 0


def test_zero_rounds_gives_empty_history_with_final_point():
    prob = random_scalar_quadratic(num_clients=2, num_objectives=2, dim=2)
    hist = run(prob, _cfg("firm", participation=None), RunConfig(rounds=0), progress=False)
    assert len(hist) == 0 and hist.series("objectives").shape == (0, 0) and hist.series("phi").shape == (0,)
    np.testing.assert_array_equal(hist.final_x, prob.initial_point())
    np.testing.assert_allclose(hist.final()["objectives"], prob.values(prob.initial_point()))


#: Deterministic runs on identical clients converge linearly to a Pareto-stationary fixed point (phi = 0
#: there); after CONVERGENCE_ROUNDS rounds phi and the distance to the Pareto set must be below these
#: (distance ~ sqrt(phi) / mu with mu = 0.5 the smallest curvature).
CONVERGENCE_ROUNDS = 300
CONVERGED_PHI = 1e-12
CONVERGED_DIST = 1e-5


@pytest.mark.parametrize("name", ALGORITHMS)
def test_every_algorithm_reaches_pareto_stationarity_on_identical_clients(name):
    from firm_core.problems import HeterogeneousQuadratics

    prob = HeterogeneousQuadratics(num_clients=3, num_objectives=3, dim=4, heterogeneity=0.0, seed=1)
    k = 1 if name in ("fmgda", "fsmgda") else 2
    cfg = AlgorithmConfig(name=name, local_steps=k, lr=0.4, beta=0.5 if name == "firm" else None, sketch_rank=1)
    hist = run(prob, cfg, RunConfig(rounds=CONVERGENCE_ROUNDS, eval_every=100), progress=False)
    assert hist.final_point["phi"] < CONVERGED_PHI < hist.series("phi")[0]
    assert hist.final_point["dist_pareto"] < CONVERGED_DIST < hist.series("dist_pareto")[0]


@pytest.mark.parametrize("name", ALGORITHMS)
def test_diverging_clients_are_dropped_not_fatal(name, tmp_path):
    """A step size that overflows every local iterate within the round: the problem's oracle (which
    refuses non-finite points) is never called at one; the clients are dropped, the round skipped,
    and the run, its checkpoint and its history stay intact."""
    from firm_core.problems import HeterogeneousQuadratics

    prob = HeterogeneousQuadratics(num_clients=3, num_objectives=2, dim=3, seed=0)
    cfg = AlgorithmConfig(name=name, local_steps=8, lr=1e60)
    with warnings.catch_warnings(record=True) as caught, np.errstate(over="ignore", invalid="ignore"):
        warnings.simplefilter("always")
        hist = run(prob, cfg, RunConfig(rounds=2), progress=False, checkpoint_dir=tmp_path)
    assert hist.series("skipped").all()
    for rec in hist.records:
        assert {(d["client"], d["reason"]) for d in rec.dropped} == {(i, "non-finite local iterate") for i in range(3)}
    assert any(issubclass(w.category, RoundSkippedWarning) for w in caught)
    np.testing.assert_array_equal(hist.final_x, prob.initial_point())
    state, saved = load_checkpoint(tmp_path)
    assert state.round == 2 and len(saved) == 2


@pytest.mark.parametrize("name", ALGORITHMS)
def test_single_objective_runs_as_fedavg(name):
    """M = 1: every algorithm is FedAvg on the one objective (lambda = 1); no client is dropped."""
    from firm_core.problems import HeterogeneousQuadratics

    prob = HeterogeneousQuadratics(num_clients=4, num_objectives=1, dim=5, heterogeneity=0.5, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClientDroppedWarning)
        hist = run(prob, _cfg(name), RunConfig(rounds=5), progress=False)
        ref = run(prob, _cfg("fedavg_ls"), RunConfig(rounds=5), progress=False)
    assert not any(r.dropped for r in hist.records)
    np.testing.assert_allclose(hist.final_x, ref.final_x, rtol=0, atol=HAND_TOL)
