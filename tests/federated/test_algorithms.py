"""Each algorithm against an independent hand computation (N = 2 clients, K = 1, M = 2 quadratics),
FIRM's limits (beta -> inf: FedAvg-LS; beta = 0, N = K = 1: MGDA gradient descent), and exact
communication counts."""

import numpy as np
import pytest

from firm_core import solve_min_norm
from firm_core.federated import ALGORITHMS, AlgorithmConfig, make_algorithm, sample_participants, sample_round
from tests.federated._problems import ScalarQuadratic, mgda_weight_m2, random_scalar_quadratic

#: Hand formulas vs the engine: the same arithmetic up to a few roundings.
HAND_TOL = 1e-12
#: FIRM at beta = BIG_BETA vs FedAvg-LS: lambda* = p + O(||Q|| / beta).
BIG_BETA = 1e12
LIMIT_TOL = 1e-9

W = np.array([0.3, 0.7])
LR, SERVER_LR = 0.1, 0.5


def _two_client_problem():
    a = np.array([[1.0, 2.0], [0.5, 1.5]])
    c = np.array([[[1.0, 0.0], [0.0, 2.0]], [[-1.0, 1.0], [2.0, -1.0]]])
    return ScalarQuadratic(a, c, weights=W, x0=np.array([0.5, -1.5]))


def _one_round(prob, **cfg):
    algo = make_algorithm(AlgorithmConfig(local_steps=1, lr=LR, server_lr=SERVER_LR, **cfg))
    state = algo.init(prob)
    new_state, out = algo.step(prob, state)
    return state.x, new_state, out


def _server(x, ys):
    return x + SERVER_LR * (W[0] * (ys[0] - x) + W[1] * (ys[1] - x))


@pytest.mark.parametrize("beta", [0.0, 0.4, 3.0])
def test_firm_hand_computed(beta):
    prob = _two_client_problem()
    p = (0.2, 0.8)
    x, state, out = _one_round(prob, name="firm", beta=beta, preference=p)
    ys, lams = [], []
    for i in range(2):
        g1, g2 = prob.grad(i, 0, x), prob.grad(i, 1, x)
        lam = mgda_weight_m2(g1, g2, beta=beta, p1=p[0])
        lams.append(lam)
        ys.append(x - LR * (lam[0] * g1 + lam[1] * g2))
    np.testing.assert_allclose(state.x, _server(x, ys), rtol=0, atol=HAND_TOL)
    np.testing.assert_allclose(out.client_lambdas, lams, rtol=0, atol=HAND_TOL)
    np.testing.assert_allclose(out.lambda_mean, np.mean(lams, axis=0), rtol=0, atol=HAND_TOL)
    assert state.round == 1


def test_local_mgda_is_firm_with_beta_zero():
    prob = _two_client_problem()
    _, s_mgda, _ = _one_round(prob, name="local_mgda")
    _, s_firm, _ = _one_round(prob, name="firm", beta=0.0)
    np.testing.assert_array_equal(s_mgda.x, s_firm.x)
    x = prob.initial_point()
    ys = [x - LR * np.array([prob.grad(i, 0, x), prob.grad(i, 1, x)]).T @ mgda_weight_m2(prob.grad(i, 0, x), prob.grad(i, 1, x))
          for i in range(2)]
    np.testing.assert_allclose(s_mgda.x, _server(x, ys), rtol=0, atol=HAND_TOL)


def test_fedavg_ls_hand_computed():
    prob = _two_client_problem()
    p = np.array([0.35, 0.65])
    x, state, out = _one_round(prob, name="fedavg_ls", preference=tuple(p))
    ys = [x - LR * (p[0] * prob.grad(i, 0, x) + p[1] * prob.grad(i, 1, x)) for i in range(2)]
    np.testing.assert_allclose(state.x, _server(x, ys), rtol=0, atol=HAND_TOL)
    np.testing.assert_array_equal(out.lambda_mean, p)


@pytest.mark.parametrize("name", ["fmgda", "fsmgda"])
def test_fmgda_hand_computed(name):
    prob = _two_client_problem()  # noise-free, so FSMGDA's stochastic oracle equals the full one
    x, state, out = _one_round(prob, name=name)
    d = [sum(W[i] * LR * prob.grad(i, m, x) for i in range(2)) for m in range(2)]  # averaged updates
    lam = mgda_weight_m2(d[0], d[1])
    np.testing.assert_allclose(out.lambda_mean, lam, rtol=0, atol=HAND_TOL)
    np.testing.assert_allclose(state.x, x - SERVER_LR * (lam[0] * d[0] + lam[1] * d[1]), rtol=0, atol=HAND_TOL)
    assert out.client_lambdas is None


def test_fmgda_uses_full_gradients_and_fsmgda_stochastic_ones():
    prob = random_scalar_quadratic(num_clients=3, num_objectives=2, dim=3, noise_std=0.5)
    _, s_full, _ = _one_round(prob, name="fmgda")
    noiseless = random_scalar_quadratic(num_clients=3, num_objectives=2, dim=3, noise_std=0.0)
    _, s_ref, _ = _one_round(noiseless, name="fmgda")
    _, s_sto, _ = _one_round(prob, name="fsmgda")
    np.testing.assert_array_equal(s_full.x, s_ref.x)
    assert np.max(np.abs(s_sto.x - s_full.x)) > 1e-3


