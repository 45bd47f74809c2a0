"""The rate corollary (eta_g = 1, beta > 0): from B2 and min(sqrt 2, a + b) <= min(sqrt 2, a) + b,

    (1/T) sum_t E phi(x_t) <= Delta / (eta K T) + eta K A + H_0   for every eta > 0, with
    A   = L_phi C_sigma^2 / 2 + C L C_sigma / 2 + M C^3 L C_sigma / beta,
    H_0 = E_n + sqrt(M) C^2 min(sqrt 2, P_0 / beta),  P_0 = 2 sqrt(M) C zeta + (M + sqrt M) C sigma + M sigma^2.

At eta K = sqrt(Delta / (A T)) the bound is 2 sqrt(Delta A / T) + H_0: O(1/sqrt T) exactly when
sigma = zeta = 0 (H_0 = 0).

Assumptions: those of Theorems 2/3 (full participation or the unbiased sampling, (A2) almost surely under
noise), eta_g = 1, beta > 0, and C, zeta valid on a set holding the iterates for every T considered: a rate
in T is only a rate if C does not grow with T.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks
from .constants import BoundConstants
from .federated import federated_terms
from .lemmas import SIMPLEX_DIAMETER


@dataclass(frozen=True)
class RateConstants:
    A: float
    H0: float


def rate_constants(consts: BoundConstants) -> RateConstants:
    """A and H_0 of the corollary (module docstring); eta, eta_g, K, T and delta of ``consts`` are not used."""
    w = "rate_constants"
    if not isinstance(consts, BoundConstants):
        raise TypeError(f"{w}: `consts` must be a BoundConstants, got {type(consts).__name__}")
    c = consts
    if c.beta <= 0:
        raise ValueError(f"{w}: the rate corollary needs `beta` > 0, got {c.beta!r}")
    rm = np.sqrt(c.M)
    c_sigma = c.C + rm * c.sigma
    A = 0.5 * c.L_phi * c_sigma**2 + 0.5 * c.C * c.L * c_sigma + c.M * c.C**3 * c.L * c_sigma / c.beta
    p0 = 2.0 * rm * c.C * c.zeta + (c.M + rm) * c.C * c.sigma + c.M * c.sigma**2
    e_n = federated_terms(c.replace(K=1)).E_n  # E_n does not depend on eta, K
    H0 = e_n + rm * c.C**2 * min(SIMPLEX_DIAMETER, p0 / c.beta)
    return RateConstants(float(A), float(H0))


def optimal_step(delta: float, A: float, T: int) -> float:
    """eta K = sqrt(Delta / (A T)), the minimizer of Delta / (eta K T) + eta K A."""
    w = "optimal_step"
    delta = _checks.real(delta, "delta", w, strict=True)
    A = _checks.real(A, "A", w, strict=True)
    T = _checks.integer(T, "T", w)
    return float(np.sqrt(delta / (A * T)))


def rate_bound(delta: float, A: float, H0: float, T: int, eta_k: float | None = None) -> float:
    """Delta / (eta K T) + eta K A + H_0; with ``eta_k`` None the optimal one, giving 2 sqrt(Delta A / T) + H_0."""
    w = "rate_bound"
    delta = _checks.real(delta, "delta", w)
    A = _checks.real(A, "A", w, strict=True)
    H0 = _checks.real(H0, "H0", w)
    T = _checks.integer(T, "T", w)
    if eta_k is None:
        return float(2.0 * np.sqrt(delta * A / T) + H0)
    eta_k = _checks.real(eta_k, "eta_k", w, strict=True)
    return float(delta / (eta_k * T) + eta_k * A + H0)
