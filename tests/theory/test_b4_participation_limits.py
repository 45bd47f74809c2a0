"""B4 (client-descent bound), partial participation, expectation checks, where FIRM ends, informativeness."""

import math

import numpy as np
import pytest
from firm_core import theory as th
from scipy import stats

from theory_checks import cells as cl
from theory_checks.cells import CellSpec, run_cell
from theory_checks.problem_constants import make_quadratics, measured_heterogeneity_rms, problem_constants
from theory_checks.trace import run_traced, sample_round

W = (0.55, 0.25, 0.15, 0.05)


def consts(**kw):
    base = dict(L=2.0, L_phi=1.5, C=6.0, zeta=0.5, sigma=0.0, M=2, beta=10.0, eta=0.2, eta_g=1.0, K=1, T=300, delta=20.0)
    base.update(kw)
    return th.BoundConstants(**base)


def test_b4_hand_value_one_step_no_noise():
    """K = 1, sigma = 0, full participation, route Y at theta = 1: (1/c0 + zeta_f^2 / beta)(Delta/(gamma T) + zeta_p^2 / 4)."""
    c = consts(zeta_p=0.4, zeta_f=0.3, beta=1.0)
    c0 = 1 - 1.5 * 0.2 / 2
    hand = (1 / c0 + 0.3**2 / 1.0) * (20 / (0.2 * 300) + 0.4**2 / 4)
    b4 = th.bound_b4(c)
    assert b4.value <= hand * (1 + 1e-12)
    assert b4.route == "Y" and b4.value == pytest.approx(hand, rel=1e-12)  # route R pays M C^2 / beta = 72 here
    # defaults: zeta_p = zeta, zeta_f = sqrt(M) zeta
    d = consts(beta=1.0)
    assert d.zeta_p == 0.5 and d.zeta_f == pytest.approx(math.sqrt(2) * 0.5)


def test_b4_route_r_falls_like_one_over_beta_and_is_monotone():
    floors = [th.bound_b4(consts(beta=b, T=10**12)).value for b in (1e3, 1e4, 1e5, 1e6)]
    assert all(b <= a for a, b in zip(floors, floors[1:]))
    assert floors[-1] < 1e-2 * floors[0]  # no zeta^2 floor as beta grows (route R)
    vals = [th.bound_b4(consts(beta=b, K=4, eta=0.05, sigma=0.2)).value for b in (0.0, 0.1, 10.0, 1e3)]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(vals, vals[1:]))


def test_b4_partial_participation_costs_something_and_validation():
    full = th.bound_b4(consts(K=3, eta=0.05)).value
    part = th.bound_b4(consts(K=3, eta=0.05, participation=2)).value
    assert part >= full
    assert th.federated_terms(consts(participation=4)).eps_s == pytest.approx(0.5 / 2)
    with pytest.raises(ValueError, match="`participation`"):
        consts(participation=0)
    with pytest.raises(ValueError, match="`zeta_p`"):
        consts(zeta_p=-1.0)
    with pytest.raises(TypeError, match="`consts`"):
        th.bound_b4({"L": 1.0})


@pytest.mark.parametrize("N,K,participation,weights", [(4, 1, None, W), (4, 3, None, None), (3, 2, None, (0.6, 0.3, 0.1))])
def test_b4_holds_on_deterministic_runs_with_apriori_constants(N, K, participation, weights):
    pr = make_quadratics(num_clients=N, num_objectives=2, dim=5, heterogeneity=0.4, sigma=0.0, seed=3, x0_distance=2.0,
                         client_weights=weights)
    c = problem_constants(pr)
    eta = 0.4 / (c.L_phi * K)
    tr = run_traced(pr, beta=5.0, eta=eta, eta_g=1.0, local_steps=K, rounds=40, participation=participation)
    zp, zf = measured_heterogeneity_rms([tr])
    assert zp <= c.zeta_p and zf <= c.zeta_f  # the a-priori RMS heterogeneities are upper bounds
    bc = th.BoundConstants(L=c.L, L_phi=c.L_phi, C=c.C, zeta=c.zeta, sigma=0.0, M=2, beta=5.0, eta=eta, eta_g=1.0, K=K,
                           T=40, delta=c.delta, zeta_p=c.zeta_p, zeta_f=c.zeta_f)
    assert tr.phi[:-1].mean() <= th.bound_b4(bc).value


def test_sampling_is_the_unbiased_scheme():
    w = np.array(W)
    ids, a = sample_round(7, 3, w, None)
    np.testing.assert_array_equal(ids, np.arange(4))
    np.testing.assert_allclose(a, w / w.sum())
    ids, a = sample_round(7, 3, w, 4)  # S >= N: everybody
    assert ids.size == 4
    # the formula, literally
    draws = np.random.default_rng([7, 3, 0, 1]).choice(4, size=2, replace=True, p=w / w.sum())
    u, cnt = np.unique(draws, return_counts=True)
    ids, a = sample_round(7, 3, w, 2)
    np.testing.assert_array_equal(ids, u)
    np.testing.assert_allclose(a, cnt / 2)
    # unbiased: the mean aggregation weight of each client over many rounds is w_i (without replacement it is not)
    acc = np.zeros(4)
    rounds = 4000
    for t in range(rounds):
        ids, a = sample_round(0, t, w, 2)
        acc[ids] += a
    np.testing.assert_allclose(acc / rounds, w, atol=4 * np.sqrt(0.25 / (2 * rounds)))
    biased = np.zeros(4)
    rng = np.random.default_rng(0)
    for _ in range(rounds):
        biased[rng.choice(4, size=2, replace=False, p=w)] += 0.5  # equal weights over a without-replacement draw
    assert np.max(np.abs(biased / rounds - w)) > 0.05