@pytest.mark.parametrize("beta", [0.0, 0.6])
def test_fedcmoo_hand_computed_with_full_rank_sketch(beta):
    prob = _two_client_problem()
    p = (0.4, 0.6)
    x, state, out = _one_round(prob, name="fedcmoo", fedcmoo_variant="exact_lambda", sketch_rank=2, beta=beta,
                               preference=p)
    g = [sum(W[i] * prob.grad(i, m, x) for i in range(2)) for m in range(2)]  # exact sketch: global Jacobian
    lam = mgda_weight_m2(g[0], g[1], beta=beta, p1=p[0])
    ys = [x - LR * (lam[0] * prob.grad(i, 0, x) + lam[1] * prob.grad(i, 1, x)) for i in range(2)]
    np.testing.assert_allclose(out.lambda_mean, lam, rtol=0, atol=HAND_TOL)
    np.testing.assert_allclose(state.x, _server(x, ys), rtol=0, atol=HAND_TOL)


def test_fedcmoo_rank_one_sketch_uses_each_clients_best_rank_one_jacobian():
    prob = _two_client_problem()
    x, state, out = _one_round(prob, name="fedcmoo", fedcmoo_variant="exact_lambda", sketch_rank=1)
    est = np.zeros((2, 2))
    for i in range(2):
        jac = np.array([prob.grad(i, 0, x), prob.grad(i, 1, x)])
        u, s, vt = np.linalg.svd(jac)
        est += W[i] * s[0] * np.outer(u[:, 0], vt[0])
    lam = mgda_weight_m2(est[0], est[1])
    np.testing.assert_allclose(out.lambda_mean, lam, rtol=0, atol=HAND_TOL)


@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_firm_with_huge_beta_is_fedavg_ls(noise):
    prob = random_scalar_quadratic(num_clients=5, num_objectives=3, dim=4, noise_std=noise, seed=2)
    p = (0.2, 0.5, 0.3)
    common = dict(local_steps=4, lr=0.05, server_lr=0.8, preference=p, participation=3, seed=5)
    firm, ls = make_algorithm(AlgorithmConfig(name="firm", beta=BIG_BETA, **common)), make_algorithm(
        AlgorithmConfig(name="fedavg_ls", **common))
    s1, s2 = firm.init(prob), ls.init(prob)
    for _ in range(10):
        s1, _ = firm.step(prob, s1)
        s2, _ = ls.step(prob, s2)
    np.testing.assert_allclose(s1.x, s2.x, rtol=0, atol=LIMIT_TOL)
    np.testing.assert_allclose(s1.server_lambda, p, rtol=0, atol=LIMIT_TOL)
    assert np.max(np.abs(s1.x - prob.initial_point())) > 0.1  # it moved


def test_firm_beta_zero_single_client_single_step_is_mgda_descent():
    rng = np.random.default_rng(3)
    prob = ScalarQuadratic(rng.uniform(0.5, 2, size=(1, 2)), rng.normal(size=(1, 2, 3)) * 2, x0=rng.normal(size=3) * 3)
    lr, server_lr = 0.2, 0.7
    algo = make_algorithm(AlgorithmConfig(name="firm", beta=0.0, local_steps=1, lr=lr, server_lr=server_lr))
    state = algo.init(prob)
    x = prob.initial_point()
    for _ in range(25):
        g1, g2 = prob.grad(0, 0, x), prob.grad(0, 1, x)
        lam = mgda_weight_m2(g1, g2)
        x = x - server_lr * lr * (lam[0] * g1 + lam[1] * g2)
        state, _ = algo.step(prob, state)
        np.testing.assert_allclose(state.x, x, rtol=0, atol=HAND_TOL)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_communication_counts_are_exact(name):
    n, m, d, s, r = 6, 3, 5, 4, 2
    prob = random_scalar_quadratic(num_clients=n, num_objectives=m, dim=d, noise_std=0.1)
    algo = make_algorithm(AlgorithmConfig(name=name, participation=s, sketch_rank=r, beta=None))
    state = algo.init(prob)
    _, record = algo.round(prob, state)
    # FedCMOO (official variant): sketch r (M + d), Gram, cross term and residual Gram (M^2 each), model;
    # down: model, the compressed sum of the sketches r (M + d), the client's weight factor, lambda
    up = {"fmgda": m * d, "fsmgda": m * d, "fedcmoo": r * (m + d) + 3 * m * m + d}.get(name, d)
    down = d + r * (m + d) + 1 + m if name == "fedcmoo" else d
    ids, _ = sample_round(state.seed, 0, prob.client_weights, s)
    assert record.participants == tuple(ids.tolist())
    n_run = len(ids)  # a client drawn twice runs (and communicates) once
    assert 1 <= n_run <= s
    assert record.uplink_floats == n_run * up
    assert record.downlink_floats == n_run * down
    assert record.uplink_bytes == 8 * n_run * up and record.downlink_bytes == 8 * n_run * down


