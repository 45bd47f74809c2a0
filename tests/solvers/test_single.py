"""The short route for single small problems (firm_core.solvers.single) against the exact methods.

It must return the same answer as the general route up to the certificates, report the same
certificate (its float formulas are cross-checked against firm_core.solvers.certify), and hand
over to the general route whenever it does not apply or cannot certify.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle

import numpy as np
import pytest

import firm_core as fc
from firm_core.solvers import certify, single
from firm_core.tolerances import EXACT_KKT_TOL
from firm_core.testing import asserts

#: The Python-float and numpy certificates use the same formulas; summation order differs.
CERT_ATOL = 1e-15


def instance(rng, m, d, beta_rel=0.0, offset=True):
    jac = rng.standard_normal((m, d)) + (rng.standard_normal((1, d)) if offset else 0.0)
    q = jac @ jac.T
    p = rng.dirichlet(np.ones(m))
    return jac, q, float(beta_rel * np.abs(q).max()), p


def fast(jac, beta=0.0, p=None, tol=1e-12):
    return single.solve_single(jac, None, beta, p, "auto", tol, None)


@pytest.mark.parametrize("m", [2, 3, 4, 6, 10])
@pytest.mark.parametrize("d", [1, 3, 10, 100])
@pytest.mark.parametrize("beta_rel", [0.0, 1e-3, 0.3])
def test_short_route_matches_the_exact_methods(m, d, beta_rel):
    rng = np.random.default_rng(100 * m + d)
    taken = 0
    for _ in range(8):
        jac, q, beta, p = instance(rng, m, d, beta_rel, offset=bool(rng.integers(2)))
        res = fast(jac, beta, p)
        if res is None:  # handed over (singular face, d < M): the general route answers
            assert fc.solve_min_norm(jac, beta=beta, preference=p).status is fc.SolverStatus.CONVERGED
            continue
        taken += 1
        auto = fc.solve_min_norm(jac, beta=beta, preference=p)
        assert auto.method == res.method and np.array_equal(auto.weights, res.weights)  # auto takes it
        assert res.status is fc.SolverStatus.CONVERGED and res.iterations.dtype == np.int64
        cert = asserts.certificate(q, res.weights, beta, p)
        asserts.assert_result_consistent(res, q, beta, p, jacobian=jac, cert=cert)
        asserts.assert_kkt(q, res.weights, beta, p, EXACT_KKT_TOL, cert=cert)
        for method in ("active_set", "enumeration") if m <= 8 else ("active_set",):
            ref = fc.solve_min_norm(jac, beta=beta, preference=p, method=method, max_iter=1000)
            asserts.assert_same_solution(q, res.weights, ref.weights, beta, p, float(res.gap), float(ref.gap))
        batch = fc.solve_min_norm(jac[None], beta=beta, preference=p)  # the general route, same certificate
        assert abs(float(batch.kkt_residual[0]) - float(res.kkt_residual)) <= CERT_ATOL
    if d >= m:  # full-rank Gram matrices: the short route must really be taken
        assert taken == 8


def test_result_has_the_general_routes_shape_and_types():
    rng = np.random.default_rng(0)
    jac, q, beta, p = instance(rng, 4, 7, 0.1)
    res, gen = fast(jac, beta, p), fc.solve_min_norm(jac[None], beta=beta, preference=p)
    for field in ("weights", "direction", "value", "norm_sq", "kkt_residual", "gap", "iterations", "statuses"):
        a, b = getattr(res, field), getattr(gen, field)[0]
        assert isinstance(a, np.ndarray) and a.shape == np.shape(b) and a.dtype == np.asarray(b).dtype, field
    assert res.status is gen.status and res.method == gen.method == "active_set"
    assert res.message.startswith("active_set: converged on 1 problem(s)")


def test_float_certificates_equal_the_numpy_ones_and_reject_wrong_answers():
    rng = np.random.default_rng(1)
    for _ in range(300):
        m = int(rng.integers(1, 11))
        lam = rng.dirichlet(np.ones(m) * rng.uniform(0.1, 2))
        g = rng.standard_normal(m) * 10.0 ** rng.uniform(-3, 3)
        kkt, gap = single.certificates(lam.tolist(), g.tolist())
        ref_kkt, ref_gap = certify.certificates(g[None], lam[None])
        assert abs(kkt - float(ref_kkt[0])) <= CERT_ATOL * (1 + np.abs(g).max())
        assert abs(gap - float(ref_gap[0])) <= CERT_ATOL * (1 + np.abs(g).max())
    # the optimum of a known problem passes, a wrong point fails
    jac = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # optimum (1/2, 1/2, 0)
    q = jac @ jac.T
    for lam, ok in (([0.5, 0.5, 0.0], True), ([1 / 3, 1 / 3, 1 / 3], False), ([1.0, 0.0, 0.0], False)):
        g, _ = single.relative_gradient(q, lam, 1.0 / 2.0, 0.0, [1 / 3] * 3)
        assert (single.certificates(lam, g)[0] <= 1e-15) is ok


def test_support_threshold_equals_the_sorted_one_and_refuses_a_wrong_support():
    """Near an optimum (g = c on the support, g >= c off it) the threshold comes from the support of
    lambda without sorting; it must give the sorted threshold's residual, and refuse (None) whenever
    the projection's support differs from lambda's (then the sorted one answers)."""
    rng = np.random.default_rng(6)
    used = refused = 0
    for _ in range(2000):
        m = int(rng.integers(1, 11))
        lam = rng.dirichlet(np.ones(m))
        lam[rng.random(m) < 0.4] = 0.0
        if not lam.any():
            continue
        lam /= lam.sum()
        c, noise = rng.standard_normal(), rng.standard_normal(m) * 10.0 ** rng.uniform(-12, 0)
        g = np.where(lam > 0, c + noise, c + np.abs(noise) * rng.uniform(0, 3, m)) if rng.random() < 0.7 else noise
        on_support = single._residual_on_support(lam.tolist(), g.tolist(), (lam > 0).tolist())[0]
        sorted_kkt = single._residual_by_sorting(lam.tolist(), g.tolist())
        ref = float(certify.certificates(g[None], lam[None])[0][0])
        assert abs(sorted_kkt - ref) <= CERT_ATOL * (1 + np.abs(g).max())
        v = lam - g
        keeps_support = bool(np.all((v > ref_theta(v)) == (lam > 0)))
        if on_support is None:
            refused += 1
            assert not keeps_support or np.isclose(v, ref_theta(v), atol=1e-12, rtol=0).any()  # only ties
        else:
            used += 1
            assert keeps_support and abs(on_support - ref) <= CERT_ATOL * (1 + np.abs(g).max())
    assert used > 500 and refused > 300  # both paths reached
    # a support the projection does not keep: refused, and the residual comes from sorting
    lam, g = [0.5, 0.5, 0.0], [0.0, 0.0, -1.0]  # index 2 has the lowest gradient: it must enter
    assert single._residual_on_support(lam, g, [True, True, False])[0] is None
    assert single._residual_on_support(lam, g, [True, True, True])[0] is not None  # the support theta implies
    assert single.certificates(lam, g)[0] == pytest.approx(float(certify.certificates(np.array([g]), np.array([lam]))[0][0]))


def ref_theta(v):
    """The simplex projection's threshold by the textbook sort (independent of firm_core)."""
    u = np.sort(v)[::-1]
    t = (np.cumsum(u) - 1) / np.arange(1, len(u) + 1)
    return t[np.nonzero(u - t > 0)[0][-1]]


