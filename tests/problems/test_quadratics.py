"""HeterogeneousQuadratics: oracles, exact Pareto set, exact constants, reproducibility, validation."""

from __future__ import annotations

import numpy as np
import pytest

import firm_core as fc
from firm_core.problems import HeterogeneousQuadratics
from firm_core.problems.bound_checks import BoundViolation, empirical_constants, verify_upper_bounds
from tests.problems.helpers import assert_global_is_weighted_sum, assert_jacobians_match_fd

#: phi at an exact Pareto point is round-off only (gradients are O(1)).
STATIONARY_PHI_TOL = 1e-10
#: A random point is far from stationary on these instances.
NONSTATIONARY_PHI_MIN = 1e-3
#: Numerical distance to the Pareto set of a point on it (see firm_core.problems._set_distance).
ON_SET_DISTANCE_TOL = 1e-7

CASES = [
    dict(num_objectives=2, curvature="dense"),
    dict(num_objectives=3, curvature="dense"),
    dict(num_objectives=2, curvature="diagonal"),
    dict(num_objectives=3, curvature="identity"),
]


def make(**kw):
    base = dict(num_clients=6, dim=4, heterogeneity=0.7, seed=3)
    base.update(kw)
    return HeterogeneousQuadratics(**base)


@pytest.mark.parametrize("case", CASES)
def test_jacobians_match_finite_differences_and_global_is_weighted_sum(case):
    prob = make(**case)
    x = np.random.default_rng(0).normal(size=prob.dim)
    assert_jacobians_match_fd(prob, x)
    assert_global_is_weighted_sum(prob, x, rtol=1e-10)


def test_non_uniform_client_weights_enter_the_global_objective():
    w = np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1])
    prob = make(client_weights=w)
    x = np.ones(prob.dim)
    assert_global_is_weighted_sum(prob, x, rtol=1e-10)
    uniform = make()
    assert not np.allclose(prob.values(x), uniform.values(x))


@pytest.mark.parametrize("case", CASES)
def test_pareto_set_points_are_stationary_and_random_points_are_not(case):
    prob = make(**case)
    rng = np.random.default_rng(1)
    ws = rng.dirichlet(np.ones(prob.num_objectives), size=8)
    for w in ws:
        x = prob.pareto_set_point(w)
        assert fc.pareto_stationarity(prob.jacobian(x)) < STATIONARY_PHI_TOL
        # x(w) minimizes w^T F: the w-combination of the gradients vanishes
        np.testing.assert_allclose(w @ prob.jacobian(x), 0.0, atol=1e-10)
        assert prob.distance_to_pareto_set(x) < ON_SET_DISTANCE_TOL
    x_far = prob.pareto_set_point(ws[0]) + 5.0 * rng.normal(size=prob.dim)
    assert fc.pareto_stationarity(prob.jacobian(x_far)) > NONSTATIONARY_PHI_MIN
    assert prob.distance_to_pareto_set(x_far) > 0.1


def test_vertices_of_pareto_set_are_the_global_minimizers():
    prob = make(num_objectives=3)
    for m in range(3):
        e = np.eye(3)[m]
        np.testing.assert_allclose(prob.pareto_set_point(e), prob.global_minimizers()[m], atol=1e-12)
        np.testing.assert_allclose(prob.jacobian(prob.global_minimizers()[m])[m], 0.0, atol=1e-10)


def test_identity_curvature_pareto_set_is_convex_hull_of_centers():
    prob = make(num_objectives=3, curvature="identity")
    cbar = np.tensordot(prob.client_weights, prob.centers(), axes=1)  # (M, d)
    rng = np.random.default_rng(2)
    for w in rng.dirichlet(np.ones(3), size=5):
        np.testing.assert_allclose(prob.pareto_set_point(w), w @ cbar, atol=1e-12)
        # a point of the hull is at distance 0; a point pushed off the affine hull is at its offset
        assert prob.distance_to_pareto_set(w @ cbar) < ON_SET_DISTANCE_TOL
    basis, _ = np.linalg.qr((cbar[1:] - cbar[0]).T)  # (d, 2): directions inside the hull's plane
    normal = rng.normal(size=prob.dim)
    normal -= basis @ (basis.T @ normal)
    normal /= np.linalg.norm(normal)
    x = cbar.mean(axis=0) + 0.3 * normal
    assert prob.distance_to_pareto_set(x) == pytest.approx(0.3, abs=ON_SET_DISTANCE_TOL)


