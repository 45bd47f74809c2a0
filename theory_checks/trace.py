"""FIRM with every client step recorded: the raw material of the per-step checks.

:func:`run_traced` runs exactly the engine's FIRM round (``firm_core.federated``: the same oracle calls,
the same per-client generators ``client_rng(seed, t, i)``, the same batched min-norm solve and the same
server ``aggregate``), so its iterates are the engine's, bit for bit (tested in tests/theory). On top it
records, per round t and client step (i, k): the point y_{i,k}, the stochastic Jacobian the client
used, the noise-free client Jacobian at y_{i,k}, the weights lambda_{i,k} and (sigma > 0) the weights
lambda^r_{i,k} of the noise-free Jacobian; and per round the server reference G(x_t), lambda_bar_t,
d_bar_t, phi(x_t), Phi(x_t) and F(x_t).

All participants take part every round (full participation), as in the theorems.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from firm_core import pareto_stationarity, solve_min_norm
from firm_core.federated import aggregate, client_rngs, resolve_method
from firm_core.weighting import firm_step, firm_weights


@dataclass(frozen=True)
class Trace:
    """Arrays of one traced run (T rounds, N clients, K local steps, M objectives, d dims)."""

    x: np.ndarray  # (T+1, d) server iterates x_0..x_T
    y: np.ndarray  # (T, N, K, d) the points y_{i,k} where client i evaluates its k-th Jacobian
    y_final: np.ndarray  # (T, N, d) y_{i,K}
    jac_used: np.ndarray  # (T, N, K, M, d) stochastic Jacobians the clients used
    jac_clean: np.ndarray  # (T, N, K, M, d) noise-free client Jacobians at y_{i,k}
    lam: np.ndarray  # (T, N, K, M) lambda_{i,k}
    lam_clean: np.ndarray | None  # (T, N, K, M) lambda^r_{i,k} (sigma > 0 only)
    jac_server: np.ndarray  # (T+1, M, d) G(x_t)
    lam_server: np.ndarray  # (T+1, M) lambda_bar_t = lambda_beta(G(x_t)^T G(x_t))
    lam_mgda: np.ndarray  # (T+1, M) a minimizer lambda* of phi at x_t (beta = 0)
    phi: np.ndarray  # (T+1,) phi(x_t)
    potential: np.ndarray  # (T+1,) Phi(x_t) = p^T F(x_t)
    values: np.ndarray  # (T+1, M) F(x_t)
    client_weights: np.ndarray  # (N,)
    preference: np.ndarray  # (M,)
    beta: float
    eta: float
    eta_g: float

    @property
    def rounds(self) -> int:
        return self.x.shape[0] - 1

    @property
    def gamma(self) -> float:
        return self.eta_g * self.eta * self.y.shape[2]

    @property
    def d_bar(self) -> np.ndarray:
        """(T+1, d) d_bar_t = G(x_t) lambda_bar_t (the rows of G are objectives: d = J^T lambda)."""
        return np.einsum("tm,tmd->td", self.lam_server, self.jac_server)

    @property
    def u(self) -> np.ndarray:
        """(T+1, d) u_t = grad Phi(x_t) = J(x_t)^T p."""
        return np.einsum("m,tmd->td", self.preference, self.jac_server)

    @property
    def v(self) -> np.ndarray:
        """(T, d) v_t = (x_t - x_{t+1}) / gamma, the round's average direction."""
        return (self.x[:-1] - self.x[1:]) / self.gamma

    @property
    def drift(self) -> np.ndarray:
        """(T, N, K) delta_{i,k} = ||y_{i,k} - x_t||."""
        return np.linalg.norm(self.y - self.x[:-1, None, None, :], axis=-1)

    @property
    def noise_norm(self) -> np.ndarray:
        """(T, N, K) s_{i,k} = ||G~_{i,k} - G_i(y_{i,k})||_F."""
        return np.linalg.norm((self.jac_used - self.jac_clean).reshape(*self.lam.shape[:3], -1), axis=-1)

    @property
    def d_lambda(self) -> np.ndarray:
        """(T,) the engine's D_lambda: mean_i ||lambda_i - mean_j lambda_j||^2, lambda_i = client i's mean lambda."""
        lam = self.lam.mean(axis=2)
        dev = lam - lam.mean(axis=1, keepdims=True)
        return np.mean(np.sum(dev**2, axis=-1), axis=1)

    def all_points(self) -> np.ndarray:
        """Every point the run visited (server iterates and client iterates), shape (n, d)."""
        d = self.x.shape[1]
        return np.concatenate([self.x, self.y.reshape(-1, d), self.y_final.reshape(-1, d)])


