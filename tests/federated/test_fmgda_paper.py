"""FMGDA / FSMGDA against the algorithm box of Yang et al. 2023, written out here in the paper's own
form (client returns x_{t,K} - x_t per objective, server averages with 1/|S_t|, x_{t+1} = x_t + eta_t d_t),
with K > 1 so that per-objective local trajectories differ from a shared one."""

import numpy as np
import pytest

from firm_core import solve_min_norm
from firm_core.federated import AlgorithmConfig, make_algorithm
from tests.federated._problems import random_scalar_quadratic

#: The paper's round written out vs the engine: the same arithmetic in a different order.
HAND_TOL = 1e-12
K, LR, SERVER_LR = 3, 0.2, 0.7
X0 = np.zeros(4)  # near the clients' minimizers, where the MGDA weights are interior


def _paper_round(prob, x):
    """One round of the paper's box, all N clients participating with equal weights."""
    n, m = prob.num_clients, prob.num_objectives
    deltas = np.zeros((n, m, x.size))
    for i in range(n):
        for s in range(m):
            y = x.copy()
            for _ in range(K):
                y = y - LR * prob.grad(i, s, y)
            deltas[i, s] = y - x  # x_{t,K}^{i,s} - x_t
    avg = deltas.mean(axis=0)  # 1/|S_t| sum over the participants
    lam = solve_min_norm(avg, method="active_set").weights
    return x + SERVER_LR * lam @ avg, lam


@pytest.mark.parametrize("name", ["fmgda", "fsmgda"])
def test_round_is_the_papers_algorithm_box(name):
    prob = random_scalar_quadratic(num_clients=3, num_objectives=3, dim=4, noise_std=0.0, seed=8)
    algo = make_algorithm(AlgorithmConfig(name=name, local_steps=K, lr=LR, server_lr=SERVER_LR))
    state = algo.init(prob, x0=X0)
    assert np.all(_paper_round(prob, state.x)[1] > 0.1)  # every objective gets weight: no vertex shortcut
    new_state, out = algo.step(prob, state)
    want_x, want_lam = _paper_round(prob, state.x)
    np.testing.assert_allclose(out.lambda_mean, want_lam, rtol=0, atol=HAND_TOL)
    np.testing.assert_allclose(new_state.x, want_x, rtol=0, atol=HAND_TOL)
    assert out.uplink_floats == 3 * 3 * 4  # N clients x M updates of d floats


def test_shared_local_trajectory_would_be_caught():
    """A client that ran one trajectory along the lambda-combination (FIRM-like) instead of one per objective
    gives a different x_{t+1} on this instance, so the check above can fail."""
    prob = random_scalar_quadratic(num_clients=3, num_objectives=3, dim=4, noise_std=0.0, seed=8)
    x = X0
    want_x, lam = _paper_round(prob, x)
    ys = []
    for i in range(3):
        y = x.copy()
        for _ in range(K):
            y = y - LR * sum(lam[s] * prob.grad(i, s, y) for s in range(3))
        ys.append(y)
    shared_x = x + SERVER_LR * (np.mean(ys, axis=0) - x)
    assert np.max(np.abs(shared_x - want_x)) > 1e3 * HAND_TOL
