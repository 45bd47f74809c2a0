"""FedCMOO as its authors run it (the default "official" variant) against rounds computed here by hand in
numpy, independently of the implementation: the bias-corrected Gram estimate, the warm-started projected
gradient lambda, the local step, the server average and the exact communication counts; and the
exact-lambda variant kept as an option."""

import numpy as np
import pytest

from firm_core import solve_min_norm
from firm_core.federated import AlgorithmConfig, make_algorithm
from firm_core.federated.algorithms import FederatedState
from firm_core.federated.server import official_gram_estimate, projected_scale_descent
from firm_core.federated.sketch import official_client_terms
from tests.federated._problems import ScalarQuadratic

#: Hand computation vs the engine: the same arithmetic in a different order, over 1000 iterations.
HAND_TOL = 1e-10
#: Official and exact-lambda variants must disagree by at least this on the instance below (the
#: 1000 steps of size 1e-3 move lambda only part of the way to the minimizer).
VARIANT_GAP = 0.05
#: A warm start must change the round's lambda by at least this on the instance below.
WARM_START_EFFECT = 0.05

W = np.array([0.3, 0.7])  # unequal client weights: the weight factors c_i = N abar_i are not 1
LR, SERVER_LR = 0.1, 0.5
ITERS, SCALE_LR, RATIO, EPS = 1000, 1e-3, 1.5, 1e-4  # the authors' defaults, restated here


def _instance(nearly_rank_one: bool):
    """N = 2 clients, M = 3 objectives, d = 4; J_i at x_0 = 0 is -a_i * c_i (rows). With ``nearly_rank_one``
    each client's Jacobian is close to rank 1 (the rank-1 sketch captures most of it); otherwise its
    singular values are (1.3, 1.0, 0.8) (distinct, so the truncated SVD is unique; the rank-1 sketch
    misses much of it)."""
    rng = np.random.default_rng(7)
    a = np.array([[1.0, 2.0, 0.5], [1.5, 0.7, 1.2]])
    if nearly_rank_one:
        c = rng.normal(size=(2, 3, 1)) * rng.normal(size=(2, 1, 4)) + 0.05 * rng.normal(size=(2, 3, 4))
    else:
        u = np.linalg.qr(rng.normal(size=(2, 3, 3)))[0]
        v = np.linalg.qr(rng.normal(size=(2, 4, 3)))[0]
        c = (u * np.array([1.3, 1.0, 0.8])) @ np.swapaxes(v, 1, 2) / a[:, :, None]
    return ScalarQuadratic(a, c, weights=W, x0=np.zeros(4))


def _jacobians(prob, x):
    return np.array([[prob.grad(i, m, x) for m in range(3)] for i in range(2)])


def _best_rank_one(a):
    u, s, vt = np.linalg.svd(a)
    return s[0] * np.outer(u[:, 0], vt[0])


#: The supports a point of the 3-simplex can have (rows: objectives kept positive).
SUPPORTS = np.array([[(k >> j) & 1 for j in range(3)] for k in range(1, 8)], dtype=bool)


def _simplex(v):
    """Projection onto the 3-simplex by support enumeration (independent of the library's sort-based one):
    the support S whose threshold theta = (sum_S v - 1) / |S| keeps exactly S positive."""
    theta = (SUPPORTS @ v - 1.0) / SUPPORTS.sum(axis=1)
    keep = np.all((v[None, :] > theta[:, None]) == SUPPORTS, axis=1)
    return np.maximum(v - theta[np.flatnonzero(keep)[0]], 0.0)


def _hand_estimate(jac, weights):
    """The authors' estimate of G G^T, written out term by term for N = 2; also returns whether the
    residual term was used."""
    f = 2 * weights / weights.sum()
    b = [f[i] * jac[i] for i in range(2)]
    cs = [_best_rank_one(b[i]) for i in range(2)]  # M = 3 <= r + oversample: the sketch is the truncated SVD
    s = _best_rank_one(cs[0] + cs[1])
    ds = [b[i] - cs[i] for i in range(2)]
    q = sum(b[i] @ b[i].T + cs[i] @ (s - cs[i]).T + 2 * ds[i] @ (s - cs[i]).T for i in range(2))
    ratio = np.sqrt(sum(np.sum(ci**2) for ci in cs) / sum(np.sum(di**2) for di in ds))
    residual_used = ratio <= RATIO
    if residual_used:
        q = q + (2 - 1) * sum(di @ di.T for di in ds)
    return q / 2, residual_used


def _hand_lambda(q, start, iters=ITERS):
    n = np.mean(np.sqrt(np.diag(q) + EPS))
    qn = q / n**2
    lam = np.array(start, dtype=float)
    for _ in range(iters):
        lam = _simplex(lam - SCALE_LR * (qn @ lam))
    return lam