def server_reference(problem, x: np.ndarray, beta: float, preference: np.ndarray, method: str):
    """(G(x), lambda_bar, lambda*, phi, F(x)): the server reference of the analysis at x."""
    jac = np.asarray(problem.jacobian(x), dtype=np.float64)
    lam_bar = solve_min_norm(jac, beta=beta, preference=preference, method=method).weights
    lam_star = solve_min_norm(jac, beta=0.0, method=method).weights
    phi = float(pareto_stationarity(jac))  # the engine's metric, computed the engine's way
    return jac, lam_bar, lam_star, phi, np.asarray(problem.values(x), dtype=np.float64)


def run_traced(problem, *, beta: float, eta: float, eta_g: float, local_steps: int, rounds: int,
               preference=None, seed: int = 0, method: str = "auto", x0=None) -> Trace:
    """Deterministic or stochastic FIRM (all N clients every round), recording every client step."""
    n, m, d = int(problem.num_clients), int(problem.num_objectives), int(problem.dim)
    K, T = int(local_steps), int(rounds)
    p = np.full(m, 1.0 / m) if preference is None else np.asarray(preference, dtype=np.float64)
    method = resolve_method(method, m)
    w = np.asarray(problem.client_weights, dtype=np.float64)
    clients = np.arange(n)
    noisy = float(getattr(problem, "noise_std", 0.0)) > 0

    xs = np.empty((T + 1, d))
    xs[0] = problem.initial_point() if x0 is None else np.asarray(x0, dtype=np.float64)
    ys = np.empty((T, n, K, d))
    y_fin = np.empty((T, n, d))
    jac_used = np.empty((T, n, K, m, d))
    jac_clean = np.empty((T, n, K, m, d))
    lam = np.empty((T, n, K, m))
    lam_clean = np.empty((T, n, K, m)) if noisy else None
    jac_srv = np.empty((T + 1, m, d))
    lam_srv = np.empty((T + 1, m))
    lam_star = np.empty((T + 1, m))
    phi = np.empty(T + 1)
    vals = np.empty((T + 1, m))

    for t in range(T + 1):
        jac_srv[t], lam_srv[t], lam_star[t], phi[t], vals[t] = server_reference(problem, xs[t], beta, p, method)
        if t == T:
            break
        rngs = client_rngs(seed, t, clients)
        y = np.tile(xs[t], (n, 1))
        for k in range(K):
            ys[t, :, k] = y
            clean = np.asarray(problem.client_jacobians(clients, y), dtype=np.float64)
            jac = np.asarray(problem.stochastic_jacobians(clients, y, rngs), dtype=np.float64)
            y_next, lam_k, _ = firm_step(y, jac, eta, beta=beta, preference=p, method=method)
            jac_used[t, :, k], jac_clean[t, :, k], lam[t, :, k] = jac, clean, lam_k
            if noisy:
                lam_clean[t, :, k] = firm_weights(jacobian=clean, beta=beta, preference=p, method=method)[0]
            y = y_next
        y_fin[t] = y
        xs[t + 1] = aggregate(xs[t], y, w, eta_g)
    return Trace(
        x=xs, y=ys, y_final=y_fin, jac_used=jac_used, jac_clean=jac_clean, lam=lam, lam_clean=lam_clean,
        jac_server=jac_srv, lam_server=lam_srv, lam_mgda=lam_star, phi=phi, potential=vals @ p, values=vals,
        client_weights=w, preference=p, beta=float(beta), eta=float(eta), eta_g=float(eta_g),
    )