def test_a_list_of_floats_is_a_preference_on_the_short_route():
    rng = np.random.default_rng(7)
    jac, _, beta, p = instance(rng, 4, 6, 0.2)
    by_list, by_array = fast(jac, beta, p.tolist()), fast(jac, beta, p)
    assert by_list is not None and np.array_equal(by_list.weights, by_array.weights)
    assert fast(jac, beta, tuple(p.tolist())) is not None
    for other in ([1, 0, 0, 0], [0.5, 0.5, 0.5, -0.5], [0.5, 0.5], p.tolist() + [0.0], [np.float64(0.25)] * 4):
        assert fast(jac, beta, other) is None  # ints, off the simplex, wrong length, numpy scalars: general route
    with pytest.raises(ValueError, match="preference"):
        fc.solve_min_norm(jac, beta=beta, preference=[0.5, 0.5, 0.5, -0.5])  # which then names the argument


def test_short_route_hands_over_when_it_does_not_apply():
    rng = np.random.default_rng(2)
    jac = rng.standard_normal((3, 5))
    assert fast(jac) is not None
    assert np.array_equal(fast(jac, 1).weights, fast(jac, 1.0).weights)  # an int beta is the same problem
    for args in [
        (jac.astype(np.float16), None, 0.0, None, "auto", 1e-12, None),  # other dtype
        (jac[None], None, 0.0, None, "auto", 1e-12, None),  # a batch
        (jac, None, 0.0, None, "active_set", 1e-12, None),  # an explicit method
        (jac, None, 0.0, None, "auto", 1e-12, 50),  # an iteration cap
        (jac, None, True, None, "auto", 1e-12, None),  # beta not a number (the general route refuses it)
        (jac, None, -1, None, "auto", 1e-12, None),  # a negative beta (likewise)
        (jac, None, 0.0, np.array([0.5, 0.6, -0.1]), "auto", 1e-12, None),  # invalid preference
        (jac * 1e200, None, 0.0, None, "auto", 1e-12, None),  # Q beyond the safe range
        (jac * 1e-200, None, 0.0, None, "auto", 1e-12, None),
        (np.vstack([jac, jac[:1] * np.nan]), None, 0.0, None, "auto", 1e-12, None),  # non-finite
        (rng.standard_normal((11, 5)), None, 0.0, None, "auto", 1e-12, None),  # M > SINGLE_MAX_M
        (None, jac @ jac.T, 0.0, None, "auto", 1e-12, None),  # gram input
    ]:
        with np.errstate(all="ignore"):
            assert single.solve_single(*args) is None


