"""firm_core.theory: every bound against values computed by hand, validation, and structural properties."""

import math

import numpy as np
import pytest
from firm_core import solve_min_norm
from firm_core import theory as th

SQ2 = math.sqrt(2.0)


def consts(**kw):
    base = dict(L=2.0, L_phi=1.5, C=6.0, zeta=0.5, sigma=0.0, M=2, beta=10.0, eta=0.05, eta_g=1.0, K=5, T=300, delta=20.0)
    base.update(kw)
    return th.BoundConstants(**base)


def test_theorem1_hand_values():
    # Delta / (gamma (1 - L gamma / 2) T): 20 / (0.5 * (1 - 0.375) * 100) = 0.64
    assert th.theorem1_bound(20.0, 0.5, 1.5, 100) == pytest.approx(0.64, rel=1e-15)
    # gamma = 1 / L_phi gives 2 L_phi Delta / T
    assert th.theorem1_bound(20.0, 1 / 1.5, 1.5, 100) == pytest.approx(2 * 1.5 * 20 / 100, rel=1e-14)


def test_per_objective_hand_values():
    p = np.array([0.25, 0.75])
    # ||e_0 - p||^2 = 0.75^2 + 0.75^2 = 1.125; beta * 1.125 / 4 with beta = 2 -> 0.5625
    assert th.lemma0b_allowance(2.0, p, 0) == pytest.approx(0.5625)
    # step: -0.5 (1 - 0.5) * 4 + 0.5 * 0.5625 = -1 + 0.28125
    assert th.per_objective_step_bound(4.0, 0.5, 2.0, 2.0, p, 0) == pytest.approx(-0.71875)
    # [Delta_m / (gamma T) + allowance] / (1 - L_m gamma / 2) = [10 / 50 + 0.5625] / 0.5
    assert th.per_objective_theorem1_bound(10.0, 0.5, 2.0, 2.0, p, 0, 100) == pytest.approx((0.2 + 0.5625) / 0.5)
    # uniform p: beta (1 - 1/M) / 4
    assert th.lemma0b_allowance(4.0, np.full(4, 0.25), 2) == pytest.approx(0.75)


def test_federated_terms_hand_values_deterministic():
    c = consts()
    t = th.federated_terms(c)
    assert t.C_sigma == 6.0
    np.testing.assert_allclose(t.D, 2 * 0.05 * np.arange(5) * 6.0)  # L eta k C_sigma = 0.6 k
    # P_0 = 2 sqrt2 * 6 * 0.5 = 8.485; ell_0 = 0.8485; P_k >= 14.1 for k >= 1 -> ell = sqrt2
    assert t.P[0] == pytest.approx(6 * SQ2)
    np.testing.assert_allclose(t.ell, [0.6 * SQ2] + [SQ2] * 4)
    np.testing.assert_array_equal(t.r, t.ell)
    assert t.E_b == pytest.approx(6.0 * 1.2)  # C * avg D = 6 * 0.6 * 2
    assert t.E_h == pytest.approx(SQ2 * 36 * np.mean(t.ell))
    assert t.E_n == 0.0
    assert t.eps_v == pytest.approx(np.mean(t.D + SQ2 * 6 * t.ell))
    assert t.eps_w == pytest.approx(t.eps_v)
    # B2 = Delta/(gamma T) + E_b + E_h + L_phi gamma C^2 / 2, gamma = 0.25
    b2 = 20 / (0.25 * 300) + t.E_b + t.E_h + 1.5 * 0.25 * 36 / 2
    assert th.bound_b2(c) == pytest.approx(b2)
    b1 = (20 / 75 + t.E_b + t.E_h + 1.5 * 0.25 * t.eps_v**2) / (1 - 0.375)
    assert th.bound_b1(c) == pytest.approx(b1)


def test_federated_terms_hand_values_noise():
    c = consts(sigma=0.5, K=1, beta=100.0, zeta=0.0)
    t = th.federated_terms(c)
    rm = SQ2
    assert t.C_sigma == pytest.approx(6 + rm * 0.5)
    p0 = (2 + rm) * 6 * 0.5 + 2 * 0.25  # (M + sqrt M) C sigma + M sigma^2
    assert t.P[0] == pytest.approx(p0)
    assert t.ell[0] == pytest.approx(p0 / 100)
    e_n = min(rm * 6 * 0.5, 2 * 0.25 * ((rm + 1) * 36 / 100 + 2**0.25 * 6 / 10))
    assert t.E_n == pytest.approx(e_n)
    q_n = math.sqrt(min(2, 2 * (rm + 1) ** 2 * 36 * 2 * 0.25 / 1e4 + 2 * 2 * 0.25 / 100))
    assert t.r[0] == pytest.approx(min(math.sqrt(SQ2 * p0 / 100), SQ2, 0.0 + q_n))
    assert t.eps_v == pytest.approx(rm * 0.5 + 0 + rm * 6 * t.r[0])


