"""Theorems 2 (sigma = 0) and 3 (sigma >= 0): N clients, K local steps, server step eta_g, any beta >= 0.

With gamma = eta_g eta K and the constants of :class:`BoundConstants`,

    (1/T) sum_{t<T} E phi(x_t) <= (1/T) sum_{t<T} E ||d_bar_t||^2 <= min(B1, B2, B3),

    B2 = Delta/(gamma T) + E_n + E_b + E_h + L_phi gamma C_sigma^2 / 2
    B1 = [Delta/(gamma T) + E_n + E_b + E_h + L_phi gamma eps_v^2] / (1 - L_phi gamma)              (L_phi gamma < 1)
    B3 = [Delta/(gamma T) + E_n + eps_w^2/(4a) + L_phi gamma eps_v^2] / (1 - a(1+rho) - L_phi gamma)
         for any a, rho > 0 with a (1 + 1/rho) M C^2 <= beta; variant: L_phi gamma C_sigma^2/2 over 1 - a(1+rho).

The terms (k = 0..K-1) are defined in :func:`federated_terms`; docs/theory.md derives each one.
N does not appear (no linear speed-up); every term is non-increasing in beta.

Assumptions: (A1)-(A5) on a convex set holding every x_t and y_{i,k} ((A2) almost surely when sigma > 0);
full participation with no dropped client, or the unbiased sampling of ``BoundConstants.participation``
(S draws with replacement, probabilities w, weights counts / S); inf Phi > -inf. B4 lives in client_descent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks
from .client_descent import B4Result, bound_b4
from .constants import BoundConstants
from .lemmas import SIMPLEX_DIAMETER

#: B3 is minimized over this many values of a (log-spaced), each with its smallest admissible rho.
B3_GRID_SIZE = 400
#: Smallest a of the B3 grid, relative to the largest admissible a.
B3_GRID_LOW = 1e-8
#: rho is set this much (relatively) above its smallest admissible value, so that round-off can never
#: make a grid point violate a (1 + 1/rho) M C^2 <= beta; every point is re-checked anyway.
B3_RHO_SLACK = 1e-9


@dataclass(frozen=True)
class FederatedTerms:
    """The ingredients of B1/B2/B3 (arrays have one entry per local step k = 0..K-1).

    C_sigma = C + sqrt(M) sigma
    D_k     = L eta k C_sigma                                  (L x expected drift at step k)
    P_k     = 2 sqrt(M) C (zeta + D_k) + (M + sqrt M) C sigma + M sigma^2
    ell_k   = min(sqrt 2, P_k / beta)  (0 if P_k = 0; sqrt 2 if beta = 0 < P_k)   bounds E||lambda_{i,k} - lambda_bar||
    r_k     = ell_k if sigma = 0, else min(sqrt(sqrt2 ell_k), min(sqrt 2, q_k + q_n)),
              q_k = min(sqrt 2, 2 sqrt(M) C (zeta + D_k) / beta),
              q_n = sqrt(min(2, 2 (sqrt M + 1)^2 C^2 M sigma^2 / beta^2 + 2 M sigma^2 / beta))  bounds sqrt(E||.||^2)
    E_b     = C avg_k D_k = C L eta C_sigma (K - 1) / 2           (local drift)
    E_h     = sqrt(M) C^2 avg_k ell_k                             (heterogeneity, drift and noise through lambda)
    E_n     = 0 if sigma = 0, else min(sqrt(M) C sigma, M sigma^2 [(sqrt M + 1) C^2 / beta + 2^(1/4) C / sqrt(beta)])
    eps_v   = avg_k [sqrt(M) sigma + D_k + sqrt(M) C r_k] + eps_s  (bounds sqrt(E||v - d_bar||^2))
    eps_s   = zeta / sqrt(S) with partial participation (S draws per round), else 0: the sampling error of
              avg_s G_{i_s}(x) lambda_bar - d_bar (zero mean, so it enters only through ||v||^2)
    eps_w   = avg_k [D_k + sqrt(M) C r_k]                          (same without the noise)
    """

    C_sigma: float
    D: np.ndarray
    P: np.ndarray
    ell: np.ndarray
    r: np.ndarray
    E_b: float
    E_h: float
    E_n: float
    eps_v: float
    eps_w: float
    eps_s: float = 0.0

    def to_dict(self) -> dict:
        return {k: (v.tolist() if isinstance(v, np.ndarray) else float(v)) for k, v in self.__dict__.items()}


def _constants(consts, where: str) -> BoundConstants:
    if not isinstance(consts, BoundConstants):
        raise TypeError(f"{where}: `consts` must be a BoundConstants, got {type(consts).__name__}")
    return consts


def federated_terms(consts: BoundConstants) -> FederatedTerms:
    """All terms of :class:`FederatedTerms` for the given constants."""
    c = _constants(consts, "federated_terms")
    M, C, zeta, sigma, beta = c.M, c.C, c.zeta, c.sigma, c.beta
    rm = np.sqrt(M)
    c_sigma = C + rm * sigma
    k = np.arange(c.K, dtype=np.float64)
    D = c.L * c.eta * k * c_sigma
    P = 2.0 * rm * C * (zeta + D) + (M + rm) * C * sigma + M * sigma**2
    ell = np.minimum(SIMPLEX_DIAMETER, _checks.safe_ratio_array(P, beta))
    if sigma == 0.0:
        r = ell.copy()
        e_n = 0.0
    else:
        q_k = np.minimum(SIMPLEX_DIAMETER, _checks.safe_ratio_array(2.0 * rm * C * (zeta + D), beta))
        if beta > 0:
            q_n = np.sqrt(min(2.0, 2.0 * (rm + 1.0) ** 2 * C**2 * M * sigma**2 / beta**2 + 2.0 * M * sigma**2 / beta))
            e_n_reg = M * sigma**2 * ((rm + 1.0) * C**2 / beta + 2.0**0.25 * C / np.sqrt(beta))
        else:
            q_n = SIMPLEX_DIAMETER
            e_n_reg = np.inf
        r = np.minimum(np.sqrt(SIMPLEX_DIAMETER * ell), np.minimum(SIMPLEX_DIAMETER, q_k + q_n))
        e_n = float(min(rm * C * sigma, e_n_reg))
    eps_s = 0.0 if c.participation is None else float(zeta / np.sqrt(c.participation))
    return FederatedTerms(
        C_sigma=float(c_sigma),
        D=D,
        P=P,
        ell=ell,
        r=r,
        E_b=float(C * D.mean()),
        E_h=float(rm * C**2 * ell.mean()),
        E_n=e_n,
        eps_v=float(np.mean(rm * sigma + D + rm * C * r)) + eps_s,
        eps_w=float(np.mean(D + rm * C * r)),
        eps_s=eps_s,
    )


def bound_b2(consts: BoundConstants, terms: FederatedTerms | None = None) -> float:
    """B2 = Delta/(gamma T) + E_n + E_b + E_h + L_phi gamma C_sigma^2 / 2 (any gamma > 0)."""
    c = _constants(consts, "bound_b2")
    t = federated_terms(c) if terms is None else terms
    g = c.gamma
    return c.delta / (g * c.T) + t.E_n + t.E_b + t.E_h + 0.5 * c.L_phi * g * t.C_sigma**2


def bound_b1(consts: BoundConstants, terms: FederatedTerms | None = None) -> float:
    """B1 = [Delta/(gamma T) + E_n + E_b + E_h + L_phi gamma eps_v^2] / (1 - L_phi gamma); inf unless L_phi gamma < 1."""
    c = _constants(consts, "bound_b1")
    t = federated_terms(c) if terms is None else terms
    g = c.gamma
    den = 1.0 - c.L_phi * g
    if den <= 0:
        return np.inf
    return (c.delta / (g * c.T) + t.E_n + t.E_b + t.E_h + c.L_phi * g * t.eps_v**2) / den


@dataclass(frozen=True)
class B3Result:
    """min over the admissible grid; ``a``, ``rho`` and ``variant`` ("eps_v" or "C_sigma") attain it
    (NaN / "" when no grid point is admissible, e.g. beta = 0, and then value = inf)."""

    value: float
    a: float
    rho: float
    variant: str
    admissible_points: int


def b3_value(consts: BoundConstants, terms: FederatedTerms, a: float, rho: float, variant: str = "eps_v") -> float:
    """B3 at one (a, rho): [Delta/(gamma T) + E_n + eps_w^2/(4a) + L_phi gamma eps_v^2] / (1 - a(1+rho) - L_phi gamma)
    (variant "C_sigma": L_phi gamma C_sigma^2 / 2 over 1 - a(1+rho)). ValueError unless a, rho > 0 and
    a (1 + 1/rho) M C^2 <= beta; inf when the denominator is <= 0."""
    w = "b3_value"
    c = _constants(consts, w)
    a = _checks.real(a, "a", w, strict=True)
    rho = _checks.real(rho, "rho", w, strict=True)
    if a * (1.0 + 1.0 / rho) * c.M * c.C**2 > c.beta:
        raise ValueError(f"{w}: (a, rho) = ({a!r}, {rho!r}) is not admissible: a (1 + 1/rho) M C^2 = "
                         f"{a * (1.0 + 1.0 / rho) * c.M * c.C**2:.6g} > beta = {c.beta!r}")
    g = c.gamma
    head = c.delta / (g * c.T) + terms.E_n + terms.eps_w**2 / (4.0 * a)
    if variant == "eps_v":
        num, den = head + c.L_phi * g * terms.eps_v**2, 1.0 - a * (1.0 + rho) - c.L_phi * g
    elif variant == "C_sigma":
        num, den = head + 0.5 * c.L_phi * g * terms.C_sigma**2, 1.0 - a * (1.0 + rho)
    else:
        raise ValueError(f"{w}: `variant` must be 'eps_v' or 'C_sigma', got {variant!r}")
    return num / den if den > 0 else np.inf


def b3_grid(consts: BoundConstants, terms: FederatedTerms | None = None, grid_size: int = B3_GRID_SIZE):
    """Every admissible point of B3's grid: (a, rho, value_eps_v, value_C_sigma) arrays. a is log-spaced in
    (0, min(beta / (M C^2), 1)); rho = a M C^2 / (beta - a M C^2) (1 + B3_RHO_SLACK), the smallest admissible
    rho up to round-off (the bound increases with rho); points failing a (1 + 1/rho) M C^2 <= beta are dropped.
    Every returned value is itself a valid bound (inf where its denominator is <= 0). Empty when beta = 0."""
    w = "b3_grid"
    c = _constants(consts, w)
    grid_size = _checks.integer(grid_size, "grid_size", w, minimum=2)
    t = federated_terms(c) if terms is None else terms
    if c.beta == 0.0:
        e = np.empty(0)
        return e, e, e, e
    mc2 = c.M * c.C**2
    a_hi = min(c.beta / mc2, 1.0) if mc2 > 0 else 1.0
    a_all, rho_all, v1, v2 = [], [], [], []
    for a in a_hi * np.geomspace(B3_GRID_LOW, 1.0, grid_size, endpoint=False):
        rho = (a * mc2 / (c.beta - a * mc2) if mc2 > 0 else 0.0) * (1.0 + B3_RHO_SLACK)
        rho = max(rho, np.finfo(np.float64).tiny)
        if a * (1.0 + 1.0 / rho) * mc2 > c.beta:  # never for the rho above; re-checked, not assumed
            continue
        a_all.append(a)
        rho_all.append(rho)
        v1.append(b3_value(c, t, a, rho, "eps_v"))
        v2.append(b3_value(c, t, a, rho, "C_sigma"))
    return np.array(a_all), np.array(rho_all), np.array(v1), np.array(v2)


def bound_b3(consts: BoundConstants, terms: FederatedTerms | None = None, grid_size: int = B3_GRID_SIZE) -> B3Result:
    """B3 minimized over :func:`b3_grid` (both variants). Every grid point is a valid bound."""
    a, rho, v1, v2 = b3_grid(consts, terms, grid_size)
    if a.size == 0:
        return B3Result(np.inf, np.nan, np.nan, "", 0)
    both = np.stack([v1, v2])
    j, i = np.unravel_index(np.argmin(both), both.shape)
    if not np.isfinite(both[j, i]):
        return B3Result(np.inf, np.nan, np.nan, "", int(a.size))
    return B3Result(float(both[j, i]), float(a[i]), float(rho[i]), ("eps_v", "C_sigma")[j], int(a.size))


@dataclass(frozen=True)
class FederatedBound:
    """min(B1, B2, B3, B4) and which one is active ("B1", "B2", "B3" or "B4")."""

    value: float
    active: str
    B1: float
    B2: float
    B3: B3Result
    terms: FederatedTerms
    B4: B4Result | None = None


def federated_bound(consts: BoundConstants) -> FederatedBound:
    """(1/T) sum_t E phi(x_t) <= min(B1, B2, B3, B4) (Theorems 2 and 3, and the client-descent bound B4)."""
    c = _constants(consts, "federated_bound")
    t = federated_terms(c)
    b1, b2, b3, b4 = bound_b1(c, t), bound_b2(c, t), bound_b3(c, t), bound_b4(c)
    vals = {"B1": b1, "B2": b2, "B3": b3.value, "B4": b4.value}
    active = min(vals, key=vals.get)
    return FederatedBound(float(vals[active]), active, float(b1), float(b2), b3, t, b4)


def per_objective_federated_bound(consts: BoundConstants, delta_m: float, L_m: float, preference, m: int) -> float:
    """Remark R2 (potential f_m, Lemma 0(b) instead of 0(a)): min(B1_m, B2_m) with Delta -> Delta_m,
    L_phi -> L_m and + beta ||e_m - p||^2 / 4 in the numerator. B3 is not available in this form.
    Needs, besides the assumptions of Theorems 2/3, inf f_m > -inf (Delta_m = f_m(x_0) - inf f_m finite)."""
    from .lemmas import lemma0b_allowance

    w = "per_objective_federated_bound"
    c = _constants(consts, w)
    delta_m = _checks.real(delta_m, "delta_m", w)
    L_m = _checks.real(L_m, "L_m", w, strict=True)
    extra = lemma0b_allowance(c.beta, preference, m)
    t = federated_terms(c)
    g = c.gamma
    b2 = delta_m / (g * c.T) + t.E_n + t.E_b + t.E_h + 0.5 * L_m * g * t.C_sigma**2 + extra
    den = 1.0 - L_m * g
    b1 = (delta_m / (g * c.T) + t.E_n + t.E_b + t.E_h + L_m * g * t.eps_v**2 + extra) / den if den > 0 else np.inf
    return float(min(b1, b2))
