"""Tiny problems for the engine tests, independent of firm_core.problems.

ScalarQuadratic: f_{i,m}(x) = 0.5 a_{i,m} ||x - c_{i,m}||^2, gradient a_{i,m} (x - c_{i,m}), optional
injected noise N(0, sigma^2 / d) per entry from each client's own generator (client by client, in
order). Small enough that every expected iterate in the tests is computed by hand.

FaultyProblem wraps a problem and corrupts the stochastic oracle of chosen clients ("nan", "inf",
"shape", or "raise": the oracle raises RuntimeError whenever that client is in the batch); it can also
raise KeyboardInterrupt after a number of client-oracle calls (a crashed run).
"""

from __future__ import annotations

import numpy as np

from firm_core.problems.base import Problem


class ScalarQuadratic(Problem):
    def __init__(self, a, c, weights=None, x0=None, noise_std=0.0):
        self._a = np.asarray(a, dtype=np.float64)  # (N, M)
        self._c = np.asarray(c, dtype=np.float64)  # (N, M, d)
        self.num_clients, self.num_objectives, self.dim = self._c.shape
        n = self.num_clients
        self.client_weights = np.full(n, 1.0 / n) if weights is None else np.asarray(weights, dtype=np.float64)
        self._x0 = np.zeros(self.dim) if x0 is None else np.asarray(x0, dtype=np.float64)
        self.noise_std = float(noise_std)
        self.name = "scalar_quadratic"

    def initial_point(self):
        return self._x0.copy()

    def client_values(self, clients, x):
        clients = np.asarray(clients)
        diff = np.asarray(x)[:, None, :] - self._c[clients]
        return 0.5 * self._a[clients] * np.sum(diff**2, axis=-1)

    def client_jacobians(self, clients, x):
        clients = np.asarray(clients)
        return self._a[clients][..., None] * (np.asarray(x)[:, None, :] - self._c[clients])

    def grad(self, i, m, x):
        """Hand formula for the tests: a_{i,m} (x - c_{i,m})."""
        return self._a[i, m] * (np.asarray(x) - self._c[i, m])

    def describe(self):
        out = super().describe()
        out["a"] = self._a.tolist()
        return out


def random_scalar_quadratic(num_clients=4, num_objectives=2, dim=3, noise_std=0.0, seed=0, weights=None):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, size=(num_clients, num_objectives))
    c = rng.normal(size=(num_clients, num_objectives, dim)) * 2.0
    x0 = rng.normal(size=dim) * 3.0
    return ScalarQuadratic(a, c, weights=weights, x0=x0, noise_std=noise_std)


class FaultyProblem(Problem):
    """``base`` with the stochastic oracle of ``faults`` = {client: "nan" | "inf" | "shape"} corrupted."""

    def __init__(self, base: Problem, faults: dict, interrupt_after_calls: int | None = None, full_batch_faults=False,
                 faults_from_call: int = 1):
        self.base = base
        self.faults_from_call = faults_from_call  # faults act from this (1-based) oracle call on
        self.faults = dict(faults)
        self.interrupt_after_calls = interrupt_after_calls
        self.full_batch_faults = full_batch_faults
        self.calls = 0
        for k in ("name", "num_clients", "num_objectives", "dim", "client_weights", "noise_std"):
            setattr(self, k, getattr(base, k))

    def initial_point(self):
        return self.base.initial_point()

    def client_values(self, clients, x):
        return self.base.client_values(clients, x)

    def _corrupt(self, clients, jac):
        if self.calls < self.faults_from_call:
            return jac
        clients = np.asarray(clients)
        jac = np.array(jac)
        raising = [int(c) for c in clients if self.faults.get(int(c)) == "raise"]
        if raising:
            raise RuntimeError(f"oracle failed for client {raising[0]}")
        if any(self.faults.get(int(c)) == "shape" for c in clients):
            return np.zeros((jac.shape[0], jac.shape[1], jac.shape[2] + 1))
        for j, c in enumerate(clients):
            kind = self.faults.get(int(c))
            if kind == "nan":
                jac[j, 0, 0] = np.nan
            elif kind == "inf":
                jac[j, -1, -1] = np.inf
        return jac

    def _tick(self):
        self.calls += 1
        if self.interrupt_after_calls is not None and self.calls > self.interrupt_after_calls:
            raise KeyboardInterrupt("simulated crash")

    def client_jacobians(self, clients, x):
        self._tick()
        jac = self.base.client_jacobians(clients, x)
        return self._corrupt(clients, jac) if self.full_batch_faults else jac

    def stochastic_jacobians(self, clients, x, rngs):
        self._tick()
        return self._corrupt(clients, self.base.stochastic_jacobians(clients, x, rngs))

    def jacobian(self, x):
        return self.base.jacobian(x)

    def values(self, x):
        return self.base.values(x)

    def describe(self):
        return self.base.describe()


def mgda_weight_m2(g1, g2, beta=0.0, p1=0.5):
    """Independent M = 2 closed form: lambda_1 = clip((c - b + 2 beta p_1) / (a - 2b + c + 2 beta), 0, 1)
    with a = g1.g1, b = g1.g2, c = g2.g2 (0.5 when the denominator is 0)."""
    a, b, c = g1 @ g1, g1 @ g2, g2 @ g2
    den = a - 2 * b + c + 2 * beta
    if den == 0:
        return np.array([0.5, 0.5])
    t = min(max((c - b + 2 * beta * p1) / den, 0.0), 1.0)
    return np.array([t, 1.0 - t])
