"""Estimates of the bounds' constants for a problem whose constants are not known in closed form.

On the ball B(x_0, R), at ``samples`` points (half uniform inside, half on the sphere):

    L_hat     = max over points, clients i, objectives m of ||H_{i,m}(x) v|| after POWER_STEPS power
                iterations from a random unit v, where H v ~ (J(x + h v) - J(x - h v)) / (2 h)
                (central differences of the Jacobian: a Hessian-vector product), and at least the
                largest difference quotient ||grad f_{i,m}(x) - grad f_{i,m}(y)|| / ||x - y|| seen
    L_phi_hat = the same for the potential Phi = p^T F (global Jacobian combined with p)
    C_hat     = max ||grad f_{i,m}(x)||,  zeta_hat = max ||grad f_{i,m}(x) - grad f_m(x)||
    sigma_hat = sqrt(max over a few points of the mean ||xi||^2 over NOISE_DRAWS draws)
    Delta_hat = Phi(x_0) - min Phi over the sample points and a gradient-descent probe on Phi

Every one is a lower estimate of the true constant (a maximum over samples), so each is multiplied by
ESTIMATE_SAFETY; none is certified.
"""

from __future__ import annotations

import numpy as np
from firm_core.problems.base import Problem
from firm_core.problems.bound_checks import empirical_constants, sample_ball

#: Every estimated constant is its sampled value times this factor (samples only see a lower estimate).
ESTIMATE_SAFETY = 1.5

#: Power iterations on each sampled Hessian (from a random unit direction).
POWER_STEPS = 5

#: Central-difference step of the Hessian-vector products: h = FD_REL_STEP (1 + ||x||).
FD_REL_STEP = 1e-5

#: Stochastic draws per point for the noise level, and points used.
NOISE_DRAWS = 32
NOISE_POINTS = 4

#: Gradient-descent steps (step 1 / L_phi_hat) of the probe that looks for low values of Phi.
PROBE_STEPS = 200

#: Names of the constants a user may state, with what each bounds (documented in docs/theory.md).
CONSTANT_NAMES = {
    "L": "Lipschitz constant of every client gradient grad f_{i,m}",
    "L_phi": "smoothness of the potential Phi = p^T F (at most L)",
    "C": "bound on every ||grad f_{i,m}|| on a set holding the iterates",
    "zeta": "bound on every ||grad f_{i,m} - grad f_m||",
    "sigma": "noise level: E||xi||^2 <= sigma^2 per objective",
    "delta": "Phi(x_0) - inf Phi",
}


def _jac_all(problem, x) -> np.ndarray:
    """(N, M, d) client Jacobians at rows x (N, d)."""
    return np.asarray(problem.client_jacobians(np.arange(problem.num_clients), x), dtype=np.float64)


def _power_norm(hvp, v0: np.ndarray) -> float:
    """||H v|| after POWER_STEPS power iterations v <- H v / ||H v|| (rows of v0 are independent problems)."""
    v = v0 / np.linalg.norm(v0, axis=-1, keepdims=True)
    norms = np.zeros(v.shape[0])
    for _ in range(POWER_STEPS):
        hv = hvp(v)
        norms = np.linalg.norm(hv, axis=-1)
        v = np.where(norms[:, None] > 0, hv / np.where(norms[:, None] > 0, norms[:, None], 1.0), v)
    return float(norms.max())


def hessian_norms(problem, x: np.ndarray, preference: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    """(max_{i,m} ||H_{i,m}(x)||, ||H_Phi(x)||) estimated by power iteration on central-difference Hessian-vector products."""
    n, m, d = problem.num_clients, problem.num_objectives, problem.dim
    h = FD_REL_STEP * (1.0 + float(np.linalg.norm(x)))
    L = 0.0
    for obj in range(m):  # each client follows its own direction for objective obj
        def hvp(v, obj=obj):
            return (_jac_all(problem, x + h * v)[:, obj] - _jac_all(problem, x - h * v)[:, obj]) / (2.0 * h)
        L = max(L, _power_norm(hvp, rng.normal(size=(n, d))))

    def hvp_phi(v):
        gp = preference @ np.asarray(problem.jacobian(x + h * v[0]), dtype=np.float64)
        gm = preference @ np.asarray(problem.jacobian(x - h * v[0]), dtype=np.float64)
        return ((gp - gm) / (2.0 * h))[None]
    return L, _power_norm(hvp_phi, rng.normal(size=(1, d)))


def noise_level(problem, points: np.ndarray, rng: np.random.Generator) -> float:
    """sqrt(max over points of the mean ||xi||^2 per objective), xi = stochastic - exact Jacobian row."""
    n = problem.num_clients
    worst = 0.0
    for x in points:
        xs = np.broadcast_to(x, (n, problem.dim))
        exact = _jac_all(problem, xs)
        sq = [np.sum((np.asarray(problem.stochastic_jacobians(np.arange(n), xs, list(rng.spawn(n))), dtype=np.float64) - exact) ** 2, axis=-1)
              for _ in range(NOISE_DRAWS)]
        worst = max(worst, float(np.max(np.mean(sq, axis=0))))
    return float(np.sqrt(worst))


def lowest_potential(problem, preference, points: np.ndarray, L_phi: float) -> float:
    """min Phi over the points and along PROBE_STEPS gradient steps 1 / L_phi on Phi from x_0."""
    phi = lambda x: float(preference @ np.asarray(problem.values(x), dtype=np.float64))  # noqa: E731
    low = min(phi(x) for x in points)
    x = np.asarray(problem.initial_point(), dtype=np.float64).copy()
    step = 1.0 / L_phi if L_phi > 0 else 0.0
    for _ in range(PROBE_STEPS if step > 0 else 0):
        x = x - step * (preference @ np.asarray(problem.jacobian(x), dtype=np.float64))
        if not np.all(np.isfinite(x)):
            break
        low = min(low, phi(x))
    return low


def estimate_constants(problem, preference, radius: float, *, samples: int = 32, seed: int = 0) -> dict[str, float]:
    """Every constant of CONSTANT_NAMES estimated on B(x_0, radius) (module docstring), safety factor applied;
    L is raised to at least L_phi (L_phi <= L holds for the true constants)."""
    p = np.asarray(preference, dtype=np.float64)
    x0 = np.asarray(problem.initial_point(), dtype=np.float64)
    rng = np.random.default_rng([seed, 11])
    points = sample_ball(rng, x0, radius, samples)
    emp = empirical_constants(problem, radius, center=x0, num_points=max(samples, 2), seed=seed)
    L, L_phi = emp.L, 0.0
    for x in points:
        a, b = hessian_norms(problem, x, p, rng)
        L, L_phi = max(L, a), max(L_phi, b)
    stochastic = float(getattr(problem, "noise_std", 0.0)) > 0 or type(problem).stochastic_jacobians is not Problem.stochastic_jacobians
    sigma = noise_level(problem, points[:NOISE_POINTS], rng) if stochastic else 0.0
    phi0 = float(p @ np.asarray(problem.values(x0), dtype=np.float64))
    delta = phi0 - lowest_potential(problem, p, points, L_phi)
    s = ESTIMATE_SAFETY
    return {"L": s * max(L, L_phi), "L_phi": s * L_phi, "C": s * emp.C, "zeta": s * emp.zeta, "sigma": s * sigma, "delta": s * max(delta, 0.0)}
