"""The per-client local update: hand-computed iterates, batch independence, faults, the FedCMOO sketch."""

import numpy as np
import pytest

from firm_core.federated import (
    client_rngs,
    local_update,
    per_objective_local_update,
    randomized_svd_sketch,
    resolve_method,
    sketch_floats,
)
from firm_core.min_norm import pick_method
from tests.federated._problems import FaultyProblem, mgda_weight_m2, random_scalar_quadratic

#: Batched vs one-at-a-time: identical math, only summation order may differ.
BATCH_INDEPENDENCE_TOL = 1e-12
#: Hand formulas vs the engine: a few roundings apart.
HAND_TOL = 1e-12


def test_firm_local_steps_match_hand_computation():
    prob = random_scalar_quadratic(num_clients=3, num_objectives=2, dim=3)
    x = prob.initial_point()
    beta, p, lr, k_steps = 0.7, np.array([0.3, 0.7]), 0.1, 3
    res = local_update(prob, [0, 2], x, client_rngs(0, 0, [0, 2]), local_steps=k_steps, lr=lr, beta=beta, preference=p)
    for row, i in enumerate([0, 2]):
        y = x.copy()
        for k in range(k_steps):
            g1, g2 = prob.grad(i, 0, y), prob.grad(i, 1, y)
            lam = mgda_weight_m2(g1, g2, beta=beta, p1=p[0])
            np.testing.assert_allclose(res.lambdas[row, k], lam, rtol=0, atol=HAND_TOL)
            y = y - lr * (lam[0] * g1 + lam[1] * g2)
        np.testing.assert_allclose(res.y[row], y, rtol=0, atol=HAND_TOL)
    assert res.valid.all() and res.status.value == "converged"
    np.testing.assert_allclose(res.mean_lambdas, res.lambdas.mean(axis=1))


def test_scalarized_and_fixed_lambda_steps():
    prob = random_scalar_quadratic(num_clients=2, num_objectives=2, dim=2)
    x = prob.initial_point()
    p = np.array([0.2, 0.8])
    res = local_update(prob, [1], x, client_rngs(0, 0, [1]), local_steps=2, lr=0.2, preference=p, mode="scalarized")
    fixed = local_update(prob, [1], x, client_rngs(0, 0, [1]), local_steps=2, lr=0.2, mode="fixed_lambda", fixed_lambda=p)
    # p^T F_1 = 0.5 A ||x - cbar||^2 + const, A = sum p_m a_m, cbar = sum p_m a_m c_m / A: y_K = cbar + (1 - lr A)^K (x - cbar)
    a = p @ prob._a[1]
    cbar = (p * prob._a[1]) @ prob._c[1] / a
    expected = cbar + (1 - 0.2 * a) ** 2 * (x - cbar)
    np.testing.assert_allclose(res.y[0], expected, rtol=0, atol=HAND_TOL)
    np.testing.assert_array_equal(res.y, fixed.y)
    np.testing.assert_array_equal(res.lambdas[0], [p, p])


@pytest.mark.parametrize("mode", ["firm", "scalarized"])
@pytest.mark.parametrize("num_objectives", [2, 3, 5])
def test_batched_equals_one_client_at_a_time(mode, num_objectives):
    prob = random_scalar_quadratic(num_clients=6, num_objectives=num_objectives, dim=4, noise_std=0.5, seed=1)
    clients = np.array([5, 0, 3, 2])
    x = prob.initial_point()
    kw = dict(local_steps=4, lr=0.1, beta=0.05, mode=mode)
    batched = local_update(prob, clients, x, client_rngs(9, 4, clients), **kw)
    for row, c in enumerate(clients):
        alone = local_update(prob, [c], x, client_rngs(9, 4, [c]), **kw)
        np.testing.assert_allclose(batched.y[row], alone.y[0], rtol=0, atol=BATCH_INDEPENDENCE_TOL)
        np.testing.assert_allclose(batched.lambdas[row], alone.lambdas[0], rtol=0, atol=BATCH_INDEPENDENCE_TOL)
    # the noise is real: another round's generators give another result
    other = local_update(prob, clients, x, client_rngs(9, 5, clients), **kw)
    assert np.max(np.abs(other.y - batched.y)) > 1e-3


@pytest.mark.parametrize("stochastic", [False, True])
def test_per_objective_update_hand_computed_and_batch_independent(stochastic):
    prob = random_scalar_quadratic(num_clients=3, num_objectives=3, dim=2, noise_std=0.3 if stochastic else 0.0)
    x = prob.initial_point()
    clients = np.array([2, 0])
    upd, valid, _ = per_objective_local_update(prob, clients, x, client_rngs(1, 2, clients), local_steps=3, lr=0.1,
                                              stochastic=stochastic)
    assert valid.all() and upd.shape == (2, 3, 2)
    if not stochastic:  # y_K = c + (1 - lr a)^K (x - c) per objective
        for row, i in enumerate(clients):
            for m in range(3):
                c, a = prob._c[i, m], prob._a[i, m]
                np.testing.assert_allclose(upd[row, m], x - (c + (1 - 0.1 * a) ** 3 * (x - c)), rtol=0, atol=HAND_TOL)
    for row, i in enumerate(clients):
        alone, _, _ = per_objective_local_update(prob, [i], x, client_rngs(1, 2, [i]), local_steps=3, lr=0.1,
                                                 stochastic=stochastic)
        np.testing.assert_allclose(upd[row], alone[0], rtol=0, atol=BATCH_INDEPENDENCE_TOL)


