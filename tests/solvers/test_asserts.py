"""Every assertion helper rejects a wrong input: a checker that cannot fail is worth nothing.

Each test feeds a helper a correct answer (it must pass) and a deliberately wrong one (a perturbed
lambda, a wrong bound, a false claim, a lying status) that it must reject.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import firm_core as fc
from firm_core.tolerances import EXACT_KKT_TOL
from firm_core.testing import asserts, samplers
from tests.solvers.methods import SPEC_BY_NAME, check_answer

rng_seed = 1234


@pytest.fixture
def problem():
    """An instance with a unique, interior-ish solution (beta > 0) and its exact answer."""
    rng = np.random.default_rng(rng_seed)
    jac = rng.standard_normal((4, 3))
    q, beta, p = jac @ jac.T, 0.3, np.array([0.1, 0.2, 0.3, 0.4])
    res = fc.solve_min_norm(jac, beta=beta, preference=p, method="active_set")
    return jac, q, beta, p, res


@pytest.fixture
def claims_trusted(monkeypatch):
    """Switch off the claimed-gap check, so a rejection can only come from the property itself."""

    def trusted(q, lam, beta, p, gap):
        asserts.assert_on_simplex(lam)
        return asserts.certificate(q, lam, beta, p)

    monkeypatch.setattr(asserts, "assert_claim", trusted)


def perturbed(lam, eps=1e-3):
    """Move along a feasible direction inside the simplex (stays feasible, loses optimality)."""
    d = np.zeros_like(lam)
    i, j = int(np.argmax(lam)), int(np.argmin(lam))
    d[i], d[j] = -eps, eps
    return lam + d


def test_bisection_projection_matches_firm_core_and_definition():
    rng = np.random.default_rng(0)
    v = 3 * rng.standard_normal((200, 5))
    x = asserts.project_simplex_bisection(v)
    asserts.assert_on_simplex(x)
    assert np.allclose(x, fc.project_simplex(v), atol=1e-14)
    # optimality: <v - x, y - x> <= 0 for simplex points y
    y = rng.dirichlet(np.ones(5), size=200)
    assert np.all(np.einsum("bi,bi->b", v - x, y - x) <= 1e-12)


def test_assert_on_simplex_rejects():
    asserts.assert_on_simplex(np.array([0.25, 0.75]))
    for bad in ([0.5, 0.6], [-1e-6, 1 + 1e-6], [np.nan, 1.0]):
        with pytest.raises(AssertionError):
            asserts.assert_on_simplex(np.array(bad))


def test_assert_kkt_rejects_perturbed_lambda(problem):
    _, q, beta, p, res = problem
    asserts.assert_kkt(q, res.weights, beta, p, EXACT_KKT_TOL)
    with pytest.raises(AssertionError, match="KKT residual"):
        asserts.assert_kkt(q, perturbed(res.weights), beta, p, EXACT_KKT_TOL)
    # the wrong preference makes a correct-looking lambda non-stationary
    with pytest.raises(AssertionError):
        asserts.assert_kkt(q, res.weights, beta, np.full(4, 0.25), EXACT_KKT_TOL)


def test_assert_kkt_rejects_slackness_violation():
    """Stationary on the support but a weight on a coordinate with a larger gradient."""
    q = np.diag([1.0, 4.0])  # optimum (0.8, 0.2); l = (0.5, 0.5) has g = (0.5, 2)
    with pytest.raises(AssertionError):
        asserts.assert_kkt(q, np.array([0.5, 0.5]), 0.0, np.full(2, 0.5), 1e-6)
    asserts.assert_kkt(q, np.array([0.8, 0.2]), 0.0, np.full(2, 0.5), 1e-14)


def test_assert_claim_rejects_understated_gap(problem):
    _, q, beta, p, res = problem
    lam = perturbed(res.weights)
    true_gap = asserts.certificate(q, lam, beta, p).gap
    asserts.assert_claim(q, lam, beta, p, true_gap)
    with pytest.raises(AssertionError, match="exceeds the claimed"):
        asserts.assert_claim(q, lam, beta, p, 0.1 * true_gap)


def test_assert_result_consistent_rejects_wrong_fields(problem):
    jac, q, beta, p, res = problem
    asserts.assert_result_consistent(res, q, beta, p, jacobian=jac)
    for field, value in (
        ("value", res.value * 1.01),
        ("norm_sq", res.norm_sq + 1e-3),
        ("kkt_residual", np.float64(1e-3)),
        ("gap", np.float64(1e-3)),
        ("direction", res.direction + 1e-3),
    ):
        with pytest.raises(AssertionError):
            asserts.assert_result_consistent(replace(res, **{field: value}), q, beta, p, jacobian=jac)


def test_assert_status_honest_rejects_false_claims(problem):
    jac, q, beta, p, res = problem
    asserts.assert_status_honest(res, q, beta, p, tol=1e-12, certificate_name="kkt")
    lying = replace(res, weights=perturbed(res.weights))  # says CONVERGED, is not
    with pytest.raises(AssertionError, match="CONVERGED"):
        asserts.assert_status_honest(lying, q, beta, p, tol=1e-12, certificate_name="kkt")
    capped = replace(res, status=fc.SolverStatus.MAX_ITER, message="active_set: 1 of 1 hit the iteration cap")
    with pytest.raises(AssertionError, match="MAX_ITER"):  # capped, but its certificate met tol
        asserts.assert_status_honest(capped, q, beta, p, tol=1e-12, certificate_name="kkt")
    silent = replace(res, weights=perturbed(res.weights), status=fc.SolverStatus.NUMERICAL, message="")
    with pytest.raises(AssertionError):
        asserts.assert_status_honest(silent, q, beta, p, tol=1e-12, certificate_name="kkt")


def test_check_answer_rejects_inexact_answer_from_exact_method(problem):
    jac, q, beta, p, res = problem
    spec = SPEC_BY_NAME["active_set"]
    check_answer(spec, res, q, beta, p, jacobian=jac)
    with pytest.raises(AssertionError):
        check_answer(spec, replace(res, status=fc.SolverStatus.MAX_ITER), q, beta, p, jacobian=jac)


def test_assert_same_solution_rejects_different_answers(problem):
    _, q, beta, p, res = problem
    lam = res.weights
    asserts.assert_same_solution(q, lam, lam, beta, p, 0.0, 0.0)
    other = fc.solve_min_norm(gram=q, beta=beta, method="active_set").weights  # uniform p: other problem
    with pytest.raises(AssertionError):
        asserts.assert_same_solution(q, lam, other, beta, p, float(res.gap), 1e-12)
    # at beta = 0 lambda may differ (opposite pair), the direction may not
    q0 = np.array([[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    a, b = np.array([0.5, 0.5, 0.0]), np.array([0.5, 0.5, 0.0]) + np.array([0.1, -0.1, 0.0])
    asserts.assert_same_solution(q0, a, a, 0.0, np.full(3, 1 / 3), 0.0, 0.0)
    with pytest.raises(AssertionError):
        asserts.assert_same_solution(q0, a, b, 0.0, np.full(3, 1 / 3), 0.0, 0.0)


def test_assert_same_solution_accepts_nonunique_beta_zero():
    """Duplicate rows at beta = 0: every split of the weight between them is optimal."""
    q = np.ones((2, 2))
    asserts.assert_same_solution(q, np.array([1.0, 0.0]), np.array([0.3, 0.7]), 0.0, np.full(2, 0.5), 0.0, 0.0)


def test_assert_non_conflicting_rejects_conflict():
    q = np.eye(2)  # g_1 = e_1, g_2 = e_2: d = g_1 conflicts with g_2 (g_2 . d = 0 < ||d||^2 = 1)
    asserts.assert_non_conflicting(q, np.array([0.5, 0.5]), 0.0)
    with pytest.raises(AssertionError, match="exceeds the claimed"):
        asserts.assert_non_conflicting(q, np.array([1.0, 0.0]), 0.5)


def test_assert_non_conflicting_property_part_rejects_conflict(claims_trusted):
    with pytest.raises(AssertionError, match="conflict"):
        asserts.assert_non_conflicting(np.eye(2), np.array([1.0, 0.0]), 0.0)


def test_assert_lemma0_rejects_wrong_constant():
    """Lemma 0(b)'s 1/4 is tight; 1/8 must be rejected on a near-tight instance."""
    rng = np.random.default_rng(3)
    worst = None
    for _ in range(300):
        jac = rng.standard_normal((2, 2))
        q, p, beta = jac @ jac.T, np.array([0.5, 0.5]), float(rng.uniform(0.1, 10))
        lam = fc.solve_min_norm(gram=q, beta=beta, method="closed_form").weights
        asserts.assert_lemma0(q, lam, beta, p, 1e-15)
        ql = q @ lam
        ratio = np.max((lam @ ql - ql) / (0.25 * beta * 0.5))  # (||d||^2 - <g_m,d>) / (beta/4 ||e_m-p||^2)
        if worst is None or ratio > worst[0]:
            worst = (ratio, q, lam, beta, p)
    ratio, q, lam, beta, p = worst
    assert ratio > 0.5, f"no near-tight instance found (best ratio {ratio})"
    with pytest.raises(AssertionError, match=r"Lemma 0\(b\)"):
        asserts.assert_lemma0(q, lam, beta, p, 1e-15, quarter=0.125)


