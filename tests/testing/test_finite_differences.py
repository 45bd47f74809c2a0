"""Finite-difference checks: exact on known functions, and they reject wrong Jacobians."""

from __future__ import annotations

import numpy as np
import pytest

from firm_core.testing import finite_differences as fd
from tests.testing import toy_problems as toys


def test_fd_jacobian_of_a_known_map():
    def f(x):  # R^3 -> R^2, vectorized over leading axes
        return np.stack([np.sin(x[..., 0]) * x[..., 1], x[..., 2] ** 3], axis=-1)

    x = np.array([0.3, -1.2, 0.7])
    exact = np.array([[np.cos(0.3) * -1.2, np.sin(0.3), 0.0], [0.0, 0.0, 3 * 0.7**2]])
    assert np.allclose(fd.fd_jacobian(f, x), exact, atol=1e-9)
    batch = np.stack([x, 2 * x])
    assert fd.fd_jacobian(f, batch).shape == (2, 2, 3)


def test_client_jacobians_match_on_a_correct_problem_and_not_on_a_wrong_one():
    good, bad = toys.CauchyToy(), toys.BrokenGradient()
    fd.assert_client_jacobians_match_fd(good, good.initial_point())
    with pytest.raises(AssertionError, match=r"entry \(\d+, \d+, 3\)"):
        fd.assert_client_jacobians_match_fd(bad, bad.initial_point())


def test_large_dimensions_use_random_directions_that_still_catch_one_wrong_coordinate():
    d = fd.MAX_FD_COORDINATES + 40
    good, bad = toys.CauchyToy(dim=d), toys.BrokenGradient(dim=d)
    v = fd.probe_directions(d)
    assert v.shape == (fd.MAX_FD_COORDINATES, d) and np.allclose(np.linalg.norm(v, axis=1), 1)
    assert fd.client_jacobian_mismatch(good, np.arange(10), np.tile(good.initial_point(), (10, 1))).ok
    assert not fd.client_jacobian_mismatch(bad, np.arange(10), np.tile(bad.initial_point(), (10, 1))).ok


def test_richardson_term_tolerates_curvature_but_not_a_wrong_factor():
    """exp(10 x) has large third derivatives: the FD error is large but shrinks like h^2, so it passes."""
    class Steep(toys.CauchyToy):
        def client_values(self, clients, x):
            return np.exp(10 * x[:, None, :] + 0 * self.centers[clients]).sum(-1)

        def client_jacobians(self, clients, x):
            return 10 * np.exp(10 * x[:, None, :] + 0 * self.centers[clients])

    class SteepWrong(Steep):
        def client_jacobians(self, clients, x):
            return 1.001 * super().client_jacobians(clients, x)

    x = np.tile(np.full(4, 1.5), (10, 1))
    assert fd.client_jacobian_mismatch(Steep(), np.arange(10), x).ok
    assert not fd.client_jacobian_mismatch(SteepWrong(), np.arange(10), x).ok