def test_distance_to_pareto_set_matches_brute_force_for_m2():
    prob = make(num_objectives=2, dim=3)
    rng = np.random.default_rng(4)
    t = np.linspace(0, 1, 200_001)
    curve = prob.pareto_set_points(np.stack([t, 1 - t], axis=1))
    for _ in range(3):
        x = prob.pareto_set_point([0.5, 0.5]) + rng.normal(size=3)
        brute = np.min(np.linalg.norm(curve - x, axis=1))
        # brute force on a grid of spacing 5e-6 in t is an upper bound within 1e-5 of the truth
        d = prob.distance_to_pareto_set(x)
        assert d <= brute + 1e-12
        assert d == pytest.approx(brute, abs=1e-5)


def test_m2_fast_pencil_path_equals_direct_solves():
    prob = make(num_objectives=2, dim=6)
    t = np.linspace(0, 1, 101)
    w = np.stack([t, 1 - t], axis=1)
    direct = np.linalg.solve(np.tensordot(w, prob.global_hessians(), axes=1), (w @ prob._b_glob)[..., None])[..., 0]
    np.testing.assert_allclose(prob._unchecked_points(w), direct, rtol=0, atol=1e-10)


def test_pareto_front_points_are_mutually_non_dominated_and_match_values():
    prob = make(num_objectives=2)
    front = prob.pareto_front(50)
    assert front.shape == (50, 2)
    order = np.argsort(front[:, 0])
    assert np.all(np.diff(front[order, 1]) <= 1e-12)  # f2 decreases as f1 increases
    front3 = make(num_objectives=3).pareto_front(30)
    assert front3.shape == (30, 3)


def test_smoothness_constants_are_exact_eigenvalues():
    prob = make(num_objectives=2)
    a = prob.hessians()
    ev = np.linalg.eigvalsh(a)
    const = prob.smoothness()
    assert const.L == pytest.approx(ev.max(), rel=1e-12)
    a_glob = prob.global_hessians()
    assert const.L_phi == pytest.approx(np.linalg.eigvalsh(a_glob.mean(axis=0)).max(), rel=1e-12)
    np.testing.assert_allclose(const.L_per_objective, np.linalg.eigvalsh(a_glob).max(axis=-1), rtol=1e-12)
    lo, hi = prob.curvature_range
    assert lo - 1e-12 <= prob.strong_convexity() and const.L <= hi + 1e-12


@pytest.mark.parametrize("case", CASES[:3])
def test_constants_are_valid_upper_bounds_on_the_ball(case):
    prob = make(**case)
    radius, center = 1.5, np.full(prob.dim, 0.3)
    emp = empirical_constants(prob, radius, center, num_points=150, seed=5)
    claimed = dict(L=prob.smoothness().L, C=prob.gradient_bound(radius, center),
                   zeta=prob.heterogeneity_bound(radius, center))
    verify_upper_bounds(claimed, emp)  # raises if any is violated
    # and the bounds are not vacuous: within a factor 3 of what is attained
    assert claimed["C"] < 3 * emp.C and claimed["zeta"] < 3 * emp.zeta and claimed["L"] < 3 * emp.L


def test_checker_rejects_too_small_constants():
    prob = make()
    radius, center = 1.5, np.zeros(prob.dim)
    emp = empirical_constants(prob, radius, center, num_points=150, seed=5)
    for key, value in dict(L=prob.smoothness().L, C=prob.gradient_bound(radius, center),
                           zeta=prob.heterogeneity_bound(radius, center)).items():
        with pytest.raises(BoundViolation, match=key):
            verify_upper_bounds({key: 0.5 * value}, emp)
        with pytest.raises(BoundViolation, match=key):  # NaN compares False: it must not pass as a bound
            verify_upper_bounds({key: float("nan")}, emp)
    with pytest.raises(ValueError, match="unknown constant 'G'"):
        verify_upper_bounds({"G": 1.0}, emp)


def test_heterogeneity_zero_gives_identical_clients_and_zero_zeta():
    prob = make(heterogeneity=0.0)
    assert prob.heterogeneity_bound(2.0, np.ones(prob.dim)) == pytest.approx(0.0, abs=1e-12)
    c = prob.centers()
    np.testing.assert_array_equal(c, np.broadcast_to(c[0], c.shape))


