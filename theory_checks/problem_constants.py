"""Every constant of the bounds, exactly or as a verified upper bound, for the quadratic toy problems.

For f_{i,m}(x) = 0.5 (x - c_{i,m})^T A_{i,m} (x - c_{i,m}) (firm_core.problems.quadratics):
  L      = max_{i,m} lambda_max(A_{i,m})                (exact: Hessian eigenvalues)
  L_phi  = lambda_max(sum_m p_m A_m),  L_m = lambda_max(A_m),  mu_Phi = lambda_min(sum_m p_m A_m)
  Delta  = Phi(x_0) - inf Phi  (exact: inf Phi is attained at x(p), a linear solve);  Delta_m likewise
  C      >= max ||grad f_{i,m}|| on the ball B(x(p), R)  (triangle inequality, problem.gradient_bound)
  zeta   >= max ||grad f_{i,m} - grad f_m|| on the same ball  (problem.heterogeneity_bound)
  sigma  = the injected noise level (xi ~ N(0, sigma^2 / d I), so E||xi||^2 = sigma^2 exactly)
The ball is chosen before the run: R = BALL_MARGIN max(||x_0 - x(p)||, sqrt(2 Delta / mu_Phi)) (the
sublevel set {Phi <= Phi(x_0)} lies in the second radius). After the run :func:`verify_constants`
checks that every visited point (server and client iterates) lies in it, that C and zeta dominate every
gradient norm and heterogeneity actually met, and that the noise has the stated second moment; when a
point left the ball, the constants are recomputed on the smallest ball around x(p) holding every point
(also valid: the assumptions are only needed on a convex set holding the iterates) and the report says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from firm_core.problems.quadratics import HeterogeneousQuadratics

from .checks import CheckResult, check_le
from .tolerances import BALL_MARGIN, NOISE_Z


@dataclass(frozen=True)
class ProblemConstants:
    L: float
    L_phi: float
    L_m: np.ndarray
    mu_phi: float
    delta: float
    delta_m: np.ndarray
    center: np.ndarray
    radius: float
    C: float
    zeta: float
    sigma: float
    ball: str = "a-priori"

    def summary(self) -> dict:
        return {"L": self.L, "L_phi": self.L_phi, "mu_phi": self.mu_phi, "Delta": self.delta, "C": self.C,
                "zeta": self.zeta, "sigma": self.sigma, "radius": self.radius, "ball": self.ball}


def make_quadratics(*, num_clients: int, num_objectives: int, dim: int, heterogeneity: float, sigma: float,
                    seed: int, x0_distance: float, preference=None, curvature: str = "dense",
                    curvature_range=(0.5, 2.0)) -> HeterogeneousQuadratics:
    """A HeterogeneousQuadratics instance with x_0 = x(p) + x0_distance * u (u a seeded unit vector)."""
    kw = dict(num_clients=num_clients, num_objectives=num_objectives, dim=dim, heterogeneity=heterogeneity,
              noise_std=sigma, seed=seed, curvature=curvature, curvature_range=curvature_range)
    base = HeterogeneousQuadratics(**kw)
    p = np.full(num_objectives, 1.0 / num_objectives) if preference is None else np.asarray(preference)
    u = np.random.default_rng([seed, 7]).normal(size=dim)
    x0 = base.pareto_set_point(p) + x0_distance * u / np.linalg.norm(u)
    return HeterogeneousQuadratics(**kw, x0=x0)


def problem_constants(problem, preference=None, radius: float | None = None) -> ProblemConstants:
    """The constants on the a-priori ball (or on B(x(p), radius) when ``radius`` is given); for a problem
    with ``global_constants`` (theory_checks.cauchy) the global ones, with Delta <= Phi(x_0) - (lower bound of inf Phi)."""
    m = problem.num_objectives
    p = np.full(m, 1.0 / m) if preference is None else np.asarray(preference, dtype=np.float64)
    if hasattr(problem, "global_constants"):
        g = problem.global_constants(p)
        x0 = problem.initial_point()
        f0 = np.asarray(problem.values(x0), dtype=np.float64)
        return ProblemConstants(
            L=g["L"], L_phi=g["L_phi"], L_m=np.asarray(g["L_m"]), mu_phi=float("nan"), delta=float(p @ f0 - g["inf_phi_lower"]),
            delta_m=f0 - g["inf_m_lower"], center=x0, radius=float("inf"), C=g["C"], zeta=g["zeta"],
            sigma=float(problem.noise_std), ball="global",
        )
    sm = problem.smoothness(p)
    h_phi = np.tensordot(p, problem.global_hessians(), axes=1)
    mu_phi = float(np.linalg.eigvalsh(h_phi)[0])
    x0 = problem.initial_point()
    delta = float(p @ problem.values(x0) - problem.inf_potential(p))
    mins = problem.global_minimizers()
    delta_m = np.array([problem.values(x0)[j] - problem.values(mins[j])[j] for j in range(m)])
    center = problem.pareto_set_point(p)
    ball = "given"
    if radius is None:
        radius = BALL_MARGIN * max(float(np.linalg.norm(x0 - center)), float(np.sqrt(2.0 * delta / mu_phi)))
        ball = "a-priori"
    return ProblemConstants(
        L=sm.L, L_phi=sm.L_phi, L_m=np.asarray(sm.L_per_objective, dtype=np.float64), mu_phi=mu_phi,
        delta=delta, delta_m=delta_m, center=center, radius=float(radius),
        C=problem.gradient_bound(radius, center), zeta=problem.heterogeneity_bound(radius, center),
        sigma=float(problem.noise_std), ball=ball,
    )


def verify_constants(problem, consts: ProblemConstants, traces, preference=None) -> tuple[ProblemConstants, list[CheckResult]]:
    """Check the constants against every trace (module docstring); returns the constants to use and the checks."""
    pts = np.concatenate([tr.all_points() for tr in traces])
    r_obs = float(np.max(np.linalg.norm(pts - consts.center, axis=1)))
    checks = []
    if r_obs > consts.radius:
        consts = replace(problem_constants(problem, preference, radius=r_obs * (1.0 + 1e-12)), ball="a-posteriori")
    checks.append(check_le("every iterate in the ball", r_obs, consts.radius, detail=f"({consts.ball} ball, R = {consts.radius:.4g})"))
    grad_norms = np.concatenate([np.linalg.norm(tr.jac_clean, axis=-1).ravel() for tr in traces]
                                + [np.linalg.norm(problem.client_jacobians(np.arange(problem.num_clients), tr.y_final[t]), axis=-1).ravel()
                                   for tr in traces for t in range(tr.rounds)])
    checks.append(check_le("C >= every ||grad f_{i,m}|| met", grad_norms.max(), consts.C))
    het = np.concatenate([np.linalg.norm(tr.jac_clean[:, :, 0] - tr.jac_server[:-1, None], axis=-1).ravel() for tr in traces])
    checks.append(check_le("zeta >= every heterogeneity met", het.max(), consts.zeta))
    if consts.sigma > 0:
        xi_sq = np.concatenate([np.sum((tr.jac_used - tr.jac_clean) ** 2, axis=-1).ravel() for tr in traces])
        mean, se = float(xi_sq.mean()), float(xi_sq.std(ddof=1) / np.sqrt(xi_sq.size))
        checks.append(check_le("noise: |mean ||xi||^2 - sigma^2| within NOISE_Z standard errors",
                               abs(mean - consts.sigma**2), NOISE_Z * se, detail=f"(mean {mean:.4g} vs sigma^2 {consts.sigma**2:.4g})"))
    return consts, checks
