"""Documented behaviour on degenerate inputs, and honest statuses and messages.

Behaviour (every method unless said otherwise):
- M = 1: weights [1], direction g_1, CONVERGED, 1 iteration ("closed_form" needs M = 2 and raises).
- J = 0: direction 0, norm_sq 0; beta > 0 gives lambda = p exactly (the unique minimizer); at beta = 0
  every lambda is optimal and any point of the simplex is returned, CONVERGED.
- duplicate rows g_1 = g_2: at beta = 0 the direction equals that of the problem without the copy;
  at beta > 0 with p_1 = p_2 the unique lambda has lambda_1 = lambda_2.
- opposite rows g, -g: phi = 0 and, at beta = 0, the direction is 0.
- rank-deficient J, d = 1: exact methods certify the KKT residual; d = 1 has phi = 0 when the signs
  differ, else lambda = the vertex of the smallest |g_m| and phi = min g_m^2.
- scales 1e-12 ... 1e12: certificates are relative to s = max|Q| + beta, so lambda(cJ, c^2 beta) =
  lambda(J, beta) and exact methods reach the same relative residual at every scale.
- near-collinear M = 2 (a - 2b + c below round-off): closed_form picks the better vertex.
- statuses: an iteration cap gives MAX_ITER (never CONVERGED) with "iteration cap" in the message;
  an answer a kernel claims converged that fails the post-check is downgraded to NUMERICAL.
"""

from __future__ import annotations

import numpy as np
import pytest

import firm_core as fc
import firm_core.min_norm as mn
from firm_core.tolerances import EXACT_KKT_TOL
from firm_core.testing import asserts, samplers
from tests.solvers.methods import SPECS, SPEC_BY_NAME, check_answer

EXACT = [s for s in SPECS if s.exact]
ALL_BUT_CLOSED_FORM = [s for s in SPECS if s.name != "closed_form"]
ids = lambda s: s.name  # noqa: E731


@pytest.mark.parametrize("spec", ALL_BUT_CLOSED_FORM, ids=ids)
@pytest.mark.parametrize("beta", [0.0, 2.0])
def test_single_objective(spec, beta):
    g = np.array([[3.0, -4.0]])
    res = spec.solve(jacobian=g, beta=beta)
    assert res.weights.tolist() == [1.0] and res.direction.tolist() == [3.0, -4.0]
    assert res.status is fc.SolverStatus.CONVERGED and int(res.iterations) == 1
    assert float(res.norm_sq) == 25.0 and float(res.kkt_residual) == 0.0
    batch = spec.solve(jacobian=np.stack([g, 2 * g]), beta=beta)
    assert batch.weights.shape == (2, 1) and np.all(batch.weights == 1.0)


def test_closed_form_single_objective_raises_but_auto_solves():
    with pytest.raises(ValueError, match="closed_form.*M = 1"):
        fc.solve_min_norm(np.ones((1, 3)), method="closed_form")
    assert fc.solve_min_norm(np.ones((1, 3))).weights.tolist() == [1.0]
    assert float(fc.pareto_stationarity(np.array([[2.0]]))) == 4.0