#: what a dropped client's reason says for each kind of fault
FAULT_REASON = {"nan": "non-finite", "inf": "non-finite", "shape": "shape",
                "raise": "raised RuntimeError: oracle failed for client 2"}


@pytest.mark.parametrize("kind", ["nan", "inf", "shape", "raise"])
def test_faulty_client_is_dropped_and_others_unaffected(kind):
    base = random_scalar_quadratic(num_clients=4, num_objectives=2, dim=3, noise_std=0.2)
    prob = FaultyProblem(base, {2: kind})
    clients = np.array([0, 1, 2, 3])
    x = base.initial_point()
    res = local_update(prob, clients, x, client_rngs(0, 0, clients), local_steps=3, lr=0.1, beta=0.5)
    np.testing.assert_array_equal(res.valid, [True, True, False, True])
    assert FAULT_REASON[kind] in res.reasons[2]
    assert np.isnan(res.y[2]).all()
    clean = local_update(base, [0, 1, 3], x, client_rngs(0, 0, [0, 1, 3]), local_steps=3, lr=0.1, beta=0.5)
    np.testing.assert_allclose(res.y[[0, 1, 3]], clean.y, rtol=0, atol=BATCH_INDEPENDENCE_TOL)


@pytest.mark.parametrize("stochastic", [False, True])
def test_raising_client_leaves_the_per_objective_update_of_the_others_intact(stochastic):
    base = random_scalar_quadratic(num_clients=4, num_objectives=3, dim=2, noise_std=0.3)
    prob = FaultyProblem(base, {1: "raise"}, full_batch_faults=True)
    x = base.initial_point()
    upd, valid, reasons = per_objective_local_update(prob, [0, 1, 3], x, client_rngs(2, 0, [0, 1, 3]), local_steps=2,
                                                     lr=0.1, stochastic=stochastic)
    np.testing.assert_array_equal(valid, [True, False, True])
    assert "raised RuntimeError: oracle failed for client 1" in reasons[1] and np.isnan(upd[1]).all()
    clean, _, _ = per_objective_local_update(base, [0, 3], x, client_rngs(2, 0, [0, 3]), local_steps=2, lr=0.1,
                                             stochastic=stochastic)
    np.testing.assert_allclose(upd[[0, 2]], clean, rtol=0, atol=BATCH_INDEPENDENCE_TOL)


def test_a_keyboard_interrupt_in_the_oracle_is_not_swallowed():
    base = random_scalar_quadratic(num_clients=2, num_objectives=2, dim=2)
    prob = FaultyProblem(base, {}, interrupt_after_calls=0)
    with pytest.raises(KeyboardInterrupt):
        local_update(prob, [0, 1], base.initial_point(), client_rngs(0, 0, [0, 1]), local_steps=1, lr=0.1)


@pytest.mark.parametrize("mode", ["firm", "scalarized"])
def test_per_client_preferences_equal_each_client_run_alone(mode):
    prob = random_scalar_quadratic(num_clients=4, num_objectives=3, dim=3, noise_std=0.2, seed=4)
    clients = np.array([3, 0, 2])
    prefs = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2], [0.2, 0.3, 0.5]])  # two clients share a row
    x = prob.initial_point()
    kw = dict(local_steps=3, lr=0.1, beta=0.4, mode=mode)
    res = local_update(prob, clients, x, client_rngs(1, 1, clients), preference=prefs, **kw)
    for row, c in enumerate(clients):
        alone = local_update(prob, [c], x, client_rngs(1, 1, [c]), preference=prefs[row], **kw)
        np.testing.assert_allclose(res.y[row], alone.y[0], rtol=0, atol=BATCH_INDEPENDENCE_TOL)
        np.testing.assert_allclose(res.lambdas[row], alone.lambdas[0], rtol=0, atol=BATCH_INDEPENDENCE_TOL)
    shared = local_update(prob, clients, x, client_rngs(1, 1, clients), preference=prefs[0], **kw)
    assert np.max(np.abs(shared.y[1] - res.y[1])) > 1e-3  # client 0's own preference mattered
    with pytest.raises(ValueError, match="`preference`"):
        local_update(prob, clients, x, client_rngs(1, 1, clients), preference=prefs[:2], **kw)
    with pytest.raises(ValueError, match="`preference`.*probability vector"):
        local_update(prob, clients, x, client_rngs(1, 1, clients), preference=prefs * 2, **kw)


