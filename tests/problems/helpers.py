"""Shared assertions for problem tests: finite-difference Jacobians, global = weighted client sum."""

from __future__ import annotations

import numpy as np

#: Central finite-difference step and the relative tolerance it achieves on smooth problems (O(h^2)).
FD_STEP = 1e-6
FD_RTOL = 1e-6


def fd_client_jacobians(problem, clients: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Central differences of client_values: shape (n, M, d)."""
    n, d = x.shape
    out = np.empty((n, problem.num_objectives, d))
    for k in range(d):
        e = np.zeros(d)
        e[k] = FD_STEP
        out[:, :, k] = (problem.client_values(clients, x + e) - problem.client_values(clients, x - e)) / (2 * FD_STEP)
    return out


def assert_jacobians_match_fd(problem, x: np.ndarray) -> None:
    clients = np.arange(problem.num_clients)
    xs = np.broadcast_to(x, (problem.num_clients, problem.dim)).copy()
    jac = problem.client_jacobians(clients, xs)
    fd = fd_client_jacobians(problem, clients, xs)
    scale = max(1.0, float(np.max(np.abs(jac))))
    np.testing.assert_allclose(jac, fd, rtol=0, atol=FD_RTOL * scale)


def assert_global_is_weighted_sum(problem, x: np.ndarray, rtol: float = 1e-12) -> None:
    clients = np.arange(problem.num_clients)
    xs = np.broadcast_to(x, (problem.num_clients, problem.dim))
    w = problem.client_weights
    np.testing.assert_allclose(problem.values(x), w @ problem.client_values(clients, xs), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(
        problem.jacobian(x), np.einsum("i,imd->md", w, problem.client_jacobians(clients, xs)), rtol=rtol, atol=rtol
    )
