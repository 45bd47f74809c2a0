"""Classic two-objective toys, made federated by per-client linear tilts that average out exactly.

Client i's objective m is the global one plus a linear tilt:

    f_{i,m}(x) = f_m(x) + h <u_{i,m}, x - x_ref>,     sum_i w_i u_{i,m} = 0,

with u_{i,m} ~ N(0, I/d) re-centered under the client weights and h = ``heterogeneity``. So the
global problem is *exactly* the classic one (its Pareto set and front hold unchanged), while the
client gradients differ by h u_{i,m} (gradient heterogeneity zeta = h max ||u_{i,m}||, constant in x).
For the VLMOP pair (Hessian I/2) the tilt is exactly a shift of client i's center by 2 h u_{i,m} up
to an additive constant; for the others it is the first-order version of a center shift.
"""

from __future__ import annotations

import numpy as np

from ._checks import (
    check_client_weights,
    check_clients_and_points,
    check_float,
    check_int,
    check_point,
    check_seed,
    check_simplex_weights,
    lattice_with_at_least,
)
from ._set_distance import distance_to_parametric_set
from .base import Problem


class TiltedToy(Problem):
    """Base of the federated toys: a global problem (``_global_values``/``_global_jacobians`` on
    batches of points) plus per-client tilts h u_{i,m} that average to zero."""

    num_objectives = 2
    _x_ref: np.ndarray

    def __init__(self, num_clients, dim, heterogeneity, noise_std, seed, client_weights, x0, where):
        self.num_clients = check_int(num_clients, "num_clients", where)
        self.dim = check_int(dim, "dim", where)
        self.heterogeneity = check_float(heterogeneity, "heterogeneity", where)
        self.noise_std = check_float(noise_std, "noise_std", where)
        self.seed = check_seed(seed, where)
        self.client_weights = check_client_weights(client_weights, self.num_clients, where)
        rng = np.random.default_rng(self.seed)
        u = rng.normal(size=(self.num_clients, self.num_objectives, self.dim)) / np.sqrt(self.dim)
        self._u = u - np.tensordot(self.client_weights, u, axes=1)[None]  # sum_i w_i u_i = 0
        default_x0 = self._default_x0(rng)
        self._x0 = default_x0 if x0 is None else check_point(x0, self.dim, where, "x0").copy()

    # --- subclass hooks ------------------------------------------------------------------------
    def _default_x0(self, rng: np.random.Generator) -> np.ndarray:
        """N(0, I/d): ||x_0|| ~ 1, inside the region where the toys' gradients are not vanishingly small."""
        return rng.normal(size=self.dim) / np.sqrt(self.dim)

    def _global_values(self, x: np.ndarray) -> np.ndarray:  # (n, d) -> (n, M)
        raise NotImplementedError

    def _global_jacobians(self, x: np.ndarray) -> np.ndarray:  # (n, d) -> (n, M, d)
        raise NotImplementedError

    def _set_points(self, w: np.ndarray) -> np.ndarray:  # (n, M) -> (n, d), unchecked
        raise NotImplementedError

    # --- oracles ---------------------------------------------------------------------------------
    def initial_point(self) -> np.ndarray:
        return self._x0.copy()

    def tilts(self) -> np.ndarray:
        """h u_{i,m}: the per-client gradient shifts, shape (N, M, d); their weighted mean is 0."""
        return self.heterogeneity * self._u

    def client_values(self, clients, x):
        clients, x = check_clients_and_points(clients, x, self.num_clients, self.dim, "client_values")
        tilt = self.heterogeneity * np.einsum("nmd,nd->nm", self._u[clients], x - self._x_ref)
        return self._global_values(x) + tilt

    def client_jacobians(self, clients, x):
        clients, x = check_clients_and_points(clients, x, self.num_clients, self.dim, "client_jacobians")
        return self._global_jacobians(x) + self.heterogeneity * self._u[clients]

    def values(self, x):
        """Global F(x) (the tilts cancel exactly)."""
        return self._global_values(check_point(x, self.dim, "values")[None])[0]

    def jacobian(self, x):
        return self._global_jacobians(check_point(x, self.dim, "jacobian")[None])[0]

    def pareto_set_points(self, weights) -> np.ndarray:
        w = check_simplex_weights(weights, self.num_objectives, "pareto_set_points")
        out = self._set_points(np.atleast_2d(w))
        return out if w.ndim == 2 else out[0]

    def pareto_set_point(self, weights) -> np.ndarray:
        w = check_simplex_weights(weights, self.num_objectives, "pareto_set_point")
        if w.ndim != 1:
            raise ValueError(f"pareto_set_point: `weights` must have shape ({self.num_objectives},), got {w.shape}")
        return self._set_points(w[None])[0]

    def pareto_front(self, num: int) -> np.ndarray:
        """F along the Pareto set at ``num`` evenly spaced parameters w_1 in [0, 1]."""
        num = check_int(num, "num", "pareto_front", minimum=2)
        return self._global_values(self._set_points(lattice_with_at_least(2, num)))

    def distance_to_pareto_set(self, x) -> float:
        x = check_point(x, self.dim, "distance_to_pareto_set")
        return distance_to_parametric_set(x, self._set_points, 2)[0]

    def gradient_heterogeneity(self) -> float:
        """zeta = max_{i,m} ||grad f_{i,m}(x) - grad f_m(x)|| = h max ||u_{i,m}|| (the same for every x)."""
        return float(self.heterogeneity * np.max(np.linalg.norm(self._u, axis=-1)))

    def describe(self) -> dict:
        out = super().describe()
        out.update(heterogeneity=self.heterogeneity, seed=self.seed if isinstance(self.seed, int) else None)
        return out


