"""Theorem 1 (deterministic, N = K = 1) and its per-objective form (Lemma 0(b)).

With x_{t+1} = x_t - gamma d_t, d_t = G(x_t) lambda_t, lambda_t = lambda_beta(G^T G), any beta >= 0 and
0 < gamma < 2 / L_phi, the descent lemma and Lemma 0(a) give
    Phi(x_{t+1}) <= Phi(x_t) - gamma (1 - L_phi gamma / 2) ||d_t||^2 - gamma beta ||lambda_t - p||^2,
and telescoping with phi <= ||d_t||^2:
    (1/T) sum_t [phi(x_t) + beta ||lambda_t - p||^2] <= Delta / (gamma (1 - L_phi gamma / 2) T).

Assumptions: N = K = 1, sigma = 0, Phi L_phi-smooth on a convex set holding the iterates, inf Phi > -inf
(no bounded gradients, no bounded range). The per-objective form also needs inf f_m > -inf.
"""

from __future__ import annotations

from . import _checks
from .lemmas import lemma0b_allowance


def _step(gamma: float, smoothness: float, name: str, where: str) -> tuple[float, float]:
    gamma = _checks.real(gamma, "gamma", where, strict=True)
    smoothness = _checks.real(smoothness, name, where, strict=True)
    if smoothness * gamma >= 2.0:
        raise ValueError(f"{where}: `gamma` must be < 2 / {name} = {2.0 / smoothness:.6g} (descent needs it), got {gamma!r}")
    return gamma, smoothness


def theorem1_bound(delta: float, gamma: float, L_phi: float, T: int) -> float:
    """Delta / (gamma (1 - L_phi gamma / 2) T): bounds (1/T) sum_{t<T} [phi(x_t) + beta ||lambda_t - p||^2]
    for deterministic FIRM with N = K = 1 and 0 < gamma = eta_g eta < 2 / L_phi (= 2 L_phi Delta / T at gamma = 1 / L_phi)."""
    w = "theorem1_bound"
    delta = _checks.real(delta, "delta", w)
    gamma, L_phi = _step(gamma, L_phi, "L_phi", w)
    T = _checks.integer(T, "T", w)
    return delta / (gamma * (1.0 - 0.5 * L_phi * gamma) * T)


def one_step_descent_bound(d_norm_sq, lambda_gap_sq, gamma: float, L_phi: float, beta: float):
    """Upper bound on Phi(x_{t+1}) - Phi(x_t) for one deterministic N = K = 1 step:
    -gamma (1 - L_phi gamma / 2) ||d||^2 - gamma beta ||lambda - p||^2 (descent lemma + Lemma 0(a))."""
    w = "one_step_descent_bound"
    d_norm_sq = _checks.nonneg_array(d_norm_sq, "d_norm_sq", w)
    lambda_gap_sq = _checks.nonneg_array(lambda_gap_sq, "lambda_gap_sq", w)
    gamma = _checks.real(gamma, "gamma", w, strict=True)
    L_phi = _checks.real(L_phi, "L_phi", w, strict=True)
    beta = _checks.real(beta, "beta", w)
    return -gamma * (1.0 - 0.5 * L_phi * gamma) * d_norm_sq - gamma * beta * lambda_gap_sq


def per_objective_step_bound(d_norm_sq, gamma: float, L_m: float, beta: float, preference, m: int):
    """Lemma 0(b) descent for objective m (f_m L_m-smooth), one deterministic N = K = 1 step:
    f_m(x_{t+1}) - f_m(x_t) <= -gamma (1 - L_m gamma / 2) ||d||^2 + gamma beta ||e_m - p||^2 / 4.
    The last term is the O(beta) price: regularization can make an individual objective rise."""
    w = "per_objective_step_bound"
    d_norm_sq = _checks.nonneg_array(d_norm_sq, "d_norm_sq", w)
    gamma = _checks.real(gamma, "gamma", w, strict=True)
    L_m = _checks.real(L_m, "L_m", w, strict=True)
    return -gamma * (1.0 - 0.5 * L_m * gamma) * d_norm_sq + gamma * lemma0b_allowance(beta, preference, m)


def per_objective_theorem1_bound(delta_m: float, gamma: float, L_m: float, beta: float, preference, m: int, T: int) -> float:
    """[Delta_m / (gamma T) + beta ||e_m - p||^2 / 4] / (1 - L_m gamma / 2), Delta_m = f_m(x_0) - inf f_m:
    bounds (1/T) sum_t ||d_t||^2 >= (1/T) sum_t phi(x_t) by telescoping the per-objective step bound."""
    w = "per_objective_theorem1_bound"
    delta_m = _checks.real(delta_m, "delta_m", w)
    gamma, L_m = _step(gamma, L_m, "L_m", w)
    T = _checks.integer(T, "T", w)
    return (delta_m / (gamma * T) + lemma0b_allowance(beta, preference, m)) / (1.0 - 0.5 * L_m * gamma)