def test_inf_potential_is_the_minimum_of_the_scalarization():
    prob = make(num_objectives=3)
    p = np.array([0.2, 0.5, 0.3])
    inf = prob.inf_potential(p)
    x_star = prob.pareto_set_point(p)
    assert inf == pytest.approx(p @ prob.values(x_star), rel=1e-12)
    rng = np.random.default_rng(6)
    for _ in range(20):
        assert p @ prob.values(x_star + 0.1 * rng.normal(size=prob.dim)) > inf


def test_same_seed_same_problem_and_different_seed_differs():
    a, b, c = make(seed=11), make(seed=11), make(seed=12)
    np.testing.assert_array_equal(a.hessians(), b.hessians())
    np.testing.assert_array_equal(a.centers(), b.centers())
    np.testing.assert_array_equal(a.initial_point(), b.initial_point())
    assert not np.allclose(a.centers(), c.centers())


#: Monte-Carlo test of the injected noise: E||xi_row||^2 = sigma^2; with n samples of a chi^2_d/d
#: variable the mean has relative std sqrt(2/(d n)); NOISE_Z standard errors is the tolerance.
NOISE_SAMPLES = 4000
NOISE_Z = 5.0


def test_stochastic_oracle_noise_has_stated_second_moment():
    sigma = 0.7
    prob = make(noise_std=sigma)
    clients = np.arange(prob.num_clients)
    x = np.broadcast_to(np.ones(prob.dim), (prob.num_clients, prob.dim))
    full = prob.client_jacobians(clients, x)
    rngs = [np.random.default_rng(k) for k in range(prob.num_clients)]
    sq = []
    for _ in range(NOISE_SAMPLES // prob.num_clients):
        xi = prob.stochastic_jacobians(clients, x, rngs) - full
        sq.append(np.sum(xi**2, axis=-1).ravel())
    sq = np.concatenate(sq)
    n = sq.size
    se = sigma**2 * np.sqrt(2.0 / (prob.dim * n))
    assert abs(sq.mean() - sigma**2) < NOISE_Z * se
    # and the mean of the noise is zero
    assert abs(np.mean(xi)) < 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_clients=0), "num_clients"),
        (dict(heterogeneity=-1.0), "heterogeneity"),
        (dict(curvature_range=(2.0, 1.0)), "curvature_range"),
        (dict(curvature_range=(0.0, 1.0)), "curvature_range"),
        (dict(noise_std=float("nan")), "noise_std"),
        (dict(client_weights=[0.5, 0.5]), "client_weights"),
        (dict(client_weights=[0.5, 0.5, 0.5, -0.5, 0.0, 0.0]), "client_weights"),
        (dict(curvature="sparse"), "curvature"),
        (dict(x0=np.ones(3)), "x0"),
        (dict(seed=-1), "seed"),
        (dict(num_clients=100, num_objectives=3, dim=1000), "curvature"),
    ],
)
def test_bad_constructor_arguments_raise_named_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dim=2.5), "`dim` must be an integer, got 2.5 of type float"),
        (dict(num_clients="6"), "`num_clients` must be an integer, got '6' of type str"),
        (dict(heterogeneity="0.5"), "`heterogeneity` must be a real number"),
        (dict(curvature=3), "`curvature` must be a string"),
        (dict(curvature_range=1.0), "`curvature_range` must be a pair"),
        (dict(seed=1.5), "`seed` must be an integer"),
        (dict(client_weights=["a"] * 6), "`client_weights`"),
    ],
)
def test_wrongly_typed_constructor_arguments_raise_type_errors(kwargs, match):
    """One policy for the whole library: a wrong type is a TypeError, a wrong value a ValueError."""
    with pytest.raises(TypeError, match=match):
        make(**kwargs)


def test_bad_oracle_arguments_raise_named_errors():
    prob = make()
    with pytest.raises(ValueError, match="clients"):
        prob.client_values(np.array([0, 99]), np.zeros((2, prob.dim)))
    with pytest.raises(ValueError, match="`x`"):
        prob.client_jacobians(np.array([0, 1]), np.zeros((3, prob.dim)))
    with pytest.raises(ValueError, match="weights"):
        prob.pareto_set_point([0.7, 0.7])
    with pytest.raises(ValueError, match="radius"):
        prob.gradient_bound(-1.0)
