"""Heterogeneous convex quadratics with an exact Pareto set and exact constants.

    f_{i,m}(x) = 0.5 (x - c_{i,m})^T A_{i,m} (x - c_{i,m}),        grad = A_{i,m} (x - c_{i,m})

Global objective f_m = sum_i w_i f_{i,m} is a quadratic with Hessian A_m = sum_i w_i A_{i,m} and
linear term b_m = sum_i w_i A_{i,m} c_{i,m}; its minimizer is A_m^{-1} b_m. All A are positive
definite, so every objective is strictly convex and the Pareto set is exactly the set of minimizers
of the scalarizations w^T F, w in the simplex:

    x(w) = (sum_m w_m A_m)^{-1} sum_m w_m b_m.

With A_{i,m} = I, x(w) = sum_m w_m cbar_m (cbar_m = sum_i w_i c_{i,m}): the convex hull of the centers.

Construction (seeded): shared curvatures S_m with eigenvalues uniform in ``curvature_range`` and
shared centers s_m ~ N(0, I). Client i gets A_{i,m} = (1 - t) S_m + t B_{i,m} with B_{i,m} a fresh
random matrix of the same spectrum range and t = h / (1 + h), and c_{i,m} = s_m + h u_{i,m},
u ~ N(0, I); h = ``heterogeneity`` (h = 0: identical clients). Convex combinations keep every
eigenvalue inside ``curvature_range``. ``curvature="diagonal"`` draws diagonal matrices (memory
N M d instead of N M d^2: the choice for large d); ``curvature="identity"`` sets every A = I.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import numpy as np

from ..validation import check_choice
from ._checks import (
    check_client_weights,
    check_clients_and_points,
    check_float,
    check_int,
    check_point,
    check_range,
    check_seed,
    check_simplex_weights,
    lattice_with_at_least,
)
from ._set_distance import distance_to_parametric_set
from .base import Problem

CURVATURES = ("dense", "diagonal", "identity")
#: Largest N M d^2 allowed for dense curvatures (8 bytes each: 400 MB); use curvature="diagonal" beyond.
MAX_DENSE_ENTRIES = 50_000_000
_WHERE = "HeterogeneousQuadratics"


class SmoothnessConstants(NamedTuple):
    """L: max_{i,m} lambda_max(A_{i,m}) (every client objective is L-smooth);
    L_phi: lambda_max(sum_m p_m A_m) (the global potential p^T F);
    L_per_objective: (M,) lambda_max(A_m) of each global objective."""

    L: float
    L_phi: float
    L_per_objective: np.ndarray


def _random_spd(rng: np.random.Generator, shape: tuple[int, ...], d: int, lo: float, hi: float, kind: str) -> np.ndarray:
    """Random matrices (shape + (d, d)) or diagonals (shape + (d,)) with eigenvalues uniform in [lo, hi]."""
    eig = rng.uniform(lo, hi, size=(*shape, d))
    if kind == "diagonal":
        return eig
    q, r = np.linalg.qr(rng.normal(size=(*shape, d, d)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]  # Haar-distributed rotation
    return np.einsum("...ij,...j,...kj->...ik", q, eig, q)


class HeterogeneousQuadratics(Problem):
    """N clients x M strictly convex quadratic objectives in d dimensions (see the module docstring)."""

    source = "Convex quadratic test problem (FIRM, arXiv 2511.16992, Section 5 test problems)"

    def __init__(
        self,
        num_clients: int = 10,
        num_objectives: int = 2,
        dim: int = 5,
        heterogeneity: float = 1.0,
        curvature_range: tuple[float, float] = (0.5, 2.0),
        noise_std: float = 0.0,
        seed: int | None = 0,
        client_weights: np.ndarray | None = None,
        x0: np.ndarray | None = None,
        curvature: Literal["dense", "diagonal", "identity"] = "dense",
    ):
        self.num_clients = check_int(num_clients, "num_clients", _WHERE)
        self.num_objectives = check_int(num_objectives, "num_objectives", _WHERE)
        self.dim = check_int(dim, "dim", _WHERE)
        self.heterogeneity = check_float(heterogeneity, "heterogeneity", _WHERE)
        self.curvature_range = check_range(curvature_range, "curvature_range", _WHERE)
        self.noise_std = check_float(noise_std, "noise_std", _WHERE)
        self.seed = check_seed(seed, _WHERE)
        self.curvature = check_choice(curvature, "curvature", _WHERE, CURVATURES)
        entries = self.num_clients * self.num_objectives * self.dim**2
        if curvature == "dense" and entries > MAX_DENSE_ENTRIES:
            raise ValueError(
                f"{_WHERE}: `curvature`='dense' needs N M d^2 = {entries} matrix entries (> {MAX_DENSE_ENTRIES}); "
                f"use curvature='diagonal' for dim = {self.dim}"
            )
        self.client_weights = check_client_weights(client_weights, self.num_clients, _WHERE)
        self.name = f"quadratics(N={self.num_clients}, M={self.num_objectives}, d={self.dim}, h={self.heterogeneity:g})"

        n, m, d, h = self.num_clients, self.num_objectives, self.dim, self.heterogeneity
        rng = np.random.default_rng(self.seed)
        lo, hi = self.curvature_range
        t = h / (1.0 + h)
        if curvature == "identity":
            self._diag = True
            self._a = np.ones((n, m, d))
        else:
            self._diag = curvature == "diagonal"
            shared = _random_spd(rng, (m,), d, lo, hi, curvature)
            own = _random_spd(rng, (n, m), d, lo, hi, curvature)  # drawn for every h: same shared part
            self._a = (1.0 - t) * shared[None] + t * own  # (N, M, d, d) or (N, M, d)
        shared_c = rng.normal(size=(m, d))
        self._c = shared_c[None] + h * rng.normal(size=(n, m, d))  # (N, M, d)
        self._b = self._matvec(self._a, self._c)  # A_{i,m} c_{i,m}, (N, M, d)
        w = self.client_weights
        self._a_glob = np.tensordot(w, self._a, axes=1)  # (M, d, d) or (M, d)
        self._b_glob = np.tensordot(w, self._b, axes=1)  # (M, d)
        self._const_glob = 0.5 * np.einsum("i,imd,imd->m", w, self._c, self._b)  # sum_i w_i c^T A c / 2
        x0_default = rng.normal(scale=2.0, size=d)
        self._x0 = x0_default if x0 is None else check_point(x0, d, _WHERE, "x0").copy()

    # --- linear algebra on the stored representation -------------------------------------
    def _matvec(self, a: np.ndarray, v: np.ndarray) -> np.ndarray:
        return a * v if self._diag else np.einsum("...ij,...j->...i", a, v)

    def _solve(self, a: np.ndarray, v: np.ndarray) -> np.ndarray:
        return v / a if self._diag else np.linalg.solve(a, v[..., None])[..., 0]

    def _spectral_norm(self, a: np.ndarray) -> np.ndarray:
        """||A||_2 for symmetric a (..., d, d) or diagonals (..., d)."""
        if self._diag:
            return np.max(np.abs(a), axis=-1)
        return np.max(np.abs(np.linalg.eigvalsh(a)), axis=-1)

    # --- oracles -----------------------------------------------------------------------------
    def initial_point(self) -> np.ndarray:
        return self._x0.copy()

    def client_values(self, clients: np.ndarray, x: np.ndarray) -> np.ndarray:
        clients, x = check_clients_and_points(clients, x, self.num_clients, self.dim, "client_values")
        diff = x[:, None, :] - self._c[clients]
        return 0.5 * np.sum(diff * self._matvec(self._a[clients], diff), axis=-1)

    def client_jacobians(self, clients: np.ndarray, x: np.ndarray) -> np.ndarray:
        clients, x = check_clients_and_points(clients, x, self.num_clients, self.dim, "client_jacobians")
        return self._matvec(self._a[clients], x[:, None, :]) - self._b[clients]

    def values(self, x: np.ndarray) -> np.ndarray:
        """F(x) from the global quadratic: 0.5 x^T A_m x - b_m^T x + const_m (no pass over clients)."""
        x = check_point(x, self.dim, "values")
        return 0.5 * self._matvec(self._a_glob, x) @ x - self._b_glob @ x + self._const_glob

    def jacobian(self, x: np.ndarray) -> np.ndarray:
        """J(x) = [A_m x - b_m]_m, shape (M, d)."""
        x = check_point(x, self.dim, "jacobian")
        return self._matvec(self._a_glob, x) - self._b_glob

    # --- exact structure ---------------------------------------------------------------------
    def hessians(self) -> np.ndarray:
        """Client Hessians A_{i,m} as dense matrices, shape (N, M, d, d)."""
        if self._diag:
            return np.einsum("nmd,de->nmde", self._a, np.eye(self.dim))
        return self._a.copy()

    def global_hessians(self) -> np.ndarray:
        """A_m = sum_i w_i A_{i,m}, dense, shape (M, d, d)."""
        return np.tensordot(self.client_weights, self.hessians(), axes=1)

    def centers(self) -> np.ndarray:
        """Client centers c_{i,m}, shape (N, M, d)."""
        return self._c.copy()

    def global_minimizers(self) -> np.ndarray:
        """argmin f_m = A_m^{-1} b_m for each objective, shape (M, d)."""
        return self._solve(self._a_glob, self._b_glob)

    def pareto_set_points(self, weights: np.ndarray) -> np.ndarray:
        """x(w) = (sum_m w_m A_m)^{-1} sum_m w_m b_m for a batch of weights (n, M): shape (n, d)."""
        w = check_simplex_weights(weights, self.num_objectives, "pareto_set_points")
        w2 = np.atleast_2d(w)
        a = np.tensordot(w2, self._a_glob, axes=1)
        out = self._solve(a, w2 @ self._b_glob)
        return out if w.ndim == 2 else out[0]

    def pareto_set_point(self, weights: np.ndarray) -> np.ndarray:
        w = check_simplex_weights(weights, self.num_objectives, "pareto_set_point")
        if w.ndim != 1:
            raise ValueError(f"pareto_set_point: `weights` must have shape ({self.num_objectives},), got {w.shape}")
        return self.pareto_set_points(w)

    def distance_to_pareto_set(self, x: np.ndarray) -> float:
        """min_{w in simplex} ||x - x(w)||, numerically (tolerances in firm_core.problems._set_distance)."""
        x = check_point(x, self.dim, "distance_to_pareto_set")
        return distance_to_parametric_set(x, self._unchecked_points, self.num_objectives)[0]

    def _unchecked_points(self, w: np.ndarray) -> np.ndarray:
        if self.num_objectives == 2 and not self._diag:
            return self._pencil_points(w[:, 0])
        return self._solve(np.tensordot(w, self._a_glob, axes=1), w @ self._b_glob)

    def _pencil_points(self, t: np.ndarray) -> np.ndarray:
        """x(t, 1 - t) for M = 2 in O(d^2) per point by simultaneous diagonalization: with
        A_2 = L L^T and L^{-1}(A_1 - A_2)L^{-T} = V diag(mu) V^T, x(t) = P (beta_0 + t beta_1) / (1 + t mu),
        P = L^{-T} V, beta_0 = V^T L^{-1} b_2, beta_1 = V^T L^{-1} (b_1 - b_2). 1 + t mu > 0 on [0, 1]."""
        if not hasattr(self, "_pencil"):
            a1, a2 = self._a_glob
            b1, b2 = self._b_glob
            chol = np.linalg.cholesky(a2)
            li = np.linalg.inv(chol)
            mu, v = np.linalg.eigh(li @ (a1 - a2) @ li.T)
            self._pencil = (li.T @ v, v.T @ (li @ b2), v.T @ (li @ (b1 - b2)), mu)
        p, beta0, beta1, mu = self._pencil
        return ((beta0[None] + t[:, None] * beta1[None]) / (1.0 + t[:, None] * mu[None])) @ p.T

    def pareto_front(self, num: int) -> np.ndarray:
        """F(x(w)) for ``num`` weights w: evenly spaced for M = 2, a thinned simplex lattice for M >= 3."""
        num = check_int(num, "num", "pareto_front", minimum=2 if self.num_objectives > 1 else 1)
        w = lattice_with_at_least(self.num_objectives, num)
        xs = self._unchecked_points(w)
        return np.stack([self.values(x) for x in xs])

    def smoothness(self, preference: np.ndarray | None = None) -> SmoothnessConstants:
        """Exact smoothness constants (see :class:`SmoothnessConstants`); p uniform by default."""
        m = self.num_objectives
        p = np.full(m, 1.0 / m) if preference is None else check_simplex_weights(preference, m, "smoothness", "preference")
        big_l = float(np.max(self._spectral_norm(self._a)))
        l_phi = float(self._spectral_norm(np.tensordot(p, self._a_glob, axes=1)))
        return SmoothnessConstants(big_l, l_phi, self._spectral_norm(self._a_glob))

    def strong_convexity(self) -> float:
        """mu = min_{i,m} lambda_min(A_{i,m})."""
        if self._diag:
            return float(np.min(self._a))
        return float(np.min(np.linalg.eigvalsh(self._a)[..., 0]))

    def _ball(self, radius, center, where: str) -> tuple[float, np.ndarray]:
        radius = check_float(radius, "radius", where)
        center = np.zeros(self.dim) if center is None else check_point(center, self.dim, where, "center")
        return radius, center

    def gradient_bound(self, radius: float, center: np.ndarray | None = None) -> float:
        """C >= max_{||x - center|| <= radius} max_{i,m} ||grad f_{i,m}(x)||:
        ||A (x - c)|| <= ||A|| (radius + ||center - c||). Also bounds the global gradients (convex combination)."""
        radius, center = self._ball(radius, center, "gradient_bound")
        dist = np.linalg.norm(center - self._c, axis=-1)  # (N, M)
        return float(np.max(self._spectral_norm(self._a) * (radius + dist)))

    def heterogeneity_bound(self, radius: float, center: np.ndarray | None = None) -> float:
        """zeta >= max_{||x - center|| <= radius} max_{i,m} ||grad f_{i,m}(x) - grad f_m(x)||.

        grad f_{i,m} - grad f_m = (A_{i,m} - A_m)(x - center) + [(A_{i,m} - A_m) center - (b_{i,m} - b_m)],
        so zeta = max_{i,m} ||A_{i,m} - A_m|| radius + ||(A_{i,m} - A_m) center - (b_{i,m} - b_m)||."""
        radius, center = self._ball(radius, center, "heterogeneity_bound")
        da = self._a - self._a_glob[None]
        db = self._b - self._b_glob[None]
        offset = np.linalg.norm(self._matvec(da, center) - db, axis=-1)
        return float(np.max(self._spectral_norm(da) * radius + offset))

    def inf_potential(self, preference: np.ndarray | None = None) -> float:
        """inf_x p^T F(x), attained at x(p) (solves (sum_m p_m A_m) x = sum_m p_m b_m)."""
        m = self.num_objectives
        p = np.full(m, 1.0 / m) if preference is None else check_simplex_weights(preference, m, "inf_potential", "preference")
        return float(p @ self.values(self._unchecked_points(p[None])[0]))

    def describe(self) -> dict:
        out = super().describe()
        out.update(
            heterogeneity=self.heterogeneity,
            curvature_range=list(self.curvature_range),
            curvature=self.curvature,
            seed=self.seed if isinstance(self.seed, int) else None,
        )
        return out