@pytest.mark.parametrize(
    ("spec", "m"),
    [(s, m) for s in SPECS for m in (2, 4) if s.m_min <= m <= s.m_max],
    ids=lambda x: str(getattr(x, "name", x)),
)
def test_zero_jacobian(spec, m):
    jac = np.zeros((m, 3))
    p = np.linspace(1, 2, m) / np.linspace(1, 2, m).sum()
    res0 = spec.solve(jacobian=jac, beta=0.0, preference=p)
    check_answer(spec, res0, jac @ jac.T, 0.0, p, jacobian=jac)
    assert res0.status is fc.SolverStatus.CONVERGED
    assert np.all(res0.direction == 0) and float(res0.norm_sq) == 0.0
    res = spec.solve(jacobian=jac, beta=0.5, preference=p)
    check_answer(spec, res, jac @ jac.T, 0.5, p, jacobian=jac)
    tol = 1e-15 if spec.exact else np.sqrt(2 * float(res.gap) / 0.5 * 0.5) + 1e-15  # ||l - p||^2 <= 2 s gap / beta
    assert np.max(np.abs(res.weights - p)) <= tol


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_duplicate_rows(spec):
    rng = np.random.default_rng(2)
    m = 2 if spec.name == "closed_form" else 4
    jac = rng.standard_normal((m, 3))
    jac[1] = jac[0]
    q = jac @ jac.T
    p = np.full(m, 1.0 / m)
    res = spec.solve(jacobian=jac, beta=0.0)
    check_answer(spec, res, q, 0.0, p, jacobian=jac)
    ded = np.delete(jac, 1, axis=0)
    ref = fc.solve_min_norm(ded, method="active_set") if m > 2 else None
    d_ref = ref.direction if ref is not None else jac[0]
    slack = np.sqrt(2 * np.max(np.abs(q)) * (float(res.gap) + asserts.ROUNDOFF))
    assert np.linalg.norm(res.direction - d_ref) <= slack + 1e-12
    res_b = spec.solve(jacobian=jac, beta=0.3)
    check_answer(spec, res_b, q, 0.3, p, jacobian=jac)
    bound = 2 * np.sqrt(2 * (np.max(np.abs(q)) + 0.3) * (float(res_b.gap) + asserts.ROUNDOFF) / 0.3)
    assert abs(res_b.weights[0] - res_b.weights[1]) <= bound


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_opposite_rows_are_stationary(spec):
    rng = np.random.default_rng(4)
    m = 2 if spec.name == "closed_form" else 3
    jac = rng.standard_normal((m, 5))
    jac[1] = -jac[0]
    res = spec.solve(jacobian=jac, beta=0.0)
    check_answer(spec, res, jac @ jac.T, 0.0, np.full(m, 1.0 / m), jacobian=jac)
    s = np.max(np.abs(jac @ jac.T))
    assert float(res.norm_sq) <= 2 * s * (float(res.gap) + asserts.ROUNDOFF)
    assert float(fc.pareto_stationarity(jac)) <= 1e-15 * s


@pytest.mark.parametrize("spec", EXACT, ids=ids)
@pytest.mark.parametrize("family", ["low_rank", "one_column", "duplicate_rows", "near_collinear"])
def test_exact_methods_certify_degenerate_families(spec, family):
    rng = np.random.default_rng(8)
    m = 2 if spec.name == "closed_form" else 5
    for beta_rel in samplers.BETA_REL:
        for _ in range(5):
            inst = samplers.sample(family, rng, m, 4).with_beta_rel(beta_rel)
            res = spec.solve(jacobian=inst.jacobian, beta=inst.beta)
            check_answer(spec, res, inst.gram, inst.beta, inst.p, jacobian=inst.jacobian)


def test_one_column_known_answer():
    g = np.array([[0.5], [2.0], [-3.0]])
    assert float(fc.pareto_stationarity(g)) <= EXACT_KKT_TOL * 9.0
    g = np.array([[0.5], [2.0], [3.0]])
    res = fc.solve_min_norm(g)
    assert res.weights.tolist() == [1.0, 0.0, 0.0] and float(res.norm_sq) == 0.25