def test_singular_faces_are_certified_on_the_short_route():
    """Duplicate rows / rank-deficient J at beta = 0 make Q singular (no Cholesky factor): the short
    route lifts J^T itself for its NNLS start and solves its faces by the bordered system."""
    rng = np.random.default_rng(3)
    for m, d, rank in ((5, 2, 2), (6, 10, 2), (10, 100, 5), (10, 10, 3)):
        jac = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, d)) + rng.standard_normal((1, d))
        jac[1] = jac[0]
        q = jac @ jac.T
        res = fast(jac)
        assert res is not None and res.status is fc.SolverStatus.CONVERGED
        asserts.assert_kkt(q, res.weights, 0.0, np.full(m, 1 / m), EXACT_KKT_TOL)
        ref = fc.solve_min_norm(jac[None], method="active_set")  # lambda is not unique; J^T lambda is
        asserts.assert_same_solution(q, res.weights, ref.weights[0], 0.0, np.full(m, 1 / m),
                                     float(res.gap), float(ref.gap[0]))


def test_float32_single_problem_equals_the_float64_solve_rounded():
    rng = np.random.default_rng(4)
    jac = rng.standard_normal((4, 6)).astype(np.float32)
    res, ref = fc.solve_min_norm(jac), fc.solve_min_norm(jac.astype(np.float64))
    assert res.weights.dtype == res.value.dtype == np.float32
    assert np.array_equal(res.weights, ref.weights.astype(np.float32))
    big = np.array([[1e20, 0.0], [0.0, 2e20]], dtype=np.float32)  # value beyond float32: handed over
    assert fast(big) is None and fc.solve_min_norm(big).status is fc.SolverStatus.NUMERICAL


def test_deferred_result_builds_its_diagnostics_once_and_behaves_as_a_plain_result():
    rng = np.random.default_rng(5)
    jac = rng.standard_normal((5, 8))
    p = rng.dirichlet(np.ones(5))
    names = [f.name for f in dataclasses.fields(fc.MinNormResult)]
    res = fast(jac, 0.2, p)
    assert sorted(vars(res)) == sorted(["weights", "direction", "status", "method", "_deferred"])
    value = float(0.5 * res.direction @ res.direction + 0.1 * np.sum((res.weights - p) ** 2))
    res.weights[:] = 0.0  # the caller's array: the diagnostics come from the solve's own copy
    assert abs(float(res.value) - value) <= 1e-14 * value
    assert sorted(vars(res)) == sorted(names)  # every field set on first access, the recipe gone
    rebuilt = fc.MinNormResult(**{k: getattr(res, k) for k in names})
    assert all(getattr(res, k) is getattr(rebuilt, k) for k in names)
    assert res.success and repr(res) == repr(rebuilt)
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.method = "other"  # still frozen
    assert not hasattr(res, "no_such_field")
    ref = fast(jac, 0.2, p)
    for other in (pickle.loads(pickle.dumps(fast(jac, 0.2, p))), copy.deepcopy(fast(jac, 0.2, p)),
                  dataclasses.replace(fast(jac, 0.2, p), method="active_set")):
        assert sorted(vars(other)) == sorted(names)
        for k in names:
            assert np.array_equal(getattr(other, k), getattr(ref, k)) if k != "statuses" else other.statuses == ref.statuses
    calls = []
    lazy = fc.MinNormResult.deferred(lambda: calls.append(1) or {"message": "m", "gap": 1}, (), weights=1)
    assert lazy.weights == 1 and not calls
    assert lazy.message == "m" and lazy.gap == 1 and calls == [1]  # built once
