"""theory_checks: the traced loop is the engine, constants are valid, and every checker can fail."""

import numpy as np
import pytest
from firm_core import theory as th
from firm_core.federated import AlgorithmConfig, RunConfig, run
from firm_core.problems.bound_checks import empirical_constants, verify_upper_bounds

from theory_checks import checks as ck
from theory_checks.cells import CellSpec, chain_checks, run_cell
from theory_checks.liveness import liveness_checks
from theory_checks.problem_constants import make_quadratics, problem_constants
from theory_checks.trace import run_traced


@pytest.mark.parametrize(("sigma", "participation"), [(0.0, None), (0.4, None), (0.4, 2)])
def test_traced_loop_reproduces_the_engine_bit_for_bit(sigma, participation):
    pr = make_quadratics(num_clients=3, num_objectives=3, dim=6, heterogeneity=0.7, sigma=sigma, seed=2, x0_distance=2.0)
    tr = run_traced(pr, beta=3.0, eta=0.07, eta_g=1.5, local_steps=4, rounds=12, seed=5, participation=participation)
    hist = run(pr, AlgorithmConfig(name="firm", beta=3.0, lr=0.07, server_lr=1.5, local_steps=4, seed=5,
                                   participation=participation),
               RunConfig(rounds=12), progress=False)
    np.testing.assert_array_equal(hist.final_x, tr.x[-1])
    np.testing.assert_array_equal(hist.series("phi"), tr.phi[:-1])
    if participation is None:  # the trace's D_lambda is over every client, the engine's over the participants
        np.testing.assert_allclose(hist.series("d_lambda"), tr.d_lambda, rtol=1e-12, atol=1e-15)


def test_problem_constants_are_exact_or_valid_upper_bounds():
    pr = make_quadratics(num_clients=4, num_objectives=2, dim=5, heterogeneity=1.0, sigma=0.0, seed=1, x0_distance=3.0)
    c = problem_constants(pr)
    emp = empirical_constants(pr, c.radius, c.center, num_points=100)
    verify_upper_bounds({"L": c.L, "C": c.C, "zeta": c.zeta}, emp)
    # Delta exact: Phi(x0) - Phi at the minimizer of the p-weighted quadratic (checked by a gradient step)
    p = np.full(2, 0.5)
    xp = pr.pareto_set_point(p)
    np.testing.assert_allclose(p @ pr.jacobian(xp), 0.0, atol=1e-12)
    assert c.delta == pytest.approx(p @ pr.values(pr.initial_point()) - p @ pr.values(xp))
    for x in np.random.default_rng(0).normal(size=(20, 5)):
        assert p @ pr.values(x) >= p @ pr.values(xp) - 1e-12


def test_theorem1_cell_is_tight_and_passes():
    res = run_cell(CellSpec("t", M=2, beta=1.0, T=40))
    assert res.ok, [c.line() for c in res.checks if not c.ok]
    assert 0.5 < res.ratio <= 1.0
    assert res.objective_rise > 0  # an objective really rose: the O(beta) term is real


def test_check_le_semantics():
    assert ck.check_le("x", [1.0, 2.0], [1.0, 3.0]).ok
    r = ck.check_le("x", [1.0, 2.0], [1.0, 1.5])
    assert not r.ok and r.ratio == pytest.approx(2 / 1.5) and r.worst == pytest.approx(0.5)
    assert ck.check_le("x", [5.0], [np.inf]).ok
    assert not ck.check_le("x", [np.nan], [1.0]).ok
    assert not ck.check_bound("b", 1.0, 0.999).ok
    assert ck.check_slope("s", [1, 2, 4], [1, 0.5, 0.25], -1.0, 0.01).ok
    assert not ck.check_slope("s", [1, 2, 4], [1, 0.5, 0.25], -2.0, 0.1).ok
    assert not ck.check_at_least("a", 0.4, 0.5).ok


def _trace():
    pr = make_quadratics(num_clients=3, num_objectives=2, dim=5, heterogeneity=0.5, sigma=0.0, seed=0, x0_distance=2.0)
    return pr, run_traced(pr, beta=5.0, eta=0.05, eta_g=1.0, local_steps=3, rounds=10)


