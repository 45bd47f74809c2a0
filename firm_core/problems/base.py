"""The problem interface every federated algorithm and backend talks to.

A problem has N clients (weights w_i >= 0, sum 1) and M objectives in d dimensions. Client i holds
f_{i,m}; the global objectives are f_m(x) = sum_i w_i f_{i,m}(x). Jacobians have one row per
objective: shape (M, d). All oracles are vectorized over a set of clients so an engine can run a
round of N clients as batched numpy.

Randomness is explicit: stochastic oracles take one ``numpy.random.Generator`` per client, so a
client's draws depend only on its own generator (what a federated engine such as Flower needs to
reproduce an in-memory run bit for bit).
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np


class Problem(abc.ABC):
    """Federated multi-objective problem. Subclasses set the attributes below in ``__init__``."""

    name: str
    num_clients: int  # N
    num_objectives: int  # M
    dim: int  # d
    client_weights: np.ndarray  # (N,), >= 0, sums to 1
    noise_std: float = 0.0  # sigma: injected gradient noise has E||xi||^2 = sigma^2 per objective
    source: str = ""  # where the problem comes from (paper / dataset), for reports

    # --- required oracles -------------------------------------------------------------------
    @abc.abstractmethod
    def initial_point(self) -> np.ndarray:
        """x_0, shape (d,)."""

    @abc.abstractmethod
    def client_values(self, clients: np.ndarray, x: np.ndarray) -> np.ndarray:
        """f_{i,m}(x_i) for clients i (shape (n,)) at points x (n, d): shape (n, M)."""

    @abc.abstractmethod
    def client_jacobians(self, clients: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Full-batch Jacobians of clients at points x (n, d): shape (n, M, d)."""

    # --- defaults that subclasses may override ------------------------------------------------
    def stochastic_jacobians(
        self, clients: np.ndarray, x: np.ndarray, rngs: Sequence[np.random.Generator]
    ) -> np.ndarray:
        """Stochastic Jacobians (n, M, d): full ones plus N(0, sigma^2/d I) noise per row, each
        client's noise drawn from its own generator. Minibatch problems override this."""
        jac = self.client_jacobians(clients, x)
        if self.noise_std > 0:
            scale = self.noise_std / np.sqrt(self.dim)
            jac = jac + np.stack([rng.normal(scale=scale, size=jac.shape[1:]) for rng in rngs])
        return jac

    def values(self, x: np.ndarray) -> np.ndarray:
        """Global objectives F(x) = sum_i w_i F_i(x), shape (M,)."""
        clients = np.arange(self.num_clients)
        xs = np.broadcast_to(x, (self.num_clients, self.dim))
        return self.client_weights @ self.client_values(clients, xs)

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """Global Jacobian sum_i w_i J_i(x), shape (M, d)."""
        clients = np.arange(self.num_clients)
        xs = np.broadcast_to(x, (self.num_clients, self.dim))
        return np.einsum("i,imd->md", self.client_weights, self.client_jacobians(clients, xs))

    def pareto_set_point(self, weights: np.ndarray) -> np.ndarray | None:
        """The Pareto-optimal x for scalarization weights (M,), if known analytically, else None."""
        return None

    def pareto_front(self, num: int) -> np.ndarray | None:
        """num points (num, M) on the analytic Pareto front, if known, else None."""
        return None

    def distance_to_pareto_set(self, x: np.ndarray) -> float | None:
        """Euclidean distance of x to the analytic Pareto set, if known, else None."""
        return None

    def describe(self) -> dict:
        """JSON-able summary for reports and run metadata."""
        return {
            "name": self.name,
            "num_clients": int(self.num_clients),
            "num_objectives": int(self.num_objectives),
            "dim": int(self.dim),
            "noise_std": float(self.noise_std),
            "source": self.source,
        }