def _interior_problem():
    rng = np.random.default_rng(5)
    jac = 0.3 * rng.standard_normal((4, 3))
    q, beta, p = jac @ jac.T, 1.0, np.array([0.1, 0.2, 0.3, 0.4])
    res = fc.solve_min_norm(gram=q, beta=beta, preference=p, method="active_set")
    assert np.all(res.weights > 0.01)
    return q, beta, p, res.weights


def test_assert_lemma0_rejects_perturbed_lambda():
    q, beta, p, lam = _interior_problem()
    asserts.assert_lemma0(q, lam, beta, p, 1e-15)
    with pytest.raises(AssertionError, match="exceeds the claimed"):
        asserts.assert_lemma0(q, lam + 0.2 * (lam - p), beta, p, 1e-15)


def test_assert_lemma0_property_part_rejects_perturbed_lambda(claims_trusted):
    """At an interior optimum the VI at mu = p is an equality, so l* + t (l* - p) violates 0(a)."""
    q, beta, p, lam = _interior_problem()
    with pytest.raises(AssertionError, match=r"Lemma 0\(a\)"):
        asserts.assert_lemma0(q, lam + 0.2 * (lam - p), beta, p, 1e-15)


def test_assert_lemma0c_rejects_wrong_phi(problem):
    _, q, beta, p, res = problem
    star = fc.solve_min_norm(gram=q, beta=0.0, method="active_set")
    asserts.assert_lemma0c(q, res.weights, beta, p, float(res.gap), star.weights, float(star.gap))
    with pytest.raises(AssertionError, match="exceeds the claimed"):  # a non-minimizer as l*
        asserts.assert_lemma0c(q, res.weights, beta, p, float(res.gap), res.weights, 0.0)


