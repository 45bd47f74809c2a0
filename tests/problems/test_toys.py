"""VLMOP, Fonseca-Fleming and the CAGrad toy: oracles, analytic Pareto sets/fronts, federated tilts."""

from __future__ import annotations

import numpy as np
import pytest

import firm_core as fc
from firm_core.problems._set_distance import distance_to_parametric_set
from firm_core.problems.bound_checks import BoundViolation, empirical_constants, verify_upper_bounds
from firm_core.problems.toys import CAGradToy, FonsecaFleming, VLMOP
from tests.problems.helpers import assert_global_is_weighted_sum, assert_jacobians_match_fd

#: phi on the analytic Pareto set is round-off only.
STATIONARY_PHI_TOL = 1e-12
#: Numerical distance (firm_core.problems._set_distance) of a point of the set.
ON_SET_DISTANCE_TOL = 1e-7

MAKERS = {
    "vlmop": lambda **kw: VLMOP(**{"num_clients": 5, "dim": 4, **kw}),
    "fonseca_fleming": lambda **kw: FonsecaFleming(**{"num_clients": 5, "dim": 4, **kw}),
    "cagrad_toy": lambda **kw: CAGradToy(**{"num_clients": 5, **kw}),
}


def random_points(prob, rng, num):
    if isinstance(prob, CAGradToy):  # away from the kinks at x_2 = 0 and the log clamps
        x = rng.uniform(-10, 10, size=(num, 2))
        x[:, 1] = np.where(np.abs(x[:, 1]) < 0.1, 0.5, x[:, 1])
        return x
    return rng.normal(size=(num, prob.dim))


@pytest.mark.parametrize("name", MAKERS)
def test_jacobians_match_finite_differences_and_global_is_weighted_sum(name):
    prob = MAKERS[name](heterogeneity=0.8, seed=1)
    rng = np.random.default_rng(0)
    for x in random_points(prob, rng, 5):
        assert_jacobians_match_fd(prob, x)
        assert_global_is_weighted_sum(prob, x, rtol=1e-10)


@pytest.mark.parametrize("name", MAKERS)
def test_tilts_average_to_zero_and_heterogeneity_is_their_size(name):
    w = np.array([0.4, 0.3, 0.1, 0.1, 0.1])
    prob = MAKERS[name](heterogeneity=0.5, client_weights=w)
    np.testing.assert_allclose(np.tensordot(w, prob.tilts(), axes=1), 0.0, atol=1e-14)
    zeta = prob.gradient_heterogeneity()
    emp = empirical_constants(prob, 1.0, prob.initial_point(), num_points=20)
    assert emp.zeta == pytest.approx(zeta, rel=1e-9)  # constant in x: attained everywhere
    verify_upper_bounds({"zeta": zeta}, emp)
    with pytest.raises(BoundViolation, match="zeta"):
        verify_upper_bounds({"zeta": 0.9 * zeta}, emp)
    # the global problem does not depend on the heterogeneity
    x = random_points(prob, np.random.default_rng(2), 1)[0]
    iid = MAKERS[name](heterogeneity=0.0)
    np.testing.assert_allclose(prob.values(x), iid.values(x), rtol=1e-14)


@pytest.mark.parametrize("name", MAKERS)
def test_pareto_set_points_are_stationary_and_random_points_are_not(name):
    prob = MAKERS[name](heterogeneity=0.3)
    for w1 in np.linspace(0, 1, 11):
        x = prob.pareto_set_point([w1, 1 - w1])
        assert fc.pareto_stationarity(prob.jacobian(x)) < STATIONARY_PHI_TOL
        assert prob.distance_to_pareto_set(x) < ON_SET_DISTANCE_TOL
    off = np.zeros(prob.dim)
    off[0], off[-1] = -1.0, 1.0  # normal to the segment; mostly along x_2 for the CAGrad toy
    x = prob.pareto_set_point([0.5, 0.5]) + off
    assert fc.pareto_stationarity(prob.jacobian(x)) > 1e-4
    assert prob.distance_to_pareto_set(x) > 0.5