class _SegmentToy(TiltedToy):
    """Shared geometry of VLMOP and Fonseca-Fleming: centers a_1 = 1/sqrt(d) 1 and a_2 = -a_1; the
    Pareto set is the segment [a_2, a_1]; its point with parameter w is w_1 a_1 + w_2 a_2."""

    registry_name: str  # the problem's name in reports: "<registry_name>(N=..., d=..., h=...)"

    def __init__(self, num_clients=10, dim=10, heterogeneity=0.5, noise_std=0.0, seed=0, client_weights=None, x0=None):
        super().__init__(num_clients, dim, heterogeneity, noise_std, seed, client_weights, x0, type(self).__name__)
        self._a = np.stack([np.ones(self.dim), -np.ones(self.dim)]) / np.sqrt(self.dim)  # (2, d)
        self._x_ref = np.zeros(self.dim)
        self.name = f"{self.registry_name}(N={self.num_clients}, d={self.dim}, h={self.heterogeneity:g})"

    def _set_points(self, w):
        return w @ self._a

    def distance_to_pareto_set(self, x) -> float:
        """Exact distance to the segment [a_2, a_1]: project onto the line and clip."""
        x = check_point(x, self.dim, "distance_to_pareto_set")
        a1, a2 = self._a
        t = np.clip((x - a2) @ (a1 - a2) / ((a1 - a2) @ (a1 - a2)), 0.0, 1.0)
        return float(np.linalg.norm(x - (a2 + t * (a1 - a2))))


class VLMOP(_SegmentToy):
    """f_1 = ||x - a_1||^2 / 4, f_2 = ||x - a_2||^2 / 4, a_1 = -a_2 = 1/sqrt(d) 1 (||a_1 - a_2|| = 2).

    Pareto set: the segment x(w) = w_1 a_1 + w_2 a_2 (the minimizer of w^T F). Front: with
    x = t a_1 + (1 - t) a_2, f_1 = (1 - t)^2 and f_2 = t^2, i.e. sqrt(f_1) + sqrt(f_2) = 1 (convex)."""

    source = "VLMOP2-style convex pair (Van Veldhuizen & Lamont 1999; quadratic variant as in Lin et al. 2019, Pareto MTL)"

    registry_name = "vlmop"

    def _global_values(self, x):
        diff = x[:, None, :] - self._a[None]
        return 0.25 * np.sum(diff**2, axis=-1)

    def _global_jacobians(self, x):
        return 0.5 * (x[:, None, :] - self._a[None])