def test_assert_lemma0c_property_part_rejects_both_sides(claims_trusted, problem):
    _, q, beta, p, res = problem
    star = fc.solve_min_norm(gram=q, beta=0.0, method="active_set")
    top = np.eye(4)[int(np.argmax(np.diag(q)))]  # the worst vertex: ||d||^2 above phi + beta ||l* - p||^2
    with pytest.raises(AssertionError, match=r"Lemma 0\(c\).*> phi"):
        asserts.assert_lemma0c(q, top, beta, p, 0.0, star.weights, float(star.gap))
    # a 'minimizer' whose norm is above ||d||^2 contradicts phi <= ||d||^2
    with pytest.raises(AssertionError, match=r"Lemma 0\(c\).*< phi"):
        asserts.assert_lemma0c(q, star.weights, beta, p, 0.0, top, 0.0)


def test_assert_lemma1_rejects_wrong_bound_and_wrong_lambda():
    rng = np.random.default_rng(7)
    jac = 0.1 * rng.standard_normal((3, 4))
    q0, q2, p, beta = np.zeros((3, 3)), jac @ jac.T, np.full(3, 1 / 3), 1.0
    lam2 = fc.solve_min_norm(gram=q2, beta=beta, method="active_set").weights
    ratio = asserts.assert_lemma1(q0, p, q2, lam2, beta, p, 0.0, 1e-15)
    assert ratio > 0.999  # tight here
    with pytest.raises(AssertionError, match="Lemma 1"):  # a bound 1 % too small
        asserts.assert_lemma1(q0, p, q2, lam2, beta, p, 0.0, 1e-15, factor=0.99)
    with pytest.raises(AssertionError, match="exceeds the claimed"):  # a wrong lambda(Q') is caught by its claim
        asserts.assert_lemma1(q0, p, q2, perturbed(lam2, 0.05), beta, p, 0.0, 1e-15)


def test_assert_near_preference_rejects_far_lambda():
    q = np.diag([1.0, 2.0, 3.0])
    p = np.full(3, 1 / 3)
    beta = 100.0
    lam = fc.solve_min_norm(gram=q, beta=beta, method="active_set").weights
    asserts.assert_near_preference(q, lam, beta, p, 1e-15)
    with pytest.raises(AssertionError):
        asserts.assert_near_preference(q, np.array([1.0, 0.0, 0.0]), beta, p, 1e-3)