def test_fmgda_uplink_is_m_times_firm():
    prob = random_scalar_quadratic(num_clients=4, num_objectives=3, dim=7)
    rec = {}
    for name in ("firm", "fmgda"):
        algo = make_algorithm(AlgorithmConfig(name=name))
        rec[name] = algo.round(prob, algo.init(prob))[1]
    assert rec["fmgda"].uplink_floats == 3 * rec["firm"].uplink_floats == 3 * 4 * 7


def test_participant_sampling_is_seeded_and_distinct():
    w = np.random.default_rng(0).uniform(0.5, 1.5, size=20)
    a = sample_participants(3, 7, 20, 5, weights=w)
    assert np.array_equal(a, sample_participants(3, 7, 20, 5, weights=w))
    assert np.array_equal(a, sample_round(3, 7, w, 5)[0])
    assert 1 <= a.size <= 5 and np.all(np.diff(a) > 0)
    draws = {tuple(sample_participants(3, t, 20, 5)) for t in range(10)}
    assert len(draws) > 5  # it changes from round to round
    np.testing.assert_array_equal(sample_participants(3, 7, 20, None), np.arange(20))


def test_client_weights_are_the_sampling_counts_renormalized_over_participants():
    prob = random_scalar_quadratic(num_clients=5, num_objectives=2, dim=2, weights=np.array([0.1, 0.2, 0.3, 0.15, 0.25]))
    cfg = AlgorithmConfig(name="fedavg_ls", participation=3, local_steps=1, lr=0.1, seed=4)
    algo = make_algorithm(cfg)
    state = algo.init(prob)
    for t in range(12):  # rounds with a repeated draw and rounds without
        new, out = algo.step(prob, state)
        draws = np.random.default_rng([cfg.seed, t, 0, 1]).choice(5, size=3, replace=True, p=prob.client_weights)
        ids, counts = np.unique(draws, return_counts=True)
        np.testing.assert_array_equal(out.participants, ids)
        x = state.x
        ys = [x - 0.1 * 0.5 * (prob.grad(i, 0, x) + prob.grad(i, 1, x)) for i in ids]
        np.testing.assert_allclose(new.x, x + (counts / 3) @ (np.array(ys) - x), rtol=0, atol=HAND_TOL)
        np.testing.assert_allclose(out.weights, counts / 3, rtol=0, atol=HAND_TOL)
        state = new


#: FedCMOO sketch test: the rank-1 sketch's lambda must differ from the unsketched one by at least this
#: much on the chosen instance (it differs by 0.22), so an implementation that skips the sketch fails.
SKETCH_EFFECT = 0.1


def _sketch_instance():
    """M = 3 objectives, two clients with full-rank (rank-3) Jacobians J_i = -c_i at x_0 = 0, unequal weights."""
    c = np.random.default_rng(4).normal(size=(2, 3, 4))
    return ScalarQuadratic(np.ones((2, 3)), c, weights=W, x0=np.zeros(4)), c


def _fedcmoo_lambda_matches_rank_one_sketch(lam, c, beta):
    """Independent check: lambda*(G G^T; beta, uniform p) with G = sum_i w_i (best rank-1 approximation of J_i)."""
    est = np.zeros((3, 4))
    for i in range(2):
        u, s, vt = np.linalg.svd(-c[i])
        est += W[i] * s[0] * np.outer(u[:, 0], vt[0])
    want = solve_min_norm(est, beta=beta, method="active_set").weights
    return bool(np.max(np.abs(lam - want)) <= HAND_TOL)


def _no_sketch(jac, rank, rngs):
    """A wrong FedCMOO client: uploads its Jacobian exactly (left = J, right = I) whatever the rank."""
    jac = np.asarray(jac)
    n, _, d = jac.shape
    return jac, np.broadcast_to(np.eye(d), (n, d, d))


def test_fedcmoo_lambda_comes_from_the_rank_one_sketch_not_the_full_jacobian(monkeypatch):
    from firm_core.federated.algorithms import fedcmoo

    prob, c = _sketch_instance()
    beta = 1.0
    _, _, out = _one_round(prob, name="fedcmoo", fedcmoo_variant="exact_lambda", sketch_rank=1, beta=beta)
    assert _fedcmoo_lambda_matches_rank_one_sketch(out.lambda_mean, c, beta)
    unsketched = solve_min_norm(prob.jacobian(np.zeros(4)), beta=beta, method="active_set").weights
    assert np.max(np.abs(out.lambda_mean - unsketched)) > SKETCH_EFFECT  # the instance makes the sketch matter
    # a FedCMOO that skips the sketch (uploads J_i exactly) is caught by the same check
    monkeypatch.setattr(fedcmoo, "randomized_svd_sketch", _no_sketch)
    _, _, skipped = _one_round(prob, name="fedcmoo", fedcmoo_variant="exact_lambda", sketch_rank=1, beta=beta)
    np.testing.assert_allclose(skipped.lambda_mean, unsketched, rtol=0, atol=1e-9)
    assert not _fedcmoo_lambda_matches_rank_one_sketch(skipped.lambda_mean, c, beta)
