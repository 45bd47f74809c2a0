"""Where FIRM ends: checks of statements about the iterates themselves (docs/theory.md, section 8b).

* One client (N = K = 1, sigma = 0, beta > 0): Phi(x_T) - inf Phi, ||x_T - x(p)|| and ||lambda_T - p|| against
  their 1/T bounds (``firm_core.theory.single_client_limit_bounds``) at several T.
* Heterogeneous clients: FIRM iterated to an exact fixed point (the engine's ``local_update`` and ``aggregate``)
  for K = 1 and K > 1 over beta: ||grad Phi(x_inf)|| and ||x_inf - x(p)|| against g_inf and g_inf / mu; for K = 1
  the offset falls like 1/beta, for K > 1 it levels off at a floor (client drift) bounded by rho_K zeta_p / (1 - rho_K),
  and a homogeneous control (zeta_p = 0) shows the floor is heterogeneity's.
* Preference following: p swept over the simplex (M = 2); x_T (one client) and x_inf (heterogeneous, K = 1) against
  the analytic front point x(p) = argmin p^T F; F(x) must follow the front in order (f_1 decreasing in p_1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from firm_core import theory as th
from firm_core.federated import aggregate, client_rngs, local_update

from .checks import CheckResult, check_at_least, check_le, fit_slope
from .problem_constants import make_quadratics, problem_constants
from .tolerances import FIXED_POINT_MAX_ROUNDS, FIXED_POINT_TOL, HOMOGENEOUS_MAX_RELATIVE, ROUNDOFF_RTOL
from .trace import run_traced


@dataclass
class LimitResult:
    name: str
    rows: list[dict] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    notes: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def fixed_point(problem, beta: float, lr: float, local_steps: int = 1, preference=None,
                max_rounds: int = FIXED_POINT_MAX_ROUNDS) -> tuple[np.ndarray, int, bool]:
    """Iterate deterministic FIRM (the engine's local_update + aggregate, every client) until
    ||x_{t+1} - x_t|| <= FIXED_POINT_TOL (1 + ||x_t||); returns (x, rounds, converged)."""
    x = problem.initial_point()
    ids = np.arange(problem.num_clients)
    for t in range(max_rounds):
        res = local_update(problem, ids, x, client_rngs(0, t, ids), local_steps=local_steps, lr=lr, beta=beta, preference=preference)
        x_new = aggregate(x, res.y, problem.client_weights, 1.0)
        step = float(np.linalg.norm(x_new - x))
        x = x_new
        if step <= FIXED_POINT_TOL * (1.0 + np.linalg.norm(x)):
            return x, t + 1, True
    return x, max_rounds, False


def single_client_limit(T_values=(5, 10, 20, 40), *, beta: float = 100.0, M: int = 2, seed: int = 0) -> LimitResult:
    """One client: Phi(x_T) - inf Phi, ||x_T - x(p)||, ||lambda_T - p|| <= their bounds at every T."""
    T_values = np.asarray(T_values, dtype=int)
    pr = make_quadratics(num_clients=1, num_objectives=M, dim=10, heterogeneity=0.0, sigma=0.0, seed=seed, x0_distance=3.0)
    c = problem_constants(pr)
    gamma = 1.0 / c.L_phi
    tr = run_traced(pr, beta=beta, eta=gamma, eta_g=1.0, local_steps=1, rounds=int(T_values.max()))
    inf_phi = float(tr.potential[0] - c.delta)
    res = LimitResult(f"one client (beta = {beta:g})")
    gap, dist, lam, b_gap, b_dist, b_lam = [], [], [], [], [], []
    for T in T_values:
        b = th.single_client_limit_bounds(c.delta, gamma, c.L_phi, c.mu_phi, M, c.C, beta, int(T))
        gap.append(float(tr.potential[T] - inf_phi))
        dist.append(float(np.linalg.norm(tr.x[T] - c.center)))
        lam.append(float(np.linalg.norm(tr.lam_server[T] - tr.preference)))
        b_gap.append(b["potential_gap"])
        b_dist.append(b["distance"])
        b_lam.append(b["weights"])
        res.rows.append({"T": int(T), "gap": gap[-1], "gap_bound": b_gap[-1], "distance": dist[-1], "distance_bound": b_dist[-1],
                         "lambda_gap": lam[-1], "lambda_bound": b_lam[-1], "informative": b_dist[-1] < np.linalg.norm(tr.x[0] - c.center)})
    scale = np.abs(tr.potential).max()
    res.checks = [
        check_le("Phi(x_T) - inf Phi <= bound at every T", gap, b_gap, np.asarray(b_gap) + ROUNDOFF_RTOL * scale),
        check_le("||x_T - x(p)|| <= bound at every T", dist, b_dist, np.asarray(b_dist) + np.linalg.norm(c.center) + dist),
        check_le("||lambda_T - p|| <= bound at every T", lam, b_lam, np.asarray(b_lam) + 1.0),
    ]
    res.notes = {"distance_rate": float(np.exp(np.polyfit(T_values, np.log(np.maximum(dist, 1e-300)), 1)[0])),
                 "bound_rate": float(np.exp(np.polyfit(T_values, np.log(b_dist), 1)[0])),
                 "x0_distance": float(np.linalg.norm(tr.x[0] - c.center))}
    return res


def fixed_point_offsets(betas=(1e2, 1e3, 1e4, 1e5), K_values=(1, 5), *, N: int = 4, heterogeneity: float = 0.5,
                        seed: int = 0, progress=None) -> LimitResult:
    """Heterogeneous clients at the fixed point: ||grad Phi(x_inf)|| <= g_inf and ||x_inf - x(p)|| <= g_inf / mu."""
    res = LimitResult(f"fixed points, N = {N}, heterogeneity {heterogeneity:g}")
    pr = make_quadratics(num_clients=N, num_objectives=2, dim=10, heterogeneity=heterogeneity, sigma=0.0, seed=seed, x0_distance=3.0)
    c = problem_constants(pr)
    p = np.full(2, 0.5)
    g0 = float(np.linalg.norm(p @ pr.jacobian(pr.initial_point())))
    grads, bounds = {}, {}
    for K in K_values:
        lr = 0.6 / (c.L * K)
        for beta in betas:
            x, n_rounds, conv = fixed_point(pr, float(beta), lr, K)
            res.checks.append(check_at_least(f"fixed point reached (K = {K}, beta = {beta:g})", float(conv), 1.0, detail=f"after {n_rounds} rounds"))
            g = float(np.linalg.norm(p @ pr.jacobian(x)))
            bound = th.fixed_point_gradient_bound(2, c.C, c.zeta_p, c.L, lr, K, float(beta))
            grads[(K, beta)], bounds[(K, beta)] = g, bound
            res.rows.append({"K": K, "beta": float(beta), "grad": g, "grad_bound": bound, "offset": float(np.linalg.norm(x - c.center)),
                             "offset_bound": bound / c.mu_phi, "floor_bound": th.fixed_point_floor(c.zeta_p, c.L, lr, K),
                             "informative": bound < g0})
            if progress is not None:
                progress()
    r = res.rows
    res.checks.append(check_le("||grad Phi(x_inf)|| <= g_inf (every K, beta)", [x["grad"] for x in r], [x["grad_bound"] for x in r]))
    res.checks.append(check_le("||x_inf - x(p)|| <= g_inf / mu (every K, beta)", [x["offset"] for x in r], [x["offset_bound"] for x in r]))
    k1 = [grads[(1, b)] for b in betas]
    res.notes["slope_K1"] = fit_slope(betas, k1)
    if max(K_values) > 1:
        kmax = max(K_values)
        # the K > 1 floor: the offset stops falling with beta (last two betas within a factor 2), the K = 1 one keeps falling
        res.notes["floor_K"] = grads[(kmax, betas[-1])]
        res.checks.append(check_at_least(f"K = {kmax}: offset levels off (grad at beta = {betas[-1]:g} >= half its value at {betas[-2]:g})",
                                         grads[(kmax, betas[-1])] / grads[(kmax, betas[-2])], 0.5))
        homog = make_quadratics(num_clients=N, num_objectives=2, dim=10, heterogeneity=0.0, sigma=0.0, seed=seed, x0_distance=3.0)
        ch = problem_constants(homog)
        xh, _, conv_h = fixed_point(homog, float(betas[-1]), 0.6 / (ch.L * kmax), kmax)
        gh = float(np.linalg.norm(p @ homog.jacobian(xh)))
        g0h = float(np.linalg.norm(p @ homog.jacobian(homog.initial_point())))
        res.notes["floor_homogeneous"] = gh
        res.checks.append(check_at_least("homogeneous control reached its fixed point", float(conv_h), 1.0))
        res.checks.append(check_le(f"homogeneous control: K = {kmax} floor vanishes (zeta_p = 0)", gh / g0h, np.sqrt(HOMOGENEOUS_MAX_RELATIVE), 0.0))
    return res


def preference_following(prefs=(0.1, 0.3, 0.5, 0.7, 0.9), *, beta: float = 1e4, T: int = 400, N_het: int = 4,
                         heterogeneity: float = 0.3, seed: int = 0) -> LimitResult:
    """p = (p_1, 1 - p_1) over the simplex: where FIRM ends against the analytic front point F(x(p))."""
    res = LimitResult(f"preference following (beta = {beta:g})")
    one = make_quadratics(num_clients=1, num_objectives=2, dim=10, heterogeneity=0.0, sigma=0.0, seed=seed, x0_distance=3.0)
    het = make_quadratics(num_clients=N_het, num_objectives=2, dim=10, heterogeneity=heterogeneity, sigma=0.0, seed=seed, x0_distance=3.0)
    f1_one, f1_het, d_one, b_one, d_het, b_het, lam, lam_b, f_scale = [], [], [], [], [], [], [], [], []
    for p1 in prefs:
        p = np.array([p1, 1.0 - p1])
        c = problem_constants(one, preference=p)
        gamma = 1.0 / c.L_phi
        tr = run_traced(one, beta=beta, eta=gamma, eta_g=1.0, local_steps=1, rounds=T, preference=p)
        b = th.single_client_limit_bounds(c.delta, gamma, c.L_phi, c.mu_phi, 2, c.C, beta, T)
        front = one.values(c.center)
        f_scale.append(float(np.abs(front).sum() + np.abs(tr.values[-1]).sum()))
        d_one.append(float(np.linalg.norm(tr.values[-1] - front)))
        b_one.append(np.sqrt(2) * c.C * b["distance"])  # |f_m(x) - f_m(y)| <= C ||x - y|| on the ball
        lam.append(float(np.linalg.norm(tr.lam_server[-1] - p)))
        lam_b.append(b["weights"])
        f1_one.append(float(tr.values[-1][0]))
        ch = problem_constants(het, preference=p)
        x, _, conv = fixed_point(het, beta, 1.0 / ch.L, 1, preference=p)
        res.checks.append(check_at_least(f"fixed point reached (p_1 = {p1:g})", float(conv), 1.0))
        g_inf = th.fixed_point_gradient_bound(2, ch.C, ch.zeta_p, ch.L, 1.0 / ch.L, 1, beta)
        d_het.append(float(np.linalg.norm(het.values(x) - het.values(ch.center))))
        b_het.append(np.sqrt(2) * ch.C * g_inf / ch.mu_phi)
        f1_het.append(float(het.values(x)[0]))
        res.rows.append({"p1": p1, "F_T": tr.values[-1].tolist(), "F_front": front.tolist(), "dist_one": d_one[-1], "bound_one": b_one[-1],
                         "lambda_gap": lam[-1], "lambda_bound": lam_b[-1], "F_inf_het": het.values(x).tolist(),
                         "F_front_het": het.values(ch.center).tolist(), "dist_het": d_het[-1], "bound_het": b_het[-1]})
    res.checks += [
        check_le("one client: ||F(x_T) - F(x(p))|| <= sqrt(M) C ||x_T - x(p)|| bound, every p", d_one, b_one, np.asarray(b_one) + f_scale),
        check_le("one client: ||lambda_T - p|| <= bound, every p", lam, lam_b, np.asarray(lam_b) + 1.0),
        check_le("heterogeneous (K = 1): ||F(x_inf) - F(x(p))|| <= sqrt(M) C g_inf / mu, every p", d_het, b_het),
        check_le("front followed in order: f_1(x_T) decreasing in p_1 (one client)", np.diff(f1_one), 0.0, np.abs(f1_one[:-1])),
        check_le("front followed in order: f_1(x_inf) decreasing in p_1 (heterogeneous)", np.diff(f1_het), 0.0, np.abs(f1_het[:-1])),
    ]
    return res