def test_assert_near_preference_property_part(claims_trusted):
    with pytest.raises(AssertionError, match=r"\|\|l - p\|\|"):
        asserts.assert_near_preference(np.diag([1.0, 2.0, 3.0]), np.eye(3)[0], 100.0, np.full(3, 1 / 3), 0.0)


def test_assert_same_solution_property_part(claims_trusted, problem):
    _, q, beta, p, res = problem
    with pytest.raises(AssertionError, match="differ"):
        asserts.assert_same_solution(q, res.weights, perturbed(res.weights, 0.05), beta, p, 0.0, 0.0)


def test_assert_permutation_equivariant_rejects_non_equivariant_solver():
    q = np.diag([1.0, 2.0, 3.0])
    p = np.full(3, 1 / 3)

    def good(qq, pp):
        r = fc.solve_min_norm(gram=qq, beta=0.1, preference=pp, method="active_set")
        return r.weights, float(r.gap)

    def biased(qq, pp):  # favours the first objective whatever it is
        lam, gap = good(qq, pp)
        return 0.5 * lam + 0.5 * np.eye(3)[0], 1e-12

    asserts.assert_permutation_equivariant(good, q, 0.1, p, [2, 0, 1])
    with pytest.raises(AssertionError):
        asserts.assert_permutation_equivariant(biased, q, 0.1, p, [2, 0, 1])


def test_assert_stationarity_rejects_wrong_facts():
    asserts.assert_stationarity(0.0, 1.0, stationary=True, phi_known=0.0, phi_lower=0.0, tol=1e-10)
    asserts.assert_stationarity(0.5, 1.0, stationary=False, phi_known=0.5, phi_lower=0.25, tol=1e-10)
    bad = (
        dict(phi=1e-3, stationary=True, phi_known=None, phi_lower=0.0),
        dict(phi=0.0, stationary=False, phi_known=None, phi_lower=0.0),
        dict(phi=0.1, stationary=False, phi_known=None, phi_lower=0.25),
        dict(phi=0.5, stationary=False, phi_known=0.5 + 1e-6, phi_lower=0.0),
        dict(phi=-1e-3, stationary=None, phi_known=None, phi_lower=0.0),
    )
    for kw in bad:
        with pytest.raises(AssertionError):
            asserts.assert_stationarity(scale=1.0, tol=1e-10, **kw)


def test_sampler_stationary_facts_are_not_vacuous():
    """The stationarity checker distinguishes the two families: a stationary instance is not
    'non-stationary' and vice versa."""
    rng = np.random.default_rng(0)
    st = samplers.sample("stationary_shift", rng, 4, 3)
    ns = samplers.sample("known_min_norm", rng, 4, 3)
    phi_st = float(fc.pareto_stationarity(st.jacobian))
    phi_ns = float(fc.pareto_stationarity(ns.jacobian))
    with pytest.raises(AssertionError):
        asserts.assert_stationarity(phi_st, 1.0, stationary=False, phi_known=None, phi_lower=0.0, tol=1e-10)
    with pytest.raises(AssertionError):
        asserts.assert_stationarity(phi_ns, 1.0, stationary=True, phi_known=None, phi_lower=0.0, tol=1e-10)


def test_assert_scale_invariant_rejects_scale_dependent_solver():
    q, beta, p = np.diag([1.0, 2.0, 3.0]), 0.5, np.full(3, 1 / 3)

    def good(qq, bb, pp):
        r = fc.solve_min_norm(gram=qq, beta=bb, preference=pp, method="active_set")
        return r.weights, float(r.gap)

    def absolute_beta(qq, bb, pp):  # forgets to scale beta with Q: a different problem at c != 1
        return good(qq, beta, pp)

    asserts.assert_scale_invariant(good, q, beta, p, 1e6)
    with pytest.raises(AssertionError, match="exceeds the claimed"):  # its answer is not optimal for (cQ, c beta)
        asserts.assert_scale_invariant(absolute_beta, q, beta, p, 1e6)
    with pytest.raises(ValueError, match="`c`"):
        asserts.assert_scale_invariant(good, q, beta, p, -1.0)


def test_lemma_helpers_reject_beta_zero_as_an_argument_error():
    q = np.eye(2)
    with pytest.raises(ValueError, match=r"assert_lemma1: `beta` must be > 0 .*got 0.0"):
        asserts.assert_lemma1(q, np.full(2, 0.5), q, np.full(2, 0.5), 0.0, np.full(2, 0.5), 0.0, 0.0)
    with pytest.raises(ValueError, match="`beta` must be > 0"):
        asserts.assert_near_preference(q, np.full(2, 0.5), 0.0, np.full(2, 0.5), 0.0)