class FonsecaFleming(_SegmentToy):
    """f_m = 1 - exp(-||x - a_m||^2), a_1 = -a_2 = 1/sqrt(d) 1.

    Pareto set: the segment [a_2, a_1] (same as VLMOP); ``pareto_set_point(w)`` returns its point
    w_1 a_1 + w_2 a_2, a parametrization of the set. Front at x = t a_1 + (1 - t) a_2:
    f_1 = 1 - exp(-4 (1 - t)^2), f_2 = 1 - exp(-4 t^2). It is concave for t in [0.1464, 0.8536]
    (inflection points, measured in the tests) and convex near the ends, so minimizers of a linear
    scalarization w^T F, w in (0, 1), only reach t within 0.0213 of an end point (measured): the
    middle of the front is out of reach of linear scalarization, the showcase for MGDA-type methods."""

    source = "Fonseca & Fleming 1995, 'An overview of evolutionary algorithms in multiobjective optimization'"

    registry_name = "fonseca_fleming"

    def _global_values(self, x):
        diff = x[:, None, :] - self._a[None]
        return 1.0 - np.exp(-np.sum(diff**2, axis=-1))

    def _global_jacobians(self, x):
        diff = x[:, None, :] - self._a[None]
        return 2.0 * np.exp(-np.sum(diff**2, axis=-1))[..., None] * diff


#: The clamp of |.| inside the logs of the CAGrad toy (as in the reference implementation).
CAGRAD_LOG_FLOOR = 5e-6
#: Starting points used in the CAGrad paper's toy figure.
CAGRAD_INITS = ((-8.5, 7.5), (-8.5, -5.0), (0.0, 0.0), (9.0, 9.0), (10.0, -8.0))
#: Bisection bracket and iteration count for the Pareto set's x_2 (the root is inside for all s in [0, 4.9]).
CAGRAD_X2_BRACKET = (-9.0, -8.0)
CAGRAD_BISECTION_ITERS = 100


def _sech2(z):
    return 1.0 / np.cosh(z) ** 2