def test_vlmop_scalarization_minimizer_and_convex_front():
    prob = VLMOP(dim=6)
    for w1 in (0.0, 0.2, 0.7, 1.0):
        w = np.array([w1, 1 - w1])
        x = prob.pareto_set_point(w)
        np.testing.assert_allclose(w @ prob.jacobian(x), 0.0, atol=1e-14)  # minimizer of w^T F
    front = prob.pareto_front(101)
    np.testing.assert_allclose(np.sqrt(front[:, 0]) + np.sqrt(front[:, 1]), 1.0, atol=1e-12)


#: Fonseca-Fleming (centers +-1/sqrt(d) 1): inflection points of the front in t, and how close to an
#: end point every minimizer of a linear scalarization lies (measured on a 2e5-point grid).
FF_INFLECTIONS = (0.146445, 0.853555)
FF_SCALARIZATION_REACH = 0.0213


def test_fonseca_fleming_front_concave_middle_unreachable_by_linear_scalarization():
    prob = FonsecaFleming(dim=3)
    t = np.linspace(0, 1, 201)
    front = prob.pareto_front(201)
    np.testing.assert_allclose(front[:, 0], 1 - np.exp(-4 * (1 - t) ** 2), atol=1e-12)
    np.testing.assert_allclose(front[:, 1], 1 - np.exp(-4 * t**2), atol=1e-12)
    # concave between the inflection points: the front lies above its chord there (away from the origin)
    mid = (t >= FF_INFLECTIONS[0]) & (t <= FF_INFLECTIONS[1])
    f1, f2 = front[mid, 0], front[mid, 1]
    chord = f2[0] + (f2[-1] - f2[0]) * (f1 - f1[0]) / (f1[-1] - f1[0])
    assert np.all(f2[1:-1] > chord[1:-1])
    # a linear scalarization never picks a point of the middle of the set
    tt = np.linspace(0, 1, 200_001)
    dense = prob.pareto_front(200_001)
    for w1 in np.linspace(0.01, 0.99, 99):
        t_star = tt[np.argmin(dense @ np.array([w1, 1 - w1]))]
        assert min(t_star, 1 - t_star) <= FF_SCALARIZATION_REACH
    # ... while MGDA-type stationarity holds all along it
    for t_mid in (0.3, 0.5, 0.7):
        assert fc.pareto_stationarity(prob.jacobian(prob.pareto_set_point([t_mid, 1 - t_mid]))) < STATIONARY_PHI_TOL


def test_segment_distance_is_exact():
    prob = VLMOP(dim=3)
    a1 = np.ones(3) / np.sqrt(3)
    normal = np.array([1.0, -1.0, 0.0]) / np.sqrt(2)
    assert prob.distance_to_pareto_set(0.3 * a1 + 0.4 * normal) == pytest.approx(0.4, abs=1e-14)
    assert prob.distance_to_pareto_set(2 * a1) == pytest.approx(1.0, abs=1e-14)  # beyond the end a_1
    # the generic numerical distance agrees
    x = np.array([0.9, -0.2, 0.4])
    numeric, _ = distance_to_parametric_set(x, prob._set_points, 2)
    assert numeric == pytest.approx(prob.distance_to_pareto_set(x), abs=1e-9)


#: Grid points farther than this from the analytic CAGrad-toy set must be dominated by the set.
CAGRAD_COVER_DIST = 0.3
#: Slack in the dominance comparisons (objective values are O(20)).
CAGRAD_DOMINANCE_TOL = 1e-9


def _min_f2_with_f1_at_most(vals_sorted_f1, prefix_min_f2, f1):
    k = np.searchsorted(vals_sorted_f1, f1, side="right")
    return np.where(k > 0, prefix_min_f2[np.maximum(k - 1, 0)], np.inf)