def _algo(**kw):
    return make_algorithm(AlgorithmConfig(name="fedcmoo", local_steps=1, lr=LR, server_lr=SERVER_LR, sketch_rank=1, **kw))


@pytest.mark.parametrize("nearly_rank_one", [False, True], ids=["residual-term-used", "residual-term-dropped"])
def test_official_round_matches_the_hand_computation(nearly_rank_one):
    prob = _instance(nearly_rank_one)
    algo = _algo()
    state = algo.init(prob)
    new_state, out = algo.step(prob, state)
    x = state.x
    jac = _jacobians(prob, x)
    q, residual_used = _hand_estimate(jac, W)
    assert bool(residual_used) == (not nearly_rank_one)  # the instance exercises the intended branch
    lam = _hand_lambda(q, np.full(3, 1 / 3))
    np.testing.assert_allclose(out.lambda_mean, lam, rtol=0, atol=HAND_TOL)
    np.testing.assert_allclose(new_state.server_lambda, lam, rtol=0, atol=HAND_TOL)
    ys = [x - LR * lam @ jac[i] for i in range(2)]
    want_x = x + SERVER_LR * (W[0] * (ys[0] - x) + W[1] * (ys[1] - x))
    np.testing.assert_allclose(new_state.x, want_x, rtol=0, atol=HAND_TOL)
    m, d, r = 3, 4, 1
    assert out.uplink_floats == 2 * (r * (m + d) + 3 * m * m + d)
    assert out.downlink_floats == 2 * (d + r * (m + d) + 1 + m)
    assert out.solver_status == "max_iter"  # 1000 steps of 1e-3 do not reach the minimizer here


def test_official_and_exact_lambda_variants_differ():
    """A FedCMOO that silently ran the exact solve would fail here (and in the hand computation above)."""
    prob = _instance(False)
    official = _algo()
    exact = _algo(fedcmoo_variant="exact_lambda")
    _, out_official = official.step(prob, official.init(prob))
    _, out_exact = exact.step(prob, exact.init(prob))
    assert np.max(np.abs(out_official.lambda_mean - out_exact.lambda_mean)) > VARIANT_GAP
    # the exact variant: lambda*(G G^T) with G = sum_i abar_i (best rank-1 approximation of J_i), no warm start
    jac = _jacobians(prob, prob.initial_point())
    g = sum(W[i] * _best_rank_one(jac[i]) for i in range(2))
    want = solve_min_norm(g, method="active_set").weights
    np.testing.assert_allclose(out_exact.lambda_mean, want, rtol=0, atol=HAND_TOL)
    m, d = 3, 4
    assert out_exact.uplink_floats == 2 * ((m + d) + d) and out_exact.downlink_floats == 2 * (d + m)


def test_official_lambda_is_warm_started_from_the_state():
    prob = _instance(False)
    algo = _algo()
    state = algo.init(prob)
    start = np.array([0.1, 0.2, 0.7])
    _, out = algo.step(prob, state._replace(server_lambda=start))
    q, _ = _hand_estimate(_jacobians(prob, state.x), W)
    np.testing.assert_allclose(out.lambda_mean, _hand_lambda(q, start), rtol=0, atol=HAND_TOL)
    cold = _hand_lambda(q, np.full(3, 1 / 3))
    assert np.max(np.abs(out.lambda_mean - cold)) > WARM_START_EFFECT  # a cold-starting server fails here


def test_second_round_starts_from_the_first_rounds_lambda_and_resumes_from_plain_arrays():
    prob = _instance(False)
    algo = _algo()
    s1, _ = algo.step(prob, algo.init(prob))
    s2, out2 = algo.step(prob, s1)
    q, _ = _hand_estimate(_jacobians(prob, s1.x), W)
    np.testing.assert_allclose(out2.lambda_mean, _hand_lambda(q, s1.server_lambda), rtol=0, atol=HAND_TOL)
    # a state rebuilt from plain copies (as a checkpoint would) continues bit for bit
    copy = FederatedState(int(s1.round), np.array(s1.x), int(s1.seed), np.array(s1.server_lambda))
    s2b, _ = algo.step(prob, copy)
    np.testing.assert_array_equal(s2b.x, s2.x)
    np.testing.assert_array_equal(s2b.server_lambda, s2.server_lambda)


