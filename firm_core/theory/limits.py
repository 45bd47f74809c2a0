"""Where FIRM ends (docs/theory.md, section 8b): the limit of the iterates, not just an average of phi.

One client (N = 1, K = 1, sigma = 0, beta > 0, 0 < gamma < 2 / L_phi, Phi mu-strongly convex on the ball):
the step bound Phi(x_{t+1}) <= Phi(x_t) - gamma c0 ||d_t||^2 - gamma beta ||lambda_t - p||^2 (c0 = 1 - L_phi gamma / 2)
makes Phi non-increasing, and ||grad Phi(x_t)|| = ||G p|| <= ||d_t|| + sqrt(M) C ||lambda_t - p|| gives
||grad Phi||^2 <= kappa (c0 ||d||^2 + beta ||lambda - p||^2), kappa = 1/c0 + M C^2 / beta. With the PL inequality
||grad Phi||^2 >= 2 mu (Phi - inf Phi) this yields a linear rate, and telescoping a 1/T one:

    Phi(x_T) - inf Phi <= E_T := Delta min((1 - 2 mu gamma / kappa)^T, kappa / (2 mu gamma T)),
    ||x_T - x(p)||^2 <= 2 E_T / mu,     ||lambda_beta(x_T) - p||^2 <= ||grad Phi(x_T)||^2 / (4 beta) <= L_phi^2 ||x_T - x(p)||^2 / (4 beta).

Heterogeneous clients, deterministic, any K: a fixed point x_inf of the round map has
sum_i w_i (1/K) sum_k G_i(y_{i,k}) lambda_{i,k} = 0, and with lambda_beta(0) = p Lemma 1 gives
||lambda_{i,k} - p|| <= ||P_perp Q_{i,k} p|| / beta <= sqrt(M) C^2 / beta (so ||G_i (p - lambda)|| <= M C^3 / beta). With rho_K = avg_k ((1 + L eta)^k - 1):

    ||grad Phi(x_inf)|| <= g_inf := (rho_K zeta_p + M C^3 / beta) / (1 - rho_K)     (rho_K < 1),
    ||x_inf - x(p)|| <= g_inf / mu.

K = 1 gives rho_K = 0: the offset is O(1/beta) and vanishes as beta -> inf. K > 1 leaves the floor
rho_K zeta_p / (1 - rho_K) ~ L eta (K - 1) zeta_p / 2 as beta -> inf (client drift of FedAvg on p^T F),
which is 0 only for identical clients (zeta_p = 0).
"""

from __future__ import annotations

import numpy as np

from . import _checks


def single_client_limit_bounds(delta: float, gamma: float, L_phi: float, mu: float, M: int, C: float, beta: float, T: int) -> dict:
    """{'potential_gap', 'distance', 'weights'}: the one-client bounds of the module docstring at round T."""
    w = "single_client_limit_bounds"
    delta = _checks.real(delta, "delta", w)
    gamma = _checks.real(gamma, "gamma", w, strict=True)
    L_phi = _checks.real(L_phi, "L_phi", w, strict=True)
    mu = _checks.real(mu, "mu", w, strict=True)
    M = _checks.integer(M, "M", w)
    C = _checks.real(C, "C", w)
    beta = _checks.real(beta, "beta", w, strict=True)
    T = _checks.integer(T, "T", w)
    if L_phi * gamma >= 2.0:
        raise ValueError(f"{w}: `gamma` must be < 2 / L_phi = {2.0 / L_phi:.6g}, got {gamma!r}")
    c0 = 1.0 - 0.5 * L_phi * gamma
    kappa = 1.0 / c0 + M * C**2 / beta
    gap = delta * min(max(0.0, 1.0 - 2.0 * mu * gamma / kappa) ** T, kappa / (2.0 * mu * gamma * T))
    dist = float(np.sqrt(2.0 * gap / mu))
    return {"potential_gap": float(gap), "distance": dist, "weights": float(L_phi * dist / (2.0 * np.sqrt(beta)))}


def drift_factor(L: float, eta: float, K: int) -> float:
    """rho_K = avg_{k<K} ((1 + L eta)^k - 1): how much K local steps amplify the client gradient at x_inf."""
    w = "drift_factor"
    L = _checks.real(L, "L", w)
    eta = _checks.real(eta, "eta", w)
    K = _checks.integer(K, "K", w)
    k = np.arange(K, dtype=np.float64)
    return float(np.mean((1.0 + L * eta) ** k - 1.0))


def fixed_point_gradient_bound(M: int, C: float, zeta_p: float, L: float, eta: float, K: int, beta: float) -> float:
    """g_inf >= ||grad Phi(x_inf)|| at any fixed point of deterministic FIRM (module docstring); inf when rho_K >= 1
    or beta = 0 (no bound: at beta = 0 the fixed point need not be Pareto-stationary, let alone near x(p))."""
    w = "fixed_point_gradient_bound"
    M = _checks.integer(M, "M", w)
    C, zeta_p, beta = (_checks.real(v, n, w) for v, n in ((C, "C"), (zeta_p, "zeta_p"), (beta, "beta")))
    rho = drift_factor(L, eta, K)
    if rho >= 1.0 or beta == 0.0:
        return float("inf")
    return float((rho * zeta_p + M * C**3 / beta) / (1.0 - rho))


def fixed_point_floor(zeta_p: float, L: float, eta: float, K: int) -> float:
    """The beta -> inf limit of :func:`fixed_point_gradient_bound`: rho_K zeta_p / (1 - rho_K) (0 for K = 1)."""
    rho = drift_factor(L, eta, K)
    zeta_p = _checks.real(zeta_p, "zeta_p", "fixed_point_floor")
    return float("inf") if rho >= 1.0 else float(rho * zeta_p / (1.0 - rho))