@pytest.mark.parametrize("spec", EXACT, ids=ids)
@pytest.mark.parametrize("scale", [1e-12, 1e-6, 1e6, 1e12])
def test_scales(spec, scale):
    """lambda(cJ, c^2 beta) == lambda(J, beta); the relative residual is met at every scale."""
    rng = np.random.default_rng(9)
    m = 2 if spec.name == "closed_form" else 5
    for beta_rel in (0.0, 0.1):
        inst = samplers.sample("gaussian", rng, m, 3).with_beta_rel(beta_rel)
        big = inst.scaled(scale)
        r1 = spec.solve(jacobian=inst.jacobian, beta=inst.beta)
        r2 = spec.solve(jacobian=big.jacobian, beta=big.beta)
        check_answer(spec, r2, big.gram, big.beta, big.p, jacobian=big.jacobian)
        # r2's relative gap carries over to the unscaled problem (the certificates are scale-free)
        asserts.assert_same_solution(inst.gram, r1.weights, r2.weights, inst.beta, inst.p, float(r1.gap), float(r2.gap))


@pytest.mark.parametrize("spec", [s for s in EXACT if s.name != "closed_form"], ids=ids)
def test_mixed_row_scales_are_certified_relative_to_the_largest(spec):
    """Rows of norm 1e-12 ... 1e12 in one problem: the certificate is relative to max|Q| (documented);
    the exact methods meet it, and lambda is then determined only to that relative accuracy."""
    rng = np.random.default_rng(10)
    jac = rng.standard_normal((4, 6)) * np.array([[1e-12], [1.0], [1e12], [1e6]])
    for beta in (0.0, 0.5):
        res = spec.solve(jacobian=jac, beta=beta)
        check_answer(spec, res, jac @ jac.T, beta, np.full(4, 0.25), jacobian=jac)


def test_near_collinear_closed_form_regression():
    """Regression: a - 2b + c cancels below TIE_CURVATURE while a - c does not; the old code returned
    lambda = p (relative KKT residual 2e-9, status NUMERICAL); the optimum is the vertex e_2."""
    rng = np.random.default_rng(1)
    jac = rng.standard_normal(4) + 1e-7 * rng.standard_normal((2, 4))
    for method in ("closed_form", "auto"):
        res = fc.solve_min_norm(jac, method=method)
        assert res.status is fc.SolverStatus.CONVERGED, res.message
        asserts.assert_kkt(jac @ jac.T, res.weights, 0.0, np.full(2, 0.5), EXACT_KKT_TOL)
        assert res.weights.tolist() == fc.solve_min_norm(jac, method="enumeration").weights.tolist()


def test_equal_gradients_closed_form_returns_preference():
    g = np.array([[1.0, 2.0], [1.0, 2.0]])
    res = fc.solve_min_norm(g, preference=np.array([0.3, 0.7]), method="closed_form")
    assert np.allclose(res.weights, [0.3, 0.7]) and res.status is fc.SolverStatus.CONVERGED


def hard_instance():
    """Optimum on a face of a 6-simplex with an ill-conditioned Gram: FW zig-zags (rate O(1/k))."""
    rng = np.random.default_rng(12)
    return rng.standard_normal((6, 6)) * np.logspace(-2, 2, 6)[:, None]


@pytest.mark.parametrize(("method", "cap"), [("frank_wolfe", 5), ("projected_gradient", 3), ("active_set", 1)])
def test_iteration_cap_reports_max_iter(method, cap):
    jac = hard_instance()
    res = fc.solve_min_norm(jac, method=method, max_iter=cap)
    assert res.status is fc.SolverStatus.MAX_ITER and not res.success
    assert "iteration cap" in res.message and method in res.message
    assert int(res.iterations) <= cap
    asserts.assert_on_simplex(res.weights)
    asserts.assert_status_honest(res, jac @ jac.T, 0.0, np.full(6, 1 / 6), tol=1e-12,
                                 certificate_name="gap" if method == "frank_wolfe" else "kkt")


def test_frank_wolfe_interior_optimum_converges_on_its_gap():
    """Interior optimum (0 = mean of the rows): FW converges linearly and stops on its gap."""
    jac = np.array([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]])
    res = fc.solve_min_norm(jac, method="frank_wolfe", tol=1e-9)
    assert res.status is fc.SolverStatus.CONVERGED and float(res.gap) <= 1e-9 + 1e-13
    assert int(res.iterations) < 1000