@pytest.mark.parametrize("nearly_rank_one", [False, True], ids=["residual-term-used", "residual-term-dropped"])
def test_estimate_is_exact_up_to_the_residual_cross_terms_when_the_sum_is_not_recompressed(nearly_rank_one):
    """With S = sum_i C_i, the symmetric part of n Q is G G^T - sum_{i != j} D_i D_j^T, plus
    (n - 1) sum_i D_i D_i^T when the residual term is used."""
    rng = np.random.default_rng(3)
    b = rng.normal(size=(3, 4, 6))
    if nearly_rank_one:
        b = rng.normal(size=(3, 4, 1)) * rng.normal(size=(3, 1, 6)) + 0.05 * b
    cs = np.array([_best_rank_one(bi) for bi in b])
    ds, s, g = b - cs, cs.sum(axis=0), b.sum(axis=0)
    used = np.sum(cs**2) <= RATIO**2 * np.sum(ds**2)
    assert bool(used) == (not nearly_rank_one)  # the instance exercises the intended branch
    q = official_gram_estimate(*official_client_terms(b, cs, s), cs, s)
    cross_residuals = sum(ds[i] @ ds[j].T for i in range(3) for j in range(3) if i != j)
    resid = (3 - 1) * sum(di @ di.T for di in ds) if used else 0.0
    scale = np.abs(g @ g.T).max()
    np.testing.assert_allclose(3 * 0.5 * (q + q.T), g @ g.T - cross_residuals + resid, rtol=0, atol=1e-12 * scale)
    # an exact sketch (C_i = B_i, S = G) gives (1/n) G G^T exactly
    q_exact = official_gram_estimate(*official_client_terms(b, b, g), b, g)
    np.testing.assert_allclose(q_exact, g @ g.T / 3, rtol=0, atol=1e-12 * scale)


def test_projected_scale_descent_steps_momentum_and_regularizer_by_hand():
    q = np.array([[4.0, 1.0, -0.5], [1.0, 2.0, 0.3], [-0.5, 0.3, 1.0]])
    start, p, mom, beta, lr = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.5, 0.3]), 0.6, 0.8, 0.2
    n2 = np.mean(np.sqrt(np.diag(q) + EPS)) ** 2
    lam, vel = start.copy(), np.zeros(3)
    for _ in range(3):
        vel = mom * vel + (q @ lam + beta * (lam - p)) / n2
        lam = _simplex(lam - lr * vel)
    got, status = projected_scale_descent(q, start, iterations=3, lr=lr, momentum=mom, beta=beta, preference=p)
    np.testing.assert_allclose(got, lam, rtol=0, atol=HAND_TOL)
    assert status.value == "max_iter"
    plain, _ = projected_scale_descent(q, start, iterations=3, lr=lr, beta=beta, preference=p)
    assert np.max(np.abs(plain - lam)) > 1e-3  # momentum changes these three steps


def test_projected_scale_descent_reaches_the_min_norm_weights_and_reports_convergence():
    q = np.array([[4.0, 1.0, -0.5], [1.0, 2.0, 0.3], [-0.5, 0.3, 1.0]])
    got, status = projected_scale_descent(q, np.full(3, 1 / 3), iterations=5000, lr=0.5)
    np.testing.assert_allclose(got, solve_min_norm(gram=q, method="active_set").weights, rtol=0, atol=1e-9)
    assert status.value == "converged"


def test_server_helpers_reject_mismatched_shapes():
    with pytest.raises(ValueError, match="projected_scale_descent: `gram`"):
        projected_scale_descent(np.eye(3), np.full(2, 0.5), iterations=1, lr=0.1)
    with pytest.raises(ValueError, match="official_client_terms"):
        official_client_terms(np.zeros((2, 3, 4)), np.zeros((2, 3, 5)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="official_gram_estimate"):
        official_gram_estimate(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), np.zeros((2, 2, 2)),
                               np.zeros((2, 3, 4)), np.zeros((3, 4)))


@pytest.mark.parametrize("field, value, error", [
    ("fedcmoo_variant", "fast", ValueError), ("fedcmoo_variant", 1, TypeError),
    ("scale_iterations", 0, ValueError), ("scale_iterations", 2.5, TypeError),
    ("scale_lr", 0.0, ValueError), ("scale_lr", float("nan"), ValueError),
    ("scale_momentum", 1.0, ValueError), ("scale_momentum", -0.1, ValueError),
])
def test_config_rejects_bad_fedcmoo_fields_naming_them(field, value, error):
    with pytest.raises(error, match=f"`{field}`"):
        AlgorithmConfig(name="fedcmoo", **{field: value})


def test_config_defaults_are_the_authors_and_round_trip():
    c = AlgorithmConfig(name="fedcmoo")
    assert (c.fedcmoo_variant, c.scale_iterations, c.scale_lr, c.scale_momentum) == ("official", 1000, 1e-3, 0.0)
    e = AlgorithmConfig(name="fedcmoo", fedcmoo_variant="exact_lambda", scale_iterations=7, scale_momentum=0.5)
    assert AlgorithmConfig.from_dict(e.to_dict()) == e
