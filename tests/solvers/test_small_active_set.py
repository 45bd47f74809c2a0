"""The kernels of the short route for one small problem (firm_core.solvers.small_active_set).

The short route answers with one NNLS solve in almost every case; these tests drive each fallback
on purpose (a wrong warm start, no warm start, a cycling support search, singular faces) and check
that every path still ends at the certified optimum, or says it cannot.
"""

from __future__ import annotations

import numpy as np
import pytest

import firm_core as fc
from firm_core.solvers import single, small_active_set as sas
from firm_core.solvers.problem import folding_matrix
from firm_core.tolerances import EXACT_KKT_TOL
from firm_core.testing import asserts

TOL = 1e-12


def problem(rng, m, d, beta_rel=0.0, rank=None):
    """(J, Q, Qn, beta, p, gradient): a random problem with unequal preferences and its normalized,
    folded Gram matrix, as solve_single builds them."""
    if rank is None:
        jac = rng.standard_normal((m, d)) + rng.standard_normal((1, d))
    else:
        jac = rng.standard_normal((m, rank)) @ rng.standard_normal((rank, d)) + rng.standard_normal((1, d))
    q = jac @ jac.T
    beta = float(beta_rel * q.diagonal().max())
    p = rng.dirichlet(np.ones(m))
    inv_s = 1.0 / (q.diagonal().max() + beta)
    qn = (q + beta * folding_matrix(p)) * inv_s
    return jac, q, qn, beta, p, lambda lam, arr=None: single.relative_gradient(q, lam, inv_s, beta * inv_s, p.tolist(), arr)


def reference(jac, beta, p):
    return fc.solve_min_norm(jac[None], beta=beta, preference=p, method="active_set")


def check_optimal(q, lam, beta, p, jac):
    """lam is certified and is the optimum the general route finds (up to what the certificates allow)."""
    lam = np.asarray(lam)
    cert = asserts.assert_kkt(q, lam, beta, p, EXACT_KKT_TOL)
    ref = reference(jac, beta, p)
    asserts.assert_same_solution(q, lam, ref.weights[0], beta, p, cert.gap, float(ref.gap[0]))


@pytest.mark.parametrize(("m", "d", "beta_rel", "rank"), [(3, 10, 0.0, None), (6, 4, 0.1, None),
                                                          (10, 10, 0.0, None), (10, 100, 1.0, None),
                                                          (10, 100, 0.0, 4), (8, 10, 0.0, 2)])
def test_every_path_reaches_the_certified_optimum(m, d, beta_rel, rank):
    rng = np.random.default_rng(10 * m + d)
    for _ in range(5):
        jac, q, qn, beta, p, grad = problem(rng, m, d, beta_rel, rank)
        # NNLS on the lifted problem (Cholesky factor, or J^T / sqrt(s) when Q is singular at beta = 0)
        lifted = sas.lifted_factor(qn)
        if lifted is None:
            assert beta == 0.0
            lifted = np.concatenate((jac.T / np.sqrt(q.diagonal().max()), np.ones((1, m))))
        lam_nnls, array = sas.nnls_weights_single(lifted)
        assert array.tolist() == lam_nnls
        assert sum(lam_nnls) == pytest.approx(1.0, abs=1e-15) and min(lam_nnls) >= 0.0
        check_optimal(q, lam_nnls, beta, p, jac)
        # no warm start: the support search from all indices; then the primal method from a vertex
        lam_search, _ = sas.support_search(qn, TOL)
        lam_primal, _ = sas.primal_active_set(qn, TOL)
        assert lam_primal is not None
        check_optimal(q, lam_primal, beta, p, jac)
        if lam_search is not None:  # it may hand over on a singular face
            check_optimal(q, lam_search, beta, p, jac)
        else:
            assert rank is not None


def test_a_wrong_warm_start_still_converges():
    """A lifted problem of ANOTHER Gram matrix gives a wrong NNLS answer: it fails the certificate,
    and the support search from its (wrong) support still reaches the optimum of the real problem."""
    rng = np.random.default_rng(11)
    wrong_starts = 0
    for _ in range(10):
        jac, q, qn, beta, p, grad = problem(rng, 8, 10, 0.05)
        other = problem(rng, 8, 10, 0.05)[2]
        found = single.active_set_single(lambda: qn, grad, TOL, sas.lifted_factor(other))
        assert found is not None
        lam, iters, (g, ql, kkt, gap), _ = found
        assert kkt <= TOL
        check_optimal(q, lam, beta, p, jac)
        wrong = sas.nnls_weights_single(sas.lifted_factor(other))[0]
        if single.certificates(wrong, grad(wrong)[0])[0] > TOL:
            wrong_starts += 1
            assert iters > len([v for v in wrong if v > 0])  # the search ran after the NNLS answer
    assert wrong_starts >= 8  # the test really exercised the fallback


def test_a_cycling_support_search_hands_over_to_the_primal_method(monkeypatch):
    rng = np.random.default_rng(12)
    jac, q, qn, beta, p, grad = problem(rng, 10, 10, 0.0)
    monkeypatch.setattr(sas, "SUPPORT_SEARCH_STEPS", 1)  # S = all never certifies in one step here
    assert sas.support_search(qn, TOL)[0] is None
    found = single.active_set_single(lambda: qn, grad, TOL)
    assert found is not None
    check_optimal(q, found[0], beta, p, jac)


