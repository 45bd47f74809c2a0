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
    zeta_p: float = float("nan")  # >= sqrt(sum_i w_i ||(G_i - G) p||^2) on the ball (B4)
    zeta_f: float = float("nan")  # >= sqrt(sum_i w_i ||(G_i - G) P_perp||_F^2) on the ball (B4)

    def summary(self) -> dict:
        return {"L": self.L, "L_phi": self.L_phi, "mu_phi": self.mu_phi, "Delta": self.delta, "C": self.C,
                "zeta": self.zeta, "zeta_p": self.zeta_p, "zeta_f": self.zeta_f, "sigma": self.sigma, "radius": self.radius, "ball": self.ball}


def make_quadratics(*, num_clients: int, num_objectives: int, dim: int, heterogeneity: float, sigma: float,
                    seed: int, x0_distance: float, preference=None, curvature: str = "dense",
                    curvature_range=(0.5, 2.0), client_weights=None) -> HeterogeneousQuadratics:
    """A HeterogeneousQuadratics instance with x_0 = x(p) + x0_distance * u (u a seeded unit vector)."""
    kw = dict(num_clients=num_clients, num_objectives=num_objectives, dim=dim, heterogeneity=heterogeneity,
              noise_std=sigma, seed=seed, curvature=curvature, curvature_range=curvature_range,
              client_weights=None if client_weights is None else np.asarray(client_weights, dtype=np.float64))
    base = HeterogeneousQuadratics(**kw)
    p = np.full(num_objectives, 1.0 / num_objectives) if preference is None else np.asarray(preference)
    u = np.random.default_rng([seed, 7]).normal(size=dim)
    x0 = base.pareto_set_point(p) + x0_distance * u / np.linalg.norm(u)
    return HeterogeneousQuadratics(**kw, x0=x0)


def heterogeneity_rms(problem, preference, radius: float, center) -> tuple[float, float]:
    """(zeta_p, zeta_f) on B(center, radius) for a problem with affine gradients (the quadratics).

    E_i(x) = (G_i(x) - G(x)) B is affine, E_i(center + z) = M_i z + o_i (recovered exactly from d + 1 Jacobian
    evaluations, and the affinity re-checked at a random point); by Minkowski in the w-weighted L2 over clients,
    sup_{||z|| <= R} sqrt(sum_i w_i ||M_i z + o_i||^2) <= sqrt(lambda_max(sum_i w_i M_i^T M_i)) R + sqrt(sum_i w_i ||o_i||^2),
    with B = p (zeta_p) and B = P_perp (zeta_f, Frobenius norm)."""
    n, m, d = int(problem.num_clients), int(problem.num_objectives), int(problem.dim)
    ids = np.arange(n)
    w = np.asarray(problem.client_weights, dtype=np.float64)
    w = w / w.sum()
    proj = np.eye(m) - 1.0 / m

    def het(x):  # (N, M, d) rows G_i(x)^T - G(x)^T
        jac = np.asarray(problem.client_jacobians(ids, np.tile(x, (n, 1))), dtype=np.float64)
        return jac - np.einsum("i,imd->md", w, jac)[None]

    h0 = het(center)
    slopes = np.stack([het(center + e) - h0 for e in np.eye(d)], axis=-1)  # (N, M, d, d): d h / d x_j
    z = np.random.default_rng(0).normal(size=d)
    if not np.allclose(het(center + z), h0 + slopes @ z, rtol=1e-9, atol=1e-9 * (1.0 + np.abs(h0).max())):
        raise ValueError("heterogeneity_rms: the problem's gradients are not affine; pass global constants instead")
    out = []
    for comb in (np.asarray(preference, dtype=np.float64)[None], proj):  # (r, M) row combinations
        o = np.einsum("rm,imd->ird", comb, h0).reshape(n, -1)
        mat = np.einsum("rm,imdj->irdj", comb, slopes).reshape(n, -1, d)
        gram_m = np.einsum("i,iaj,iak->jk", w, mat, mat)
        lam_max = float(np.linalg.eigvalsh(gram_m)[-1])
        out.append(float(np.sqrt(max(lam_max, 0.0)) * radius + np.sqrt(np.sum(w * np.sum(o**2, axis=1)))))
    return out[0], out[1]


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
            sigma=float(problem.noise_std), ball="global", zeta_p=g["zeta"], zeta_f=float(np.sqrt(m) * g["zeta"]),
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
    zeta_p, zeta_f = heterogeneity_rms(problem, p, float(radius), center)
    return ProblemConstants(
        L=sm.L, L_phi=sm.L_phi, L_m=np.asarray(sm.L_per_objective, dtype=np.float64), mu_phi=mu_phi,
        delta=delta, delta_m=delta_m, center=center, radius=float(radius),
        C=problem.gradient_bound(radius, center), zeta=problem.heterogeneity_bound(radius, center),
        sigma=float(problem.noise_std), ball=ball, zeta_p=zeta_p, zeta_f=zeta_f,
    )


def measured_heterogeneity_rms(traces, preference=None) -> tuple[float, float]:
    """The largest sqrt(sum_i w_i ||(G_i(x_t) - G(x_t)) p||^2) and sqrt(sum_i w_i ||(G_i - G) P_perp||_F^2) over the
    server iterates of the traces (the local, a-posteriori values of zeta_p and zeta_f)."""
    zp, zf = 0.0, 0.0
    for tr in traces:
        p = tr.preference if preference is None else np.asarray(preference, dtype=np.float64)
        w = tr.client_weights / tr.client_weights.sum()
        het = tr.jac_clean[:, :, 0] - tr.jac_server[:-1, None]  # (T, N, M, d)
        hp = np.einsum("m,tnmd->tnd", p, het)
        hf = het - het.mean(axis=2, keepdims=True)  # rows of (G_i - G) P_perp (P_perp symmetric)
        zp = max(zp, float(np.sqrt(np.max(np.einsum("n,tn->t", w, np.sum(hp**2, axis=-1))))))
        zf = max(zf, float(np.sqrt(np.max(np.einsum("n,tn->t", w, np.sum(hf**2, axis=(-2, -1)))))))
    return zp, zf


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
    zp, zf = measured_heterogeneity_rms(traces, preference)
    checks.append(check_le("zeta_p >= every RMS heterogeneity of grad Phi met", zp, consts.zeta_p))
    checks.append(check_le("zeta_f >= every RMS heterogeneity of P_perp G met", zf, consts.zeta_f))
    if consts.sigma > 0:
        xi_sq = np.concatenate([np.sum((tr.jac_used - tr.jac_clean) ** 2, axis=-1).ravel() for tr in traces])
        mean, se = float(xi_sq.mean()), float(xi_sq.std(ddof=1) / np.sqrt(xi_sq.size))
        checks.append(check_le("noise: |mean ||xi||^2 - sigma^2| within NOISE_Z standard errors",
                               abs(mean - consts.sigma**2), NOISE_Z * se, detail=f"(mean {mean:.4g} vs sigma^2 {consts.sigma**2:.4g})"))
    return consts, checks