def test_partial_participation_trace_aggregates_only_the_drawn_clients():
    pr = make_quadratics(num_clients=4, num_objectives=2, dim=5, heterogeneity=0.4, sigma=0.0, seed=3, x0_distance=2.0, client_weights=W)
    tr = run_traced(pr, beta=5.0, eta=0.05, eta_g=1.0, local_steps=2, rounds=6, participation=2, seed=11)
    for t in range(6):
        ids, a = sample_round(11, t, np.array(W), 2)
        want = tr.x[t] + a @ (tr.y_final[t, ids] - tr.x[t])
        np.testing.assert_allclose(tr.x[t + 1], want, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(tr.round_weights[t, ids], a)


def test_upper_confidence_and_mean_bound_semantics():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    want = 2.5 + stats.t.ppf(0.99, 3) * np.std(x, ddof=1) / 2
    assert cl.upper_confidence(x) == pytest.approx(want)
    assert cl.check_mean_bound("m", x, want * 1.001).ok
    assert not cl.check_mean_bound("m", x, 2.6).ok  # above the mean, below the upper end: not enough


def test_non_uniform_and_partial_cells_pass_and_classify():
    res = run_cell(CellSpec("w", N=4, K=1, beta=1e4, heterogeneity=0.5, gamma_rel=0.5, weights=W, participation=2,
                            x0_distance=3.0, T=6, seeds=5))
    assert res.ok, [c.line() for c in res.checks if not c.ok]
    assert any(c.name.startswith("a-posteriori bound per run") for c in res.checks)
    from theory_checks.report import classify

    assert classify(res) != "certificate"  # sampled: (A2) verified on the sampled paths only
    loose = run_cell(CellSpec("l", N=4, K=3, beta=10.0, heterogeneity=2.0, gamma_rel=0.5, x0_distance=3.0, T=10))
    assert loose.ok and not loose.informative() and classify(loose) == "holds, not informative"


def test_limit_bounds_hand_values():
    assert th.drift_factor(2.0, 0.1, 1) == 0.0
    assert th.drift_factor(2.0, 0.1, 3) == pytest.approx(((1.2 - 1) + (1.44 - 1)) / 3)
    rho = th.drift_factor(2.0, 0.1, 3)
    assert th.fixed_point_gradient_bound(2, 3.0, 0.5, 2.0, 0.1, 3, 100.0) == pytest.approx((rho * 0.5 + 2 * 27 / 100) / (1 - rho))
    assert th.fixed_point_floor(0.5, 2.0, 0.1, 1) == 0.0
    assert th.fixed_point_gradient_bound(2, 3.0, 0.5, 2.0, 0.1, 3, 0.0) == math.inf
    b = th.single_client_limit_bounds(10.0, 0.5, 1.0, 0.5, 2, 3.0, 100.0, 20)
    kappa = 1 / 0.75 + 2 * 9 / 100
    gap = 10 * min((1 - 0.5 / kappa) ** 20, kappa / (0.5 * 20))
    assert b["potential_gap"] == pytest.approx(gap)
    assert b["distance"] == pytest.approx(math.sqrt(2 * gap / 0.5))
    assert b["weights"] == pytest.approx(b["distance"] / (2 * 10))
    with pytest.raises(ValueError, match="`gamma`"):
        th.single_client_limit_bounds(1.0, 3.0, 1.0, 0.5, 2, 1.0, 1.0, 5)


def test_where_firm_ends_one_client_and_fixed_points():
    from theory_checks.limits import fixed_point_offsets, single_client_limit

    one = single_client_limit((5, 10, 20))
    assert one.ok, [c.line() for c in one.checks if not c.ok]
    fp = fixed_point_offsets((1e4, 1e5), (1, 3))
    assert fp.ok, [c.line() for c in fp.checks if not c.ok]
    k1 = [r["grad"] for r in fp.rows if r["K"] == 1]
    assert k1[1] < 0.2 * k1[0]  # K = 1: the offset keeps falling like 1/beta
    assert fp.notes["floor_homogeneous"] < 1e-6 * fp.notes["floor_K"]  # the K > 1 floor is heterogeneity's


def test_lemma2_direction_checker_at_beta_zero():
    """At beta = 0, lambda need not be unique: two weight vectors far apart with the same direction G lambda pass,
    a different direction fails."""
    from theory_checks.checks import check_direction_distance

    same = np.array([[1.0, 2.0, 0.0], [1.0, 2.0, 0.0]])  # identical objectives: every lambda gives the same d
    la, lb = np.array([0.1, 0.9]), np.array([0.9, 0.1])
    assert np.linalg.norm(la - lb) > 1.0
    assert check_direction_distance("d", same, la, lb, 0.0).ok
    other = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert not check_direction_distance("d", other, la, lb, 0.0).ok
    assert check_direction_distance("d", other, la, lb, 1.2).ok  # ||G (la - lb)|| = 0.8 sqrt 2 < 1.2