class CAGradToy(TiltedToy):
    """The two-dimensional nonconvex toy of CAGrad (Liu et al., NeurIPS 2021), reused by Nash-MTL
    (Navon et al., ICML 2022):

        g_1 = log max(|0.5 (-x_1 - 7) - tanh(-x_2)|, 5e-6) + 6
        g_2 = log max(|0.5 (-x_1 + 3) + tanh(-x_2) + 2|, 5e-6) + 6
        q_1 = ((x_1 - 7)^2 + 0.1 (x_2 + 8)^2) / 10 - 20,   q_2 = ((x_1 + 7)^2 + 0.1 (x_2 + 8)^2) / 10 - 20
        c_1 = max(tanh(x_2 / 2), 0),  c_2 = max(tanh(-x_2 / 2), 0),   f_m = c_1 g_m + c_2 q_m.

    Pareto set (derived here; checked numerically in the tests): for x_2 < 0, f_m = c_2(x_2) (q_m(x_1)
    + r(x_2)) with r = 0.01 (x_2 + 8)^2 - 20 after splitting q_m. Stationarity with multiplier
    (w_1, w_2) forces w_1 (x_1 - 7) + w_2 (x_1 + 7) = 0, i.e. x_1 = 14 w_1 - 7 in [-7, 7], at which
    s = w_1 q_1 + w_2 q_2 (x_1-part) = 19.6 w_1 w_2, and x_2 minimizes c_2(x_2) (s + r(x_2)):
    x_2 runs from -8.4345 (w_1 in {0, 1}) to -8.3551 (w_1 = 1/2), the "x_2 ~ -8.3552" quoted in papers.
    ``pareto_set_point(w)`` is the point whose stationarity multiplier is w. The upper half-plane
    cannot compete: there f_m >= log(5e-6) + 6 > -6.3 while the set reaches f_m = -20."""

    source = "CAGrad toy (Liu et al. 2021, 'Conflict-Averse Gradient Descent'); also Nash-MTL (Navon et al. 2022)"

    def __init__(self, num_clients=10, heterogeneity=0.1, noise_std=0.0, seed=0, client_weights=None, x0=None):
        super().__init__(num_clients, 2, heterogeneity, noise_std, seed, client_weights, x0, "CAGradToy")
        self._x_ref = np.zeros(2)
        self.name = f"cagrad_toy(N={self.num_clients}, h={self.heterogeneity:g})"

    def _default_x0(self, rng):
        return np.array(CAGRAD_INITS[0])

    @staticmethod
    def _parts(x):
        x1, x2 = x[:, 0], x[:, 1]
        u1 = 0.5 * (-x1 - 7.0) - np.tanh(-x2)
        u2 = 0.5 * (-x1 + 3.0) + np.tanh(-x2) + 2.0
        g = np.stack([np.log(np.maximum(np.abs(u1), CAGRAD_LOG_FLOOR)), np.log(np.maximum(np.abs(u2), CAGRAD_LOG_FLOOR))], 1) + 6.0
        q = np.stack([(x1 - 7.0) ** 2, (x1 + 7.0) ** 2], 1) / 10.0 + (0.01 * (x2 + 8.0) ** 2 - 20.0)[:, None]
        c1 = np.maximum(np.tanh(0.5 * x2), 0.0)
        c2 = np.maximum(np.tanh(-0.5 * x2), 0.0)
        return x1, x2, u1, u2, g, q, c1, c2

    def _global_values(self, x):
        _, _, _, _, g, q, c1, c2 = self._parts(x)
        return c1[:, None] * g + c2[:, None] * q

    def _global_jacobians(self, x):
        x1, x2, u1, u2, g, q, c1, c2 = self._parts(x)
        s2 = _sech2(x2)
        # d g_m = du_m / u_m where the clamp is inactive, 0 where it is
        inv1 = np.where(np.abs(u1) > CAGRAD_LOG_FLOOR, 1.0 / np.where(u1 == 0, 1.0, u1), 0.0)
        inv2 = np.where(np.abs(u2) > CAGRAD_LOG_FLOOR, 1.0 / np.where(u2 == 0, 1.0, u2), 0.0)
        dg = np.stack([np.stack([-0.5 * inv1, s2 * inv1], -1), np.stack([-0.5 * inv2, -s2 * inv2], -1)], 1)
        dq = np.stack([np.stack([(x1 - 7.0) / 5.0, 0.02 * (x2 + 8.0)], -1),
                       np.stack([(x1 + 7.0) / 5.0, 0.02 * (x2 + 8.0)], -1)], 1)
        h2 = _sech2(0.5 * x2)
        dc1 = np.where(x2 > 0, 0.5 * h2, 0.0)
        dc2 = np.where(x2 < 0, -0.5 * h2, 0.0)
        jac = c1[:, None, None] * dg + c2[:, None, None] * dq
        jac[:, :, 1] += dc1[:, None] * g + dc2[:, None] * q
        return jac

    @staticmethod
    def pareto_x2(s: np.ndarray) -> np.ndarray:
        """x_2 minimizing c_2(x_2)(s + r(x_2)) for s in [0, 4.9]: the root of
        -0.5 sech^2(x_2/2)(s + r) + tanh(-x_2/2) 0.02 (x_2 + 8) = 0, by bisection on CAGRAD_X2_BRACKET."""
        s = np.asarray(s, dtype=np.float64)
        lo = np.full(s.shape, CAGRAD_X2_BRACKET[0])
        hi = np.full(s.shape, CAGRAD_X2_BRACKET[1])

        def dh(x2):
            return -0.5 * _sech2(0.5 * x2) * (s + 0.01 * (x2 + 8.0) ** 2 - 20.0) + np.tanh(-0.5 * x2) * 0.02 * (x2 + 8.0)

        for _ in range(CAGRAD_BISECTION_ITERS):  # dh < 0 at lo, > 0 at hi
            mid = 0.5 * (lo + hi)
            neg = dh(mid) < 0
            lo = np.where(neg, mid, lo)
            hi = np.where(neg, hi, mid)
        return 0.5 * (lo + hi)

    def _set_points(self, w):
        w1 = w[:, 0]
        return np.stack([14.0 * w1 - 7.0, self.pareto_x2(19.6 * w1 * (1.0 - w1))], axis=1)