def test_an_answer_that_does_not_certify_is_refused():
    """Every kernel's answer goes through the certificate: a gradient that disagrees with Qn makes the
    (correct for Qn) answer fail it, and active_set_single returns None rather than a wrong answer."""
    rng = np.random.default_rng(13)
    jac, q, qn, beta, p, _ = problem(rng, 6, 10, 0.0)
    other_q = problem(rng, 6, 10, 0.0)[1]
    wrong_gradient = lambda lam, _=None: single.relative_gradient(other_q, lam, 1.0 / other_q.diagonal().max(), 0.0, p.tolist())
    assert single.active_set_single(lambda: qn, wrong_gradient, TOL, sas.lifted_factor(qn)) is None


def test_affine_minimizer_on_singular_faces():
    # the origin lies in the affine hull of the rows: Q is singular but the bordered system is not
    jac = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]])
    qn = jac @ jac.T
    assert sas.lifted_factor(qn) is None  # no Cholesky factor
    x, h, bar = sas.affine_minimizer(qn, [0, 1], TOL)
    assert np.allclose(x, [0.5, 0.5], atol=1e-15)
    assert h[2] == pytest.approx(0.0, abs=1e-15) and bar == pytest.approx(-TOL)  # g = Q x = 0 everywhere
    # duplicate rows: an affinely dependent support has no affine minimizer to solve for
    dup = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 1.0]])
    assert sas.affine_minimizer(dup @ dup.T, [0, 1], TOL) is None


def test_the_public_nnls_wrapper_gives_the_same_answer(monkeypatch):
    rng = np.random.default_rng(14)
    qn = problem(rng, 7, 10, 0.1)[2]
    lifted = sas.lifted_factor(qn)
    fast = sas.nnls_weights(lifted)
    monkeypatch.setattr(sas, "_nnls_kernel", None)
    assert np.array_equal(sas.nnls_weights(lifted), fast)


def test_lifted_factor_is_the_cholesky_factor_over_a_row_of_ones():
    rng = np.random.default_rng(15)
    qn = problem(rng, 6, 10, 0.1)[2]
    a = sas.lifted_factor(qn)
    assert a.shape == (7, 6) and np.array_equal(a[6], np.ones(6))
    assert np.array_equal(a[:6], np.triu(a[:6])) and np.allclose(a[:6].T @ a[:6], qn, rtol=0, atol=1e-15)
    jac, q, qn, beta, p, _ = problem(rng, 6, 10, 0.3)
    inv_s = 1.0 / (q.diagonal().max() + beta)
    a1, order = single._lifted(q, inv_s, beta, p)  # beta > 0: the plain Cholesky factor
    assert order is None and np.array_equal(a1, a2 := sas.lifted_factor(qn)) and a2 is not None
    singular = np.vstack([jac[:3], jac[:3]])  # duplicated objectives, beta = 0: Qn has no Cholesky factor
    qs = singular @ singular.T
    inv_s = 1.0 / qs.diagonal().max()
    lifted, order = single._lifted(qs, inv_s, 0.0, p)
    assert lifted.shape == (4, 6)  # rank 3 rows of the pivoted factor over the row of ones
    assert np.array_equal(lifted[3], np.ones(6)) and sorted(order) == list(range(6))
    assert np.allclose(lifted[:3].T @ lifted[:3], (qs * inv_s)[np.ix_(order, order)], rtol=0, atol=1e-15)
    full, order = single._lifted(jac @ jac.T, inv_s, 0.0, p)  # beta = 0, full rank: M rows
    assert full.shape == (7, 6) and sorted(order) == list(range(6))
    assert single._lifted(qs, 1.0 / (qs.diagonal().max() + 0.5), 0.5, p)[0] is not None  # beta > 0


def test_the_pivoted_factor_spans_a_singular_gram_and_its_nnls_answer_certifies():
    rng = np.random.default_rng(17)
    jac = rng.standard_normal((3, 100))
    jac = rng.standard_normal((8, 3)) @ jac + 0.2  # M = 8 objectives of rank 4 (3 + the offset)
    qn = jac @ jac.T
    qn /= qn.diagonal().max()
    a, order = sas.pivoted_lifted_factor(qn)
    back = np.empty_like(a[:4])
    back[:, order] = a[:4]  # column j belongs to objective order[j]
    assert a.shape == (5, 8) and np.allclose(back.T @ back, qn, rtol=0, atol=1e-14)
    assert not np.allclose(a[:4].T @ a[:4], qn, rtol=0, atol=1e-6)  # the pivoting matters here
    lam = sas.nnls_weights_single(a, order)[0]
    wrong = sas.nnls_weights_single(a)[0]  # the order ignored: weights on the wrong objectives
    assert not np.allclose(np.array(wrong) @ jac, fc.solve_min_norm(jac, beta=0.0, method="active_set").direction,
                           rtol=0, atol=1e-6)
    ref = fc.solve_min_norm(jac, beta=0.0, method="active_set")
    assert fc.solve_min_norm(jac, beta=0.0).method == "active_set"
    np.testing.assert_allclose(np.array(lam) @ jac, ref.direction, rtol=0, atol=1e-9)
    assert sas.pivoted_lifted_factor(np.zeros((3, 3))) is None


def test_factor_in_place_writes_the_factor_back_when_lapack_copies():
    """An F-ordered buffer makes LAPACK work on a copy; the factor must still land in the buffer."""
    rng = np.random.default_rng(16)
    qn = problem(rng, 5, 10, 0.2)[2]
    for order in ("C", "F"):
        a = np.empty((6, 5), order=order)
        a[:5], a[5] = qn, 1.0
        assert sas.factor_in_place(a)
        assert np.allclose(a[:5].T @ a[:5], qn, rtol=0, atol=1e-15) and np.array_equal(a[:5], np.triu(a[:5]))
    singular = np.ones((4, 4))
    a = np.vstack([singular, np.ones((1, 4))])
    assert not sas.factor_in_place(a)
