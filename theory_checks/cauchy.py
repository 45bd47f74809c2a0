"""A nonconvex toy problem whose constants hold globally: federated robust (Cauchy-loss) regression.

    f_{i,m}(x) = (1/J) sum_j log(1 + r_{i,m,j}^2),   r_{i,m,j} = a_{m,j}^T x - b_{i,m,j}
    grad f_{i,m}(x) = (1/J) sum_j psi(r_{i,m,j}) a_{m,j},   psi(r) = 2r / (1 + r^2) in [-1, 1]

Clients share the design a_{m,j} and differ in their targets b (heterogeneity knob h). Because
psi is bounded by 1 and psi' = 2(1 - r^2)/(1 + r^2)^2 lies in [-1/4, 2], every constant holds on all of
R^d (no ball, so even noisy runs are certified):

    C      = max_m (1/J) sum_j ||a_{m,j}||
    L_m    = 2 lambda_max(A_m^T A_m) / J,   L = max_m L_m,   L_phi = 2 lambda_max(sum_m p_m A_m^T A_m) / J
             (v^T H v = (1/J) sum_j psi'_j (a_j^T v)^2 lies in [-S(v)/4, 2 S(v)], S(v) = (1/J) sum_j (a_j^T v)^2)
    zeta   = max_{i,m} (1/J) sum_j ||a_{m,j}|| sum_{i'} w_{i'} min(2, 2 |b_{i,m,j} - b_{i',m,j}|)
             (|psi(r) - psi(r')| <= min(2, 2 |r - r'|), and r_{i,m,j} - r_{i',m,j} = b_{i',m,j} - b_{i,m,j})
    inf Phi >= 0 (a log of something >= 1), so Delta <= Phi(x_0): a valid upper bound.
"""

from __future__ import annotations

import numpy as np
from firm_core.problems.base import Problem


class CauchyRegression(Problem):
    """N clients x M robust-regression objectives with J terms each in d dimensions (module docstring)."""

    source = "Nonconvex Cauchy-loss regression (the reference derivation's numerical check, problem (b); see docs/theory.md)"

    def __init__(self, num_clients: int = 4, num_objectives: int = 2, dim: int = 10, num_terms: int = 6,
                 heterogeneity: float = 0.3, noise_std: float = 0.0, seed: int = 0, x0_scale: float = 3.0):
        for name, v in (("num_clients", num_clients), ("num_objectives", num_objectives), ("dim", dim), ("num_terms", num_terms)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"CauchyRegression: `{name}` must be an integer >= 1, got {v!r}")
        for name, v in (("heterogeneity", heterogeneity), ("noise_std", noise_std), ("x0_scale", x0_scale)):
            if isinstance(v, bool) or not isinstance(v, int | float) or not np.isfinite(v) or v < 0:
                raise ValueError(f"CauchyRegression: `{name}` must be a finite number >= 0, got {v!r}")
        self.num_clients, self.num_objectives, self.dim, self.num_terms = num_clients, num_objectives, dim, num_terms
        self.heterogeneity, self.noise_std = float(heterogeneity), float(noise_std)
        self.client_weights = np.full(num_clients, 1.0 / num_clients)
        self.name = f"cauchy(N={num_clients}, M={num_objectives}, d={dim}, J={num_terms}, h={heterogeneity:g})"
        rng = np.random.default_rng([seed, 11])
        self._a = rng.normal(size=(num_objectives, num_terms, dim)) / np.sqrt(dim)  # (M, J, d)
        shared = rng.normal(size=(num_objectives, num_terms))
        self._b = shared[None] + heterogeneity * rng.normal(size=(num_clients, num_objectives, num_terms))  # (N, M, J)
        self._x0 = x0_scale * rng.normal(size=dim)  # a^T x0 ~ N(0, x0_scale^2): residuals of order x0_scale

    def initial_point(self) -> np.ndarray:
        return self._x0.copy()

    def _residuals(self, clients, x):
        clients = np.asarray(clients, dtype=np.int64).reshape(-1)
        x = np.asarray(x, dtype=np.float64).reshape(len(clients), self.dim)
        return np.einsum("mjd,nd->nmj", self._a, x) - self._b[clients]

    def client_values(self, clients, x) -> np.ndarray:
        return np.mean(np.log1p(self._residuals(clients, x) ** 2), axis=-1)

    def client_jacobians(self, clients, x) -> np.ndarray:
        r = self._residuals(clients, x)
        return np.einsum("nmj,mjd->nmd", 2.0 * r / (1.0 + r**2), self._a) / self.num_terms

    def global_constants(self, preference=None) -> dict:
        """Constants valid on all of R^d (module docstring): L, L_phi, L_m, C, zeta, inf_phi_lower, inf_m_lower."""
        m, j = self.num_objectives, self.num_terms
        p = np.full(m, 1.0 / m) if preference is None else np.asarray(preference, dtype=np.float64)
        ata = np.einsum("mjd,mje->mde", self._a, self._a)  # (M, d, d)
        l_m = 2.0 * np.linalg.eigvalsh(ata)[:, -1] / j
        l_phi = 2.0 * np.linalg.eigvalsh(np.tensordot(p, ata, axes=1))[-1] / j
        norms = np.linalg.norm(self._a, axis=-1)  # (M, J)
        diff = np.minimum(2.0, 2.0 * np.abs(self._b[:, None] - self._b[None, :]))  # (N, N', M, J)
        kappa = np.einsum("k,ikmj->imj", self.client_weights, diff)
        zeta = float(np.max(np.einsum("imj,mj->im", kappa, norms) / j))
        return {"L": float(l_m.max()), "L_phi": float(l_phi), "L_m": l_m, "C": float(np.max(norms.sum(axis=1) / j)),
                "zeta": zeta, "inf_phi_lower": 0.0, "inf_m_lower": np.zeros(m)}