def test_lemma_checkers_accept_solutions_and_reject_perturbed_lambdas():
    pr, tr = _trace()
    p = tr.preference
    assert ck.check_lemma0a(tr.jac_server, tr.lam_server, 5.0, p).ok
    assert ck.check_lemma0b(tr.jac_used, tr.lam, 5.0, p).ok
    assert ck.check_lemma0c(tr.jac_server, tr.lam_server, tr.lam_mgda, 5.0, p).ok
    qc = ck.gram(tr.jac_used)
    qs = np.broadcast_to(ck.gram(tr.jac_server[:-1])[:, None, None], qc.shape)
    ls = np.broadcast_to(tr.lam_server[:-1, None, None], tr.lam.shape)
    assert ck.check_lemma1(qc, qs, tr.lam, ls, 5.0).ok
    # perturb: move lambda towards a vertex by 0.2
    bad = tr.lam_server.copy()
    bad[:, 0] = np.clip(bad[:, 0] + 0.2, 0, 1)
    bad[:, 1] = 1 - bad[:, 0]
    assert not ck.check_lemma0a(tr.jac_server, bad, 5.0, p).ok
    assert not ck.check_lemma0c(tr.jac_server, bad, tr.lam_mgda, 5.0, p).ok  # ||d||^2 above its upper bound
    assert not ck.check_lemma0c(tr.jac_server, tr.lam_server, bad, 5.0, p).ok  # a wrong MGDA lambda*: phi too big
    assert not ck.check_lemma0c(tr.jac_server, tr.lam_server, tr.lam_mgda, 0.01, p).ok  # beta too small for lambda
    bad_client = tr.lam.copy()
    bad_client[..., 0] = np.where(bad_client[..., 0] > 0.5, bad_client[..., 0] - 0.3, bad_client[..., 0] + 0.3)
    bad_client[..., 1] = 1 - bad_client[..., 0]
    assert not ck.check_lemma1(qc, qs, bad_client, ls, 5.0).ok
    assert not ck.check_lemma0b(tr.jac_used, bad_client, 5.0, p).ok


def test_chain_checker_rejects_a_wrong_smoothness_constant():
    pr, tr = _trace()
    c = problem_constants(pr)
    good, a_post = chain_checks(tr, c)
    assert all(x.ok for x in good)
    assert tr.phi[:-1].mean() <= a_post
    wrong = type(c)(**{**c.__dict__, "L_phi": 0.01 * c.mu_phi, "L": 0.01 * c.mu_phi})
    bad, _ = chain_checks(tr, wrong)
    assert not bad[0].ok  # one-round descent


def test_cell_checker_rejects_a_too_small_bound(monkeypatch):
    import theory_checks.cells as cells

    real = th.theorem1_bound
    monkeypatch.setattr(cells.th, "theorem1_bound", lambda *a: 0.1 * real(*a))
    res = run_cell(CellSpec("t", M=2, beta=1.0, T=20))
    bad = [c.name for c in res.checks if not c.ok]
    assert any("Thm1 bound" in n for n in bad)


def test_liveness_self_test_flags_every_wrong_input():
    out = liveness_checks()
    assert len(out) >= 8
    assert all(c.ok for c in out), [c.detail for c in out if not c.ok]


def test_constant_verification_rejects_wrong_constants():
    from dataclasses import replace

    from theory_checks.problem_constants import verify_constants

    pr = make_quadratics(num_clients=3, num_objectives=2, dim=5, heterogeneity=0.5, sigma=0.5, seed=0, x0_distance=2.0)
    c = problem_constants(pr)
    tr = run_traced(pr, beta=5.0, eta=0.05, eta_g=1.0, local_steps=3, rounds=15)
    used, good = verify_constants(pr, c, [tr])
    assert all(k.ok for k in good) and used.ball == "a-priori"
    names = lambda checks: {k.name: k.ok for k in checks}  # noqa: E731
    bad = names(verify_constants(pr, replace(c, C=0.5 * c.C), [tr])[1])
    assert not bad["C >= every ||grad f_{i,m}|| met"]
    bad = names(verify_constants(pr, replace(c, zeta=0.1 * c.zeta), [tr])[1])
    assert not bad["zeta >= every heterogeneity met"]
    bad = [k for k in verify_constants(pr, replace(c, sigma=0.25), [tr])[1] if k.name.startswith("noise")]
    assert not bad[0].ok
    # a ball that misses an iterate is replaced by the a-posteriori ball (and C, zeta recomputed on it)
    used, checks = verify_constants(pr, replace(c, radius=0.1), [tr])
    assert used.ball == "a-posteriori" and used.radius > 0.1 and all(k.ok for k in checks)


def test_cauchy_problem_gradients_and_global_constants():
    from theory_checks.cauchy import CauchyRegression

    pr = CauchyRegression(num_clients=3, num_objectives=2, dim=6, heterogeneity=0.8, seed=1)
    g = pr.global_constants()
    # gradients match central finite differences of the values
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6))
    jac = pr.client_jacobians(np.arange(3), x)
    h = 1e-6
    for k in range(6):
        e = np.zeros(6)
        e[k] = h
        fd = (pr.client_values(np.arange(3), x + e) - pr.client_values(np.arange(3), x - e)) / (2 * h)
        np.testing.assert_allclose(jac[..., k], fd, atol=1e-7)
    # the global constants dominate what is attained anywhere (sampled on a large ball)
    emp = empirical_constants(pr, 20.0, np.zeros(6), num_points=100)
    verify_upper_bounds({"L": g["L"], "C": g["C"], "zeta": g["zeta"]}, emp)
    assert np.all(pr.client_values(np.arange(3), x) >= 0)  # inf Phi >= 0: Delta <= Phi(x_0) is valid
    with pytest.raises(ValueError, match="`heterogeneity`"):
        CauchyRegression(heterogeneity=-1.0)


def test_cauchy_cells_pass():
    res = run_cell(CellSpec("c", problem="cauchy", N=3, K=3, beta=10.0, heterogeneity=0.5, gamma_rel=0.5, x0_distance=3.0, T=30))
    assert res.ok and res.constants.ball == "global" and res.ratio < 1
