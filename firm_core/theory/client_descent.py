"""B4, the client-descent bound (docs/theory.md, section 7b): Lemma 0(a) applied at each *client*.

Write omega_{i,k} = w_i / K, d~_{i,k} = G~_{i,k} lambda_{i,k}, v = sum omega d~ and per round
V = ||v||^2, D = sum omega ||d~ - v||^2, R = sum omega ||lambda - p||^2, A = V + D. Then, in expectation,

    (1/T) sum_t [c_V V_t + c_D D_t + c_R R_t] <= H = Delta / (gamma T) + const,
    (1/T) sum_t E phi(x_t) <= (sqrt((1/T) sum E[...] K_c) + sqrt(E N'^2))^2 <= (sqrt(K_c H) + N_0)^2,

    K_c = (1 + sqrt Dr_1)^2 / c_V + Dr_1 / c_D + c_lam^2 / c_R,  Dr = L^2 eta^2 K (K - 1) / 2,  Dr_1 = L^2 eta^2 (K - 1)(2K - 1) / 6,
    c_lam = min(zeta_f, sqrt(M) C),  N_0 = sqrt(M) sigma; variant "Y0" (any beta >= 0, R not used in the link):
    drop c_lam^2 / c_R from K_c and add sqrt 2 c_lam to N_0 (||lambda - p|| <= sqrt 2).

Two routes give (c_V, c_D, c_R, const); every grid point of either is a valid bound (S = participation):

    route Y (any sigma):   c_V = 1 - a - rho - L_phi gamma / 2,   c_D = 1 - theta - rho - L_phi gamma / (2 S),   c_R = beta,
                           const = (1 + tau) (zeta_p + sigma)^2 / (4 theta) + [sigma > 0] (1 + tau') sigma^2 / (4 a),
                           rho = Dr (1 + 1/tau) / (4 theta) + Dr_1 (1 + 1/tau') / (4 a)
    route R (sigma = 0, beta > 0; phi_F = kappa + (1 - 2 kappa)^2 M C^2 / (4 b beta)):
                           c_V = 1 - a - rho - L_phi gamma / 2,   c_D = kappa - rho - L_phi gamma / (2 S),   c_R = beta (1 - b),
                           const = phi_F (1 + tau) zeta_p^2,   rho = Dr phi_F (1 + 1/tau) + Dr_1 / (4 a)

Assumptions: (A1)-(A5) on a convex set holding the iterates ((A2) almost surely when sigma > 0), zeta_p and
zeta_f valid at the server iterates, inf Phi > -inf, full participation or the unbiased sampling (S draws
with replacement, probabilities w, weights counts / S; S = None means full), no dropped client.

C enters only through c_lam and route R's 1/beta term: the bound has no C^2 floor. Its heterogeneity floor
is ~ zeta_p^2 / 4 (route Y) or ~ M C^2 zeta_p^2 / beta (route R), so it falls like 1/beta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .constants import BoundConstants
from .lemmas import SIMPLEX_DIAMETER

#: Points per axis of B4's parameter grid (theta or kappa, b, a, tau, tau').
B4_GRID_SIZE = 14


@dataclass(frozen=True)
class B4Result:
    """min over the admissible grid of both routes; ``route`` ("Y", "Y0" or "R") and ``params`` attain it."""

    value: float
    route: str
    params: dict
    floor: float  # the T -> infinity value of the minimizing grid point's bound family (Delta / (gamma T) -> 0)


def _axis(lo: float, hi: float, n: int = B4_GRID_SIZE, log: bool = True) -> np.ndarray:
    return np.geomspace(lo, hi, n) if log else np.linspace(lo, hi, n)


def _finish(c: BoundConstants, cV, cD, cR, const, dr: float, c_lam: float, n0: float, use_r: bool = True):  # dr: Dr_1 here
    """(value, floor) arrays of the bound (sqrt(K_c H) + N_0)^2 at every grid point (inf where inadmissible).
    ``use_r`` False: the link does not use R (||lambda - p|| <= sqrt 2 instead; valid for every beta >= 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        kc = (1.0 + np.sqrt(dr)) ** 2 / cV
        if dr > 0:
            kc = kc + np.where(cD > 0, dr / np.where(cD > 0, cD, 1.0), np.inf)
        if use_r:
            kc = kc + np.where(cR > 0, c_lam**2 / np.where(cR > 0, cR, 1.0), np.inf)
        ok = (cV > 0) & (cD >= 0) & (cR >= 0) & np.isfinite(kc)
        head = c.delta / (c.gamma * c.T)
        val = np.where(ok, (np.sqrt(kc * (head + const)) + n0) ** 2, np.inf)
        floor = np.where(ok, (np.sqrt(kc * const) + n0) ** 2, np.inf)
    return val, floor


def _route_y(c: BoundConstants, dr: float, dr1: float, zeta_p: float, c_lam: float, n0: float, s_inv: float, use_r: bool):
    sigma = c.sigma
    theta = _axis(0.02, 1.0, log=False)
    a = _axis(1e-3, 0.9) if (sigma > 0 or dr > 0) else np.array([0.0])
    tau = _axis(1e-3, 1e3) if dr > 0 else np.array([0.0])
    tau2 = _axis(1e-3, 1e3) if (dr > 0 and sigma > 0) else np.array([0.0])
    th, aa, t1, t2 = np.meshgrid(theta, a, tau, tau2, indexing="ij")
    with np.errstate(divide="ignore", invalid="ignore"):
        e_drift = np.where(t1 > 0, 1.0 + 1.0 / np.where(t1 > 0, t1, 1.0), 1.0)
        e_bar = np.where(t2 > 0, 1.0 + 1.0 / np.where(t2 > 0, t2, 1.0), 1.0)
        rho = (dr * e_drift / (4.0 * th) + dr1 * np.where(aa > 0, e_bar / (4.0 * np.where(aa > 0, aa, 1.0)), 0.0)) if dr > 0 else 0.0 * th
        noise = (1.0 + t2) * sigma**2 / (4.0 * aa) if sigma > 0 else 0.0 * th
    cV = 1.0 - aa - rho - 0.5 * c.L_phi * c.gamma
    cD = 1.0 - th - rho - 0.5 * c.L_phi * c.gamma * s_inv
    cR = np.full_like(th, c.beta)
    const = (1.0 + t1) * (zeta_p + sigma) ** 2 / (4.0 * th) + noise
    val, floor = _finish(c, cV, cD, cR, const, dr1, c_lam, n0, use_r)
    j = int(np.argmin(val))
    params = {"theta": float(th.flat[j]), "a": float(aa.flat[j]), "tau": float(t1.flat[j]), "tau2": float(t2.flat[j])}
    return float(val.flat[j]), float(floor.flat[j]), params


def _route_r(c: BoundConstants, dr: float, dr1: float, zeta_p: float, c_lam: float, s_inv: float):
    kappa = _axis(0.0, 0.5, log=False)
    b = _axis(0.02, 0.98, log=False)
    a = _axis(1e-3, 0.9) if dr > 0 else np.array([0.0])
    tau = _axis(1e-3, 1e3) if dr > 0 else np.array([0.0])
    kk, bb, aa, t1 = np.meshgrid(kappa, b, a, tau, indexing="ij")
    phi_f = kk + (1.0 - 2.0 * kk) ** 2 * c.M * c.C**2 / (4.0 * bb * c.beta)
    with np.errstate(divide="ignore", invalid="ignore"):
        e_drift = np.where(t1 > 0, 1.0 + 1.0 / np.where(t1 > 0, t1, 1.0), 1.0)
        rho = (dr * phi_f * e_drift + dr1 / (4.0 * aa)) if dr > 0 else 0.0 * kk
    cV = 1.0 - aa - rho - 0.5 * c.L_phi * c.gamma
    cD = kk - rho - 0.5 * c.L_phi * c.gamma * s_inv
    cR = c.beta * (1.0 - bb)
    const = phi_f * (1.0 + t1) * zeta_p**2
    val, floor = _finish(c, cV, cD, cR, const, dr1, c_lam, 0.0)
    j = int(np.argmin(val))
    params = {"kappa": float(kk.flat[j]), "b": float(bb.flat[j]), "a": float(aa.flat[j]), "tau": float(t1.flat[j])}
    return float(val.flat[j]), float(floor.flat[j]), params


def bound_b4(consts: BoundConstants) -> B4Result:
    """B4 (module docstring): a bound on (1/T) sum_t E phi(x_t), minimized over both routes' grids."""
    if not isinstance(consts, BoundConstants):
        raise TypeError(f"bound_b4: `consts` must be a BoundConstants, got {type(consts).__name__}")
    c = consts
    dr = c.L**2 * c.eta**2 * c.K * (c.K - 1) / 2.0  # sum omega L^2 delta^2 <= Dr A
    dr1 = c.L**2 * c.eta**2 * (c.K - 1) * (2 * c.K - 1) / 6.0  # (sum omega L delta)^2 <= Dr_1 A
    zeta_p = min(c.zeta_p, c.zeta)
    c_lam = min(c.zeta_f, np.sqrt(c.M) * c.zeta, np.sqrt(c.M) * c.C)
    s_inv = 0.0 if c.participation is None else 1.0 / c.participation
    n0 = np.sqrt(c.M) * c.sigma
    best = B4Result(np.inf, "", {}, np.inf)
    # route Y with the link through R (beta > 0), and without it (||lambda - p|| <= sqrt 2; any beta >= 0)
    for use_r, extra in ((True, 0.0), (False, SIMPLEX_DIAMETER * c_lam)):
        if use_r and c.beta == 0:
            continue
        value, floor, params = _route_y(c, dr, dr1, zeta_p, c_lam, n0 + extra, s_inv, use_r)
        if value < best.value:
            best = B4Result(value, "Y" if use_r else "Y0", params, floor)
    if c.sigma == 0 and c.beta > 0:
        value, floor, params = _route_r(c, dr, dr1, zeta_p, c_lam, s_inv)
        if value < best.value:
            best = B4Result(value, "R", params, floor)
    return best
