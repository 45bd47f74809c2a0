"""The federated clients take FIRM's step through firm_core.weighting (its one home)."""

import numpy as np
import pytest

from firm_core.federated import client_rngs, local_update
from firm_core.weighting import combine, firm_step, firm_weights
from tests.federated._problems import random_scalar_quadratic

#: The same arithmetic in the same order: equal to the last bit.
SAME_TOL = 0.0
#: Gram path vs Jacobian path of firm_weights: one solve on J J^T formed once or twice.
PATH_TOL = 1e-12


def test_local_update_is_firm_step_iterated():
    prob = random_scalar_quadratic(num_clients=3, num_objectives=3, dim=4, noise_std=0.2, seed=3)
    clients, x, p = np.array([0, 2]), prob.initial_point(), np.array([0.5, 0.3, 0.2])
    res = local_update(prob, clients, x, client_rngs(4, 1, clients), local_steps=3, lr=0.1, beta=0.8, preference=p)
    rngs = client_rngs(4, 1, clients)
    y = np.tile(x, (2, 1))
    for k in range(3):
        jac = prob.stochastic_jacobians(clients, y, rngs)
        y, lam, _ = firm_step(y, jac, 0.1, beta=0.8, preference=p, method="enumeration")
        np.testing.assert_allclose(res.lambdas[:, k], lam, rtol=0, atol=SAME_TOL)
    np.testing.assert_allclose(res.y, y, rtol=0, atol=SAME_TOL)


def test_firm_weights_from_the_jacobian_equals_the_gram_path():
    jac = np.random.default_rng(0).normal(size=(5, 3, 7))
    p = np.array([0.2, 0.2, 0.6])
    a, _, _ = firm_weights(jacobian=jac, beta=0.5, preference=p)
    b, _, _ = firm_weights(jac @ np.swapaxes(jac, -1, -2), beta=0.5, preference=p)
    np.testing.assert_allclose(a, b, rtol=0, atol=PATH_TOL)
    inf, _, _ = firm_weights(jacobian=jac, beta=np.inf, preference=p)
    np.testing.assert_array_equal(inf, np.broadcast_to(p, (5, 3)))
    np.testing.assert_allclose(combine(a, jac), np.einsum("nm,nmd->nd", a, jac), rtol=0, atol=PATH_TOL)
    with pytest.raises(ValueError, match="exactly one of `gram` or `jacobian`"):
        firm_weights(jac @ np.swapaxes(jac, -1, -2), jacobian=jac)
    with pytest.raises(ValueError, match="exactly one of `gram` or `jacobian`"):
        firm_weights()