def test_frank_wolfe_face_optimum_is_slow_and_says_so():
    """Optimum on a face, (1/2, 1/2, 0): plain FW zig-zags at rate O(1/k) and hits its cap; the exact
    methods solve it. This is why the suite does not require FW to converge."""
    jac = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    res = fc.solve_min_norm(jac, method="frank_wolfe", tol=1e-9)
    assert res.status is fc.SolverStatus.MAX_ITER and float(res.gap) > 1e-9
    assert np.allclose(fc.solve_min_norm(jac).weights, [0.5, 0.5, 0.0], atol=1e-15)


def vertex_kernel(qn, p, **_):
    """A kernel that always claims convergence at the vertex e_1 (right only when e_1 is optimal)."""
    b, m, _ = qn.shape
    return np.tile(np.eye(m)[0], (b, 1)), np.ones(b, dtype=np.int64), np.ones(b, dtype=bool)


def test_post_check_downgrades_a_wrong_claimed_answer(monkeypatch):
    """A kernel that claims convergence but returns a suboptimal lambda is caught: NUMERICAL."""

    monkeypatch.setitem(mn._KERNELS, "active_set", vertex_kernel)
    jac = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    res = fc.solve_min_norm(jac, method="active_set")
    assert res.status is fc.SolverStatus.NUMERICAL and not res.success
    assert "failed the post-check" in res.message and "0 infeasible" in res.message
    # in a batch only the problems that fail are downgraded: a J whose optimum is e_1 passes
    batch = np.stack([jac, np.array([[0.1, 0.0], [1.0, 0.0], [2.0, 0.0]])])
    res = fc.solve_min_norm(batch, method="active_set")
    assert res.statuses.tolist() == [fc.SolverStatus.NUMERICAL, fc.SolverStatus.CONVERGED]
    assert res.status is fc.SolverStatus.NUMERICAL and "1 of 2 failed" in res.message


@pytest.mark.parametrize("bad", ["negative", "nan", "sum", "zero", "all_negative"])
def test_post_check_flags_infeasible_kernel_output(monkeypatch, bad):
    def infeasible(qn, p, **_):
        b, m, _ = qn.shape
        lam = np.full((b, m), 1.0 / m)
        if bad == "negative":
            lam[:, 0], lam[:, 1] = -0.1, lam[:, 1] + 0.1
        elif bad == "nan":
            lam[:, 0] = np.nan
        elif bad == "zero":  # no positive weight left to renormalize
            lam[:] = 0.0
        elif bad == "all_negative":
            lam[:] = -1.0
        else:
            lam *= 1.5
        return lam, np.ones(b, dtype=np.int64), np.ones(b, dtype=bool)

    monkeypatch.setitem(mn._KERNELS, "projected_gradient", infeasible)
    res = fc.solve_min_norm(np.eye(3), method="projected_gradient")
    assert res.status is fc.SolverStatus.NUMERICAL and "1 infeasible" in res.message
    asserts.assert_on_simplex(res.weights)  # what is returned is still a point of the simplex


def test_enumeration_falls_back_to_active_set_when_its_answer_fails(monkeypatch):
    monkeypatch.setitem(mn._KERNELS, "enumeration", vertex_kernel)
    jac = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    res = fc.solve_min_norm(jac, method="enumeration")
    assert res.status is fc.SolverStatus.CONVERGED
    asserts.assert_kkt(jac @ jac.T, res.weights, 0.0, np.full(3, 1 / 3), EXACT_KKT_TOL)


def test_batch_status_is_worst_and_per_problem_statuses_are_kept():
    easy = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    jac = np.stack([np.pad(easy, ((0, 3), (0, 4))), hard_instance()])  # zero rows: optimum at a vertex
    res = fc.solve_min_norm(jac, method="frank_wolfe", max_iter=20)
    assert res.statuses[1] is fc.SolverStatus.MAX_ITER and res.status is fc.SolverStatus.MAX_ITER
    assert res.statuses[0] is fc.SolverStatus.CONVERGED
    assert "1 of 2 hit the iteration cap" in res.message