def test_cagrad_toy_pareto_set_against_a_dense_grid():
    prob = CAGradToy(num_clients=1)
    g1, g2 = np.meshgrid(np.linspace(-10, 10, 801), np.linspace(-10, 10, 801), indexing="ij")
    grid = np.stack([g1.ravel(), g2.ravel()], 1)
    gv = prob._global_values(grid)
    w1 = np.linspace(0, 1, 20_001)
    set_x = prob.pareto_set_points(np.stack([w1, 1 - w1], 1))
    sv = prob._global_values(set_x)
    # (1) no grid point dominates a point of the analytic set
    o = np.argsort(gv[:, 0])
    best = _min_f2_with_f1_at_most(gv[o, 0], np.minimum.accumulate(gv[o, 1]), sv[:, 0] + CAGRAD_DOMINANCE_TOL)
    assert np.all(best > sv[:, 1] - CAGRAD_DOMINANCE_TOL)
    # (2) every grid point away from the set is dominated by a point of the set
    o = np.argsort(sv[:, 0])
    best = _min_f2_with_f1_at_most(sv[o, 0], np.minimum.accumulate(sv[o, 1]), gv[:, 0])
    dominated = best <= gv[:, 1]
    far = np.abs(grid[:, 0]) > 7.0 + CAGRAD_COVER_DIST
    band = ~far
    band[band] = np.abs(grid[band, 1] - prob.pareto_x2(19.6 * ((grid[band, 0] + 7) / 14) * (1 - (grid[band, 0] + 7) / 14))) > CAGRAD_COVER_DIST
    assert np.all(dominated[far | band])
    # the set spans x1 in [-7, 7] with x2 between -8.4345 (ends) and -8.3551 (middle)
    ends = prob.pareto_set_points(np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]))
    np.testing.assert_allclose(ends[:, 0], [-7.0, 0.0, 7.0], atol=1e-12)
    np.testing.assert_allclose(ends[:, 1], [-8.4345, -8.3551, -8.4345], atol=1e-4)


def test_cagrad_x2_is_the_global_minimizer_along_x2():
    s = np.array([0.0, 1.3, 4.9])
    x2 = CAGradToy.pareto_x2(s)
    grid = np.linspace(-30, -0.01, 300_001)
    h = np.tanh(-grid / 2)[None] * (s[:, None] + 0.01 * (grid + 8) ** 2 - 20)
    np.testing.assert_allclose(x2, grid[np.argmin(h, axis=1)], atol=2e-4)


@pytest.mark.parametrize("name", MAKERS)
def test_same_seed_same_problem(name):
    a, b, c = (MAKERS[name](heterogeneity=1.0, seed=s) for s in (4, 4, 5))
    np.testing.assert_array_equal(a.tilts(), b.tilts())
    np.testing.assert_array_equal(a.initial_point(), b.initial_point())
    assert not np.allclose(a.tilts(), c.tilts())


@pytest.mark.parametrize("name", MAKERS)
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_clients=0), "num_clients"),
        (dict(heterogeneity=-0.1), "heterogeneity"),
        (dict(noise_std=-1.0), "noise_std"),
        (dict(client_weights=[1.0]), "client_weights"),
        (dict(x0=np.zeros(7)), "x0"),
    ],
)
def test_bad_arguments_raise_named_errors(name, kwargs, match):
    with pytest.raises(ValueError, match=match):
        MAKERS[name](**kwargs)


def test_bad_dim_and_weights_raise_named_errors():
    with pytest.raises(ValueError, match="dim"):
        VLMOP(dim=0)
    with pytest.raises(ValueError, match="weights"):
        FonsecaFleming().pareto_set_point([0.2, 0.2])
    with pytest.raises(ValueError, match="num"):
        CAGradToy().pareto_front(1)


#: The staircase of n front points misses O(1/n) of the area under a smooth front.
HV_DISCRETIZATION_TOL = 1e-3


def test_vlmop_front_hypervolume_matches_the_analytic_area():
    from firm_core.pareto import hypervolume

    # region dominated within [0, 1.1]^2: everything but {f2 < (1 - sqrt f1)^2}, whose area is 1/6
    exact = 1.1**2 - 1.0 / 6.0
    coarse = hypervolume(VLMOP(dim=3).pareto_front(1000), [1.1, 1.1])
    fine = hypervolume(VLMOP(dim=3).pareto_front(4000), [1.1, 1.1])
    assert coarse < fine < exact  # a staircase under-estimates, and converges from below
    assert exact - coarse < HV_DISCRETIZATION_TOL
