"""The rate and the beta story, measured.

Rate (Theorem 1): fixed gamma, N = K = 1, sigma = 0: (1/T) sum_{t<T} phi(x_t) and its bound both fall
like 1/T (the sum converges); the fitted slope of log(mean phi) against log T must be -1.
Rate (corollary): N = K = 1 (so zeta = 0), sigma = 0, hence H_0 = 0; eta K = sqrt(Delta / (A T)) for each
T: the bound is 2 sqrt(Delta A / T) and the measured mean phi must fall with slope -1/2 as well.

Beta story (all through the engine's own ``local_update`` and ``aggregate``, or ``run`` for D_lambda):
  * D_lambda (the engine's metric, mean over clients and rounds) is non-increasing in beta;
  * with K = 1, sigma = 0, FIRM iterated to an exact fixed point: phi(x_inf) at beta = 0 stays bounded
    away from 0 under heterogeneity (while the homogeneous control reaches phi = 0), and for large beta
    phi(x_inf) falls like 1/beta^2 (fitted slope -2), as B3's T -> infinity value does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from firm_core import pareto_stationarity
from firm_core import theory as th
from firm_core.federated import AlgorithmConfig, RunConfig, run

from .checks import CheckResult, check_at_least, check_bound, check_le, check_nonincreasing, check_slope
from .problem_constants import make_quadratics, problem_constants, verify_constants
from .tolerances import (
    BETA_SLOPE_TOL,
    BIAS_MIN_RELATIVE,
    FIXED_POINT_MAX_ROUNDS,
    HOMOGENEOUS_MAX_RELATIVE,
    RATE_SLOPE_TOL,
)
from . import limits
from .trace import run_traced


@dataclass
class RateResult:
    name: str
    T: np.ndarray
    measured: np.ndarray
    bound: np.ndarray
    stated_slope: float
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def rate_checks(name: str, T, measured, bound, stated_slope: float) -> list[CheckResult]:
    """measured <= bound at every T, and both fitted slopes within RATE_SLOPE_TOL of the stated rate."""
    return [
        check_bound(f"{name}: mean phi <= bound at every T", measured, bound),
        check_slope(f"{name}: slope of measured mean phi", T, measured, stated_slope, RATE_SLOPE_TOL),
        check_slope(f"{name}: slope of the bound", T, bound, stated_slope, RATE_SLOPE_TOL),
    ]


def theorem1_rate(T_values=(50, 100, 200, 400), *, M: int = 2, beta: float = 1.0, seed: int = 0) -> RateResult:
    """Theorem 1 at gamma = 1 / L_phi: prefix means of one run of max(T) rounds (x_t does not depend on T)."""
    T_values = np.asarray(T_values, dtype=int)
    problem = make_quadratics(num_clients=1, num_objectives=M, dim=10, heterogeneity=0.0, sigma=0.0, seed=seed, x0_distance=10.0)
    c = problem_constants(problem)
    gamma = 1.0 / c.L_phi
    tr = run_traced(problem, beta=beta, eta=gamma, eta_g=1.0, local_steps=1, rounds=int(T_values.max()))
    measured = np.array([tr.phi[:T].mean() for T in T_values])
    bound = np.array([th.theorem1_bound(c.delta, gamma, c.L_phi, int(T)) for T in T_values])
    res = RateResult("Theorem 1 (gamma = 1/L_phi)", T_values, measured, bound, -1.0)
    res.checks = rate_checks(res.name, T_values, measured, bound, -1.0)
    return res


def corollary_rate(T_values=(100, 200, 400, 800), *, M: int = 2, beta: float = 1e4, seed: int = 0) -> RateResult:
    """The corollary with H_0 = 0 (N = K = 1, sigma = 0) at eta K = sqrt(Delta / (A T)), one run per T.
    The constants are re-verified on every run (the ball must hold every iterate)."""
    T_values = np.asarray(T_values, dtype=int)
    problem = make_quadratics(num_clients=1, num_objectives=M, dim=10, heterogeneity=0.0, sigma=0.0, seed=seed,
                              x0_distance=3.0, curvature="identity")
    c = problem_constants(problem)
    base = th.BoundConstants(L=c.L, L_phi=c.L_phi, C=c.C, zeta=c.zeta, sigma=0.0, M=M, beta=beta, eta=1.0, eta_g=1.0,
                             K=1, T=1, delta=c.delta)
    rc = th.rate_constants(base)
    measured, bound, checks = [], [], []
    for T in T_values:
        step = th.optimal_step(c.delta, rc.A, int(T))
        tr = run_traced(problem, beta=beta, eta=step, eta_g=1.0, local_steps=1, rounds=int(T))
        _, vc = verify_constants(problem, c, [tr])
        checks += [x for x in vc if not x.ok]  # a constant that fails on any run fails the rate check
        measured.append(tr.phi[:-1].mean())
        bound.append(th.rate_bound(c.delta, rc.A, rc.H0, int(T)))
    res = RateResult("Corollary (eta K = sqrt(Delta/(A T)), H_0 = 0)", T_values, np.array(measured), np.array(bound), -0.5)
    res.checks = checks + [check_le("corollary: H_0 = 0 here", rc.H0, 0.0, 1.0)] + rate_checks(res.name, T_values, res.measured, res.bound, -0.5)
    return res


# --- beta story ---------------------------------------------------------------------------------------------
@dataclass
class BetaStory:
    betas: np.ndarray  # for D_lambda
    d_lambda: np.ndarray  # mean over rounds of the engine's D_lambda
    fp_betas: np.ndarray  # for phi at the fixed point (first entry 0)
    phi_inf: np.ndarray
    phi_inf_homogeneous: float
    phi0: float
    b3_limit: np.ndarray  # B3 as T -> infinity at the fixed-point betas (inf at beta = 0)
    slope: float
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def fixed_point(problem, beta: float, gamma: float, *, max_rounds: int = FIXED_POINT_MAX_ROUNDS) -> tuple[np.ndarray, int, bool]:
    """Deterministic FIRM with K = 1 (the engine's local_update + aggregate) iterated to a fixed point
    (:func:`theory_checks.limits.fixed_point`); returns (x, rounds, converged)."""
    return limits.fixed_point(problem, beta, gamma, 1, max_rounds=max_rounds)


def beta_story(*, betas=(0.0, 1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3, 1e4), fp_betas=(0.0, 1e3, 1e4, 1e5),
               heterogeneity: float = 1.0, N: int = 8, K: int = 5, rounds: int = 60, seed: int = 0, progress=None) -> BetaStory:
    """D_lambda against beta (engine runs, K local steps) and phi at the K = 1 fixed point against beta."""
    problem = make_quadratics(num_clients=N, num_objectives=2, dim=10, heterogeneity=heterogeneity, sigma=0.0, seed=seed, x0_distance=3.0)
    c = problem_constants(problem)
    lr = 0.3 / (c.L_phi * K)
    d_lam = []
    for beta in betas:
        hist = run(problem, AlgorithmConfig(name="firm", beta=float(beta), lr=lr, local_steps=K), RunConfig(rounds=rounds), progress=False)
        d_lam.append(float(np.mean(hist.series("d_lambda"))))
        if progress is not None:
            progress()
    gamma = 1.0 / c.L
    phi0 = float(pareto_stationarity(problem.jacobian(problem.initial_point())))
    phi_inf, checks = [], []
    for beta in fp_betas:
        x, n_rounds, conv = fixed_point(problem, float(beta), gamma)
        checks.append(check_at_least(f"fixed point reached (beta = {beta:g})", float(conv), 1.0, detail=f"after {n_rounds} rounds"))
        phi_inf.append(float(pareto_stationarity(problem.jacobian(x))))
        if progress is not None:
            progress()
    homog = make_quadratics(num_clients=N, num_objectives=2, dim=10, heterogeneity=0.0, sigma=0.0, seed=seed, x0_distance=3.0)
    xh, _, conv_h = fixed_point(homog, 0.0, 1.0 / problem_constants(homog).L)
    phi_h = float(pareto_stationarity(homog.jacobian(xh)))
    phi_h0 = float(pareto_stationarity(homog.jacobian(homog.initial_point())))
    fp_betas = np.asarray(fp_betas, dtype=np.float64)
    phi_inf = np.asarray(phi_inf)
    big = fp_betas > 0
    b3 = np.array([th.bound_b3(th.BoundConstants(L=c.L, L_phi=c.L_phi, C=c.C, zeta=c.zeta, sigma=0.0, M=2, beta=float(b),
                                                 eta=gamma, eta_g=1.0, K=1, T=10**15, delta=c.delta)).value for b in fp_betas])
    checks.append(check_at_least("fixed point reached (homogeneous control, beta = 0)", float(conv_h), 1.0))
    checks += [
        check_nonincreasing("D_lambda (mean over clients and rounds) non-increasing in beta", d_lam),
        check_at_least("phi_inf(beta = 0) / phi(x_0) bounded away from 0 under heterogeneity", phi_inf[0] / phi0, BIAS_MIN_RELATIVE),
        check_le("control: homogeneous phi_inf(beta = 0) / phi(x_0) ~ 0", phi_h / phi_h0, HOMOGENEOUS_MAX_RELATIVE, 0.0),
        check_slope("phi_inf falls like 1/beta^2", fp_betas[big], phi_inf[big], -2.0, BETA_SLOPE_TOL),
        check_le("phi_inf <= B3 (T -> infinity) for beta > 0", phi_inf[big], b3[big], np.abs(b3[big])),
    ]
    slope = checks[-2].ratio
    return BetaStory(np.asarray(betas, dtype=np.float64), np.asarray(d_lam), fp_betas, phi_inf, phi_h, phi0, b3, slope, checks)