def test_empty_batch():
    for spec in (SPEC_BY_NAME["auto"], SPEC_BY_NAME["enumeration"], SPEC_BY_NAME["frank_wolfe"]):
        res = spec.solve(jacobian=np.zeros((0, 3, 4)))
        assert res.weights.shape == (0, 3) and res.direction.shape == (0, 4)
        assert res.status is fc.SolverStatus.CONVERGED


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_finite_jacobian_whose_gram_overflows_is_solved_on_the_rescaled_problem(spec):
    """|J| ~ 1e200 is finite but J J^T overflows float64. Rows -g, g (, g) are Pareto-stationary.
    Every method solves the rescaled problem and its weights meet the certificate; the status is
    honest about the outputs: CONVERGED iff value, norm_sq and direction of *its* weights fit float64
    (the computed norm_sq carries an error ~ eps |J| |d|, which at 1e200 can exceed the range when
    the weights are off by one ulp). auto (enumeration for M >= 3) hits lambda = (1/2, 1/2, 0) and
    d = 0 exactly. A healthy problem in the same batch is unaffected."""
    m = 2 if spec.name == "closed_form" else 3
    huge = np.full((m, 3), 1e200)
    huge[0] *= -1
    healthy = np.eye(m, 3)
    res = spec.solve(jacobian=np.stack([huge, healthy]))
    asserts.assert_on_simplex(res.weights)
    assert res.weights[0, 0] == pytest.approx(0.5, abs=1e-6)
    fits = bool(np.isfinite(res.value[0]) and np.isfinite(res.norm_sq[0]))
    if not fits:
        assert res.statuses[0] is fc.SolverStatus.NUMERICAL and "cannot represent" in res.message
    if spec.exact:
        assert float(res.kkt_residual[0]) <= EXACT_KKT_TOL
    if spec.name in ("auto", "closed_form", "enumeration"):
        assert res.statuses[0] is fc.SolverStatus.CONVERGED and float(res.value[0]) == 0.0, res.message
    alone = fc.solve_min_norm(healthy, method=res.method, tol=spec.tol, max_iter=spec.max_iter)  # auto: batch's pick
    check_answer(spec, alone, healthy @ healthy.T, 0.0, np.full(m, 1.0 / m), jacobian=healthy)
    assert res.statuses[1] is alone.status
    np.testing.assert_allclose(res.weights[1], alone.weights, rtol=0, atol=asserts.FLOAT64_RTOL)


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_answer_that_overflows_float64_is_numerical_with_certified_weights(spec):
    """Rows 1e200 * (1, 2), 1e200 * (2, 1): lambda = (1/2, 1/2) exactly, but ||J^T lambda||^2 ~ 1e400
    cannot be represented: NUMERICAL, the message names the fields, the weights are still right."""
    m = 2 if spec.name == "closed_form" else 3
    huge = 1e200 * np.array([[1.0, 2.0], [2.0, 1.0], [2.0, 1.0]])[:m]
    res = spec.solve(jacobian=np.stack([huge, np.eye(m, 2)]))
    assert res.statuses[0] is fc.SolverStatus.NUMERICAL and res.status is fc.SolverStatus.NUMERICAL
    assert "1 of 2 have an answer that float64 cannot represent" in res.message
    assert "`value`" in res.message and "`norm_sq`" in res.message and "rescale" in res.message
    assert np.isinf(res.norm_sq[0]) and np.all(np.isfinite(res.direction[0]))
    if spec.exact:
        assert float(res.kkt_residual[0]) <= EXACT_KKT_TOL
        assert res.weights[0, 0] == pytest.approx(0.5, abs=1e-12)