def test_b3_grid_points_are_admissible_and_minimal():
    c = consts(beta=1e4, eta=0.005)
    t = th.federated_terms(c)
    b3 = th.bound_b3(c, t)
    assert b3.admissible_points == th.federated.B3_GRID_SIZE
    assert b3.a * (1 + 1 / b3.rho) * c.M * c.C**2 <= c.beta
    assert b3.value == pytest.approx(th.b3_value(c, t, b3.a, b3.rho, b3.variant))
    # any other admissible point is no better
    for a in (1e-4, 1e-2, 0.1):
        rho = a * c.M * c.C**2 / (c.beta - a * c.M * c.C**2) * 1.01
        assert th.b3_value(c, t, a, rho, "eps_v") >= b3.value
    with pytest.raises(ValueError, match="not admissible"):
        th.b3_value(c, t, 0.5, 1e-6)
    assert th.bound_b3(consts(beta=0.0)).value == math.inf


def test_bound_is_nonincreasing_in_beta():
    vals = [th.federated_bound(consts(beta=b, sigma=0.3)).value for b in (0.0, 1e-2, 1.0, 1e2, 1e4, 1e6)]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(vals, vals[1:]))


def test_beta_zero_conventions():
    # P_0 = 0 (zeta = sigma = 0) at K = 1: the heterogeneity term vanishes even at beta = 0
    t = th.federated_terms(consts(beta=0.0, zeta=0.0, K=1))
    assert t.ell[0] == 0.0 and t.E_h == 0.0
    t = th.federated_terms(consts(beta=0.0))
    np.testing.assert_array_equal(t.ell, SQ2)
    t = th.federated_terms(consts(beta=0.0, sigma=0.1))
    assert t.E_n == pytest.approx(SQ2 * 6 * 0.1)


def test_rate_corollary_hand_values_and_b2_domination():
    c = consts(beta=50.0, sigma=0.2, eta_g=1.0)
    rc = th.rate_constants(c)
    cs = 6 + SQ2 * 0.2
    assert rc.A == pytest.approx(1.5 * cs**2 / 2 + 6 * 2 * cs / 2 + 2 * 216 * 2 * cs / 50)
    p0 = 2 * SQ2 * 6 * 0.5 + (2 + SQ2) * 6 * 0.2 + 2 * 0.04
    assert rc.H0 == pytest.approx(th.federated_terms(c).E_n + SQ2 * 36 * min(SQ2, p0 / 50))
    step = th.optimal_step(c.delta, rc.A, c.T)
    assert step == pytest.approx(math.sqrt(20 / (rc.A * 300)))
    assert th.rate_bound(c.delta, rc.A, rc.H0, c.T) == pytest.approx(th.rate_bound(c.delta, rc.A, rc.H0, c.T, step))
    # the corollary bound dominates B2 for every eta (eta_g = 1)
    for eta in (1e-4, 1e-3, 1e-2, 0.1):
        cc = c.replace(eta=eta)
        assert th.bound_b2(cc) <= th.rate_bound(c.delta, rc.A, rc.H0, c.T, eta * c.K) * (1 + 1e-12)


def test_lemma1_bound_matches_solutions():
    rng = np.random.default_rng(0)
    for _ in range(200):
        ja, jb = rng.normal(size=(2, 3, 5))
        beta = float(rng.uniform(0.01, 10))
        qa, qb = ja @ ja.T, jb @ jb.T
        la = solve_min_norm(gram=qa, beta=beta).weights
        lb = solve_min_norm(gram=qb, beta=beta).weights
        bound = th.lemma1_bound(qa, qb, lb, beta)
        assert np.linalg.norm(la - lb) <= bound * (1 + 1e-9) + 1e-12
        assert bound <= th.lemma1_bound(qa, qb, lb, beta, projected=False) + 1e-15
    # hand value: Q - Q' = diag(1, 0), lambda' = (0.5, 0.5): (0.5, 0) projected -> (0.25, -0.25), norm sqrt(0.125)
    assert th.lemma1_bound(np.diag([2.0, 1.0]), np.eye(2), np.array([0.5, 0.5]), 2.0) == pytest.approx(math.sqrt(0.125) / 2)
    assert th.lemma1_bound(np.eye(2), np.eye(2), np.array([0.5, 0.5]), 0.0) == 0.0
    assert th.lemma1_bound(np.diag([2.0, 1.0]), np.eye(2), np.array([0.5, 0.5]), 0.0) == math.inf


