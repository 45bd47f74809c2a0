"""A user-style problem written on the Problem base class, and deliberately broken variants of it.

``CauchyToy``: f_{i,m}(x) = sum_k log(1 + (x_k - c_{i,m,k})^2), nonconvex, N clients with unequal
weights, M objectives, Gaussian gradient noise from each client's own generator. Each ``Broken*``
class carries exactly one of the mistakes check_problem must catch.
"""

from __future__ import annotations

import numpy as np

from firm_core.problems import Problem


class CauchyToy(Problem):
    def __init__(self, num_clients=10, num_objectives=3, dim=4, noise_std=0.1, seed=0):
        rng = np.random.default_rng(seed)
        self.name = f"cauchy_toy(N={num_clients}, M={num_objectives}, d={dim})"
        self.num_clients, self.num_objectives, self.dim = num_clients, num_objectives, dim
        self.noise_std = noise_std
        self.client_weights = rng.dirichlet(np.ones(num_clients))
        self.centers = rng.normal(size=(num_clients, num_objectives, dim))

    def initial_point(self):
        return np.full(self.dim, 0.5)

    def client_values(self, clients, x):
        r = x[:, None, :] - self.centers[clients]
        return np.log1p(r**2).sum(axis=-1)

    def client_jacobians(self, clients, x):
        r = x[:, None, :] - self.centers[clients]
        return 2 * r / (1 + r**2)

    def stochastic_jacobians(self, clients, x, rngs):
        jac = self.client_jacobians(clients, x)
        noise = np.stack([g.normal(scale=self.noise_std, size=jac.shape[1:]) for g in rngs])
        return jac + noise


class BrokenTransposed(CauchyToy):
    """Jacobians returned as (n, d, M)."""

    def client_jacobians(self, clients, x):
        return np.swapaxes(super().client_jacobians(clients, x), -1, -2)


class BrokenWeights(CauchyToy):
    """Client weights that sum to 1.1."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.client_weights = 1.1 * self.client_weights


class BrokenGradient(CauchyToy):
    """The last coordinate's derivative is off by a factor 2 (a dropped chain-rule factor)."""

    def client_jacobians(self, clients, x):
        jac = super().client_jacobians(clients, x)
        jac[..., -1] *= 0.5
        return jac


class BrokenBiasedOracle(CauchyToy):
    """Stochastic Jacobians with a constant bias of half the noise level."""

    def stochastic_jacobians(self, clients, x, rngs):
        return super().stochastic_jacobians(clients, x, rngs) + 0.5 * self.noise_std


class BrokenNonDeterministic(CauchyToy):
    """Draws noise from fresh entropy instead of the generators passed in."""

    def stochastic_jacobians(self, clients, x, rngs):
        return super().stochastic_jacobians(clients, x, [np.random.default_rng() for _ in rngs])


class BrokenSharedStream(CauchyToy):
    """Every client draws from the first client's generator: a client's draw depends on the others."""

    def stochastic_jacobians(self, clients, x, rngs):
        return super().stochastic_jacobians(clients, x, [rngs[0]] * len(rngs))


class BrokenIgnoresClients(CauchyToy):
    """Uses the first n clients' data whatever ``clients`` says."""

    def client_values(self, clients, x):
        return super().client_values(np.arange(len(clients)), x)

    def client_jacobians(self, clients, x):
        return super().client_jacobians(np.arange(len(clients)), x)


class BrokenParetoSet(CauchyToy):
    """Claims an analytic Pareto set that is wrong: the initial point for every preference."""

    def pareto_set_point(self, weights):
        return self.initial_point()


class BrokenRaises(CauchyToy):
    """An oracle that crashes."""

    def stochastic_jacobians(self, clients, x, rngs):
        raise RuntimeError("minibatch index out of range")