def test_every_client_faulty():
    base = random_scalar_quadratic(num_clients=2, num_objectives=2, dim=2)
    prob = FaultyProblem(base, {0: "nan", 1: "shape"})
    res = local_update(prob, [0, 1], base.initial_point(), client_rngs(0, 0, [0, 1]), local_steps=2, lr=0.1)
    assert not res.valid.any()
    assert np.isnan(res.mean_lambdas).all()


def test_diverging_client_is_dropped():
    prob = random_scalar_quadratic(num_clients=2, num_objectives=2, dim=2)
    prob._a[1] = 1e200  # the step overflows to inf for client 1 only
    with np.errstate(over="ignore", invalid="ignore"):
        res = local_update(prob, [0, 1], prob.initial_point(), client_rngs(0, 0, [0, 1]), local_steps=3, lr=0.5,
                           mode="scalarized")
    np.testing.assert_array_equal(res.valid, [True, False])
    assert res.reasons[1] is not None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(local_steps=0), "`local_steps`"),
        (dict(lr=-1.0), "`lr`"),
        (dict(mode="adam"), "`mode`"),
        (dict(mode="fixed_lambda"), "`fixed_lambda`"),
        (dict(mode="fixed_lambda", fixed_lambda=[0.2, 0.3, 0.5]), "`fixed_lambda`"),
        (dict(preference=[1.0]), "`preference`"),
        (dict(mode="scalarized", preference=[2.0, -1.0]), "`preference`.*probability vector"),
    ],
)
def test_local_update_rejects_bad_arguments(kwargs, match):
    prob = random_scalar_quadratic(num_clients=2)
    args = dict(local_steps=1, lr=0.1) | kwargs
    with pytest.raises(ValueError, match=match):
        local_update(prob, [0], prob.initial_point(), client_rngs(0, 0, [0]), **args)
    with pytest.raises(ValueError, match="`rngs`"):
        local_update(prob, [0, 1], prob.initial_point(), client_rngs(0, 0, [0]), local_steps=1, lr=0.1)
    with pytest.raises(ValueError, match="`x`"):
        local_update(prob, [0], np.zeros(7), client_rngs(0, 0, [0]), local_steps=1, lr=0.1)
    with pytest.raises(TypeError, match="`lr`.*'0.1'"):
        local_update(prob, [0], prob.initial_point(), client_rngs(0, 0, [0]), local_steps=1, lr="0.1")


@pytest.mark.parametrize(
    "kwargs, match", [(dict(local_steps=0), "`local_steps`"), (dict(lr=0.0), "`lr`"), (dict(lr=float("nan")), "`lr`")]
)
def test_per_objective_update_rejects_bad_arguments(kwargs, match):
    prob = random_scalar_quadratic(num_clients=2)
    args = dict(local_steps=1, lr=0.1, stochastic=False) | kwargs
    with pytest.raises(ValueError, match=match):
        per_objective_local_update(prob, [0], prob.initial_point(), None, **args)


def test_auto_method_does_not_depend_on_batch_size():
    assert resolve_method("auto", 2) == "closed_form"
    for m in range(3, 11):  # always the batch choice, even for one client (where plain auto differs)
        assert resolve_method("auto", m) == pick_method(m, 2)
    assert resolve_method("auto", 5) == "enumeration" != pick_method(5, 1)
    assert resolve_method("active_set", 3) == "active_set"


def test_sketch_is_the_truncated_svd_when_the_range_is_covered():
    rng = np.random.default_rng(0)
    jac = rng.normal(size=(3, 2, 50))
    left, right = randomized_svd_sketch(jac, 1, client_rngs(0, 0, [0, 1, 2]))
    assert left.shape == (3, 2, 1) and right.shape == (3, 1, 50)
    for i in range(3):
        u, s, vt = np.linalg.svd(jac[i], full_matrices=False)
        best = s[0] * np.outer(u[:, 0], vt[0])
        np.testing.assert_allclose(left[i] @ right[i], best, rtol=0, atol=1e-12)
    full_left, full_right = randomized_svd_sketch(jac, 2, client_rngs(0, 0, [0, 1, 2]))
    np.testing.assert_allclose(full_left @ full_right, jac, rtol=0, atol=1e-12)
    assert sketch_floats(1, 2, 50) == 52


def test_sketch_of_many_objectives_is_a_real_approximation():
    rng = np.random.default_rng(1)
    jac = rng.normal(size=(1, 8, 40))
    left, right = randomized_svd_sketch(jac, 2, client_rngs(0, 0, [0]))
    err = np.linalg.norm(left[0] @ right[0] - jac[0])
    s = np.linalg.svd(jac[0], compute_uv=False)
    best = np.sqrt(np.sum(s[2:] ** 2))  # Eckart-Young: no rank-2 matrix does better
    assert best <= err + 1e-12
    assert err < np.linalg.norm(jac[0])
    with pytest.raises(ValueError, match="`rank`"):
        randomized_svd_sketch(jac, 9, client_rngs(0, 0, [0]))