def test_lemma2_hand_values():
    assert th.lemma1_jacobian_bound(4, 2.0, 0.1, 8.0) == pytest.approx(2 * 2 * 2 * 0.1 / 8)
    assert th.lemma2_client_server_apriori(4, 2.0, 0.1, 1.0, 0.1, 3, 100.0) == pytest.approx(2 * 2 * 2 * (0.1 + 0.6) / 100)
    assert th.lemma2_pair_bound(4, 2.0, 0.1, 1.0, 0.1, 3, 100.0) == pytest.approx(4 * 2 * 2 * 0.7 / 100)
    assert th.lemma2_pair_bound(4, 2.0, 0.1, 1.0, 0.1, 3, 0.01) == pytest.approx(SQ2)
    assert th.lemma2_client_server_bound(4, 2.0, 0.1, 1.0, 0.5, 1.0, 10.0) == pytest.approx(2 * 0.6 * 3 / 10)
    assert th.lemma2_pair_stochastic_k0(4, 2.0, 0.1, 0.5, 100.0) == pytest.approx((4 * 2 * 2 * 0.1 + 2 * 6 * 2 * 0.5 + 2 * 4 * 0.25) / 100)
    np.testing.assert_allclose(th.lemma2_noise_bound(4, 2.0, np.array([0.0, 1.0]), 10.0), [0.0, (3 * 2 + 1) / 10])


def test_the_counterexample_disagreement_is_not_monotone_in_beta():
    """REFERENCE's counterexample: two clients with lambda_0 = (0.3, 0.7), ||g1 - g2||^2 = 1 and 4."""
    def client(scale):
        # 0.3 g1 + 0.7 g2 = 0, so the beta = 0 solution is (0.3, 0.7); ||g1 - g2||^2 = scale^2
        return np.array([[0.7 * scale, 0.0], [-0.3 * scale, 0.0]])
    dist = []
    for beta in (0.0, 0.1, 1.0, 10.0):
        la = solve_min_norm(client(1.0), beta=beta).weights
        lb = solve_min_norm(client(2.0), beta=beta).weights
        dist.append(np.linalg.norm(la - lb))
    np.testing.assert_allclose(dist, [0.0, 0.0337, 0.0943, 0.0337], atol=5e-4)


@pytest.mark.parametrize("field,value,exc", [
    ("L", -1.0, ValueError), ("L", float("nan"), ValueError), ("L_phi", 3.0, ValueError), ("C", -0.1, ValueError),
    ("M", 0, ValueError), ("M", 2.5, TypeError), ("beta", -1.0, ValueError), ("eta", 0.0, ValueError),
    ("K", True, TypeError), ("T", 0, ValueError), ("delta", "x", TypeError),
])
def test_bound_constants_validation_names_field_and_value(field, value, exc):
    with pytest.raises(exc, match=rf"`{field}`.*{value!r}" if exc is ValueError else rf"`{field}`"):
        consts(**{field: value})


def test_function_validation():
    with pytest.raises(ValueError, match="`gamma` must be < 2 / L_phi"):
        th.theorem1_bound(1.0, 2.0, 1.5, 10)
    with pytest.raises(ValueError, match="`T`"):
        th.theorem1_bound(1.0, 0.1, 1.5, 0)
    with pytest.raises(ValueError, match="`beta` > 0"):
        th.rate_constants(consts(beta=0.0))
    with pytest.raises(ValueError, match="`preference`"):
        th.lemma0b_allowance(1.0, [0.5, 0.6], 0)
    with pytest.raises(ValueError, match="`m`"):
        th.lemma0b_allowance(1.0, [0.5, 0.5], 2)
    with pytest.raises(ValueError, match="`gram_prime`"):
        th.lemma1_bound(np.eye(2), np.eye(3), [0.5, 0.5], 1.0)
    with pytest.raises(TypeError, match="`consts`"):
        th.federated_bound({"L": 1})
    with pytest.raises(ValueError, match="`noise_norm`"):
        th.lemma2_noise_bound(2, 1.0, [-1.0], 1.0)


def test_lemma0c_sharpened_constant_holds_and_is_nearly_tight():
    """||d_beta||^2 <= phi + (beta/2) ||lambda* - p||^2 (REFERENCE states beta); some instance uses > 1/2 of
    the beta/2 allowance, so beta/4 would be wrong: the factor 1/2 is the right order."""
    rng = np.random.default_rng(0)
    used = 0.0
    for _ in range(600):
        m, d = int(rng.integers(2, 5)), int(rng.integers(1, 5))
        jac = rng.normal(size=(m, d)) * rng.uniform(0.1, 3, size=(m, 1))
        beta = float(10 ** rng.uniform(-2, 2))
        lb = solve_min_norm(jac, beta=beta).weights
        ls = solve_min_norm(jac, beta=0.0).weights
        p = np.full(m, 1 / m)
        dd, phi = float(np.sum((lb @ jac) ** 2)), float(np.sum((ls @ jac) ** 2))
        upper = float(th.lemma0c_upper(phi, beta, ls, p))
        assert phi <= dd * (1 + 1e-9) + 1e-12
        assert dd <= upper * (1 + 1e-9) + 1e-12
        if upper - phi > 1e-9:
            used = max(used, (dd - phi) / (upper - phi))
    assert 0.5 < used <= 1.0 + 1e-9
