"""Multinomial logistic regression on a real data set, split non-IID (Dirichlet) across clients,
with one objective per group of classes (per-group risks: improving one group's fit can hurt another's).

Data: a data set bundled with scikit-learn (no download), features standardized, a bias column
appended: z_j in R^P. Model: W in R^{K x P} (x = W flattened, d = K P), per-sample loss
l_j(W) = logsumexp(W z_j) - (W z_j)_{y_j}, gradient (softmax(W z_j) - e_{y_j}) z_j^T.

Objectives. With n samples, n_m of them in class group G_m, and client i holding D_i (n_i samples,
weight w_i = n_i / n):

    global   f_m(W)     = (1/n_m) sum_{j: y_j in G_m} l_j(W) + (l2/2) ||W||^2
    client   f_{i,m}(W) = sum_{j in D_i} c_{j,m} l_j(W) + (l2/2) ||W||^2,  c_{j,m} = n / (n_i n_m) 1[y_j in G_m]

so that sum_i w_i f_{i,m} = f_m exactly, even for a client that holds no sample of group m (its
f_{i,m} is then just the regularizer). Stochastic oracle: B indices drawn uniformly with replacement
from D_i with the client's own generator; J_hat = n_i mean_b c_{j_b} grad l_{j_b} + l2 W is unbiased
and its per-row second moment is exactly (1/B)(mean_{j in D_i} ||v_j||^2 - ||mean v||^2), v_j =
n_i c_{j,m} grad l_j (``minibatch_noise_second_moment``).

No analytic Pareto set. The problem is strictly convex (l2 > 0), so every Pareto point minimizes
some w^T F: ``pareto_set_point`` / ``pareto_front`` solve those scalarizations numerically (L-BFGS,
gradient tolerance PARETO_GTOL); ``distance_to_pareto_set`` returns None.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp, softmax

from ..validation import check_choice, short_repr
from ._checks import (
    check_clients_and_points,
    check_float,
    check_int,
    check_point,
    check_seed,
    check_simplex_weights,
    lattice_with_at_least,
)
from .base import Problem

from .splits import dirichlet_label_split

#: name -> (scikit-learn loader, default class groups (one objective each), citation)
DATASETS = {
    "breast_cancer": ("load_breast_cancer", ((0,), (1,)), "Wisconsin Diagnostic Breast Cancer (UCI), via scikit-learn"),
    "wine": ("load_wine", ((0,), (1,), (2,)), "UCI Wine recognition data, via scikit-learn"),
    "digits": ("load_digits", ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9)), "UCI optical recognition of handwritten digits (8x8), via scikit-learn"),
}
#: Gradient tolerance of the L-BFGS solves behind pareto_set_point / pareto_front.
PARETO_GTOL = 1e-10
_WHERE = "DirichletLogisticRegression"


def load_dataset(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(features (n, p), integer labels (n,)) of a data set bundled with scikit-learn (offline)."""
    check_choice(name, "dataset", "load_dataset", sorted(DATASETS))
    try:
        import sklearn.datasets as skd
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            f"the real-data problem {name!r} needs scikit-learn (bundled data sets): pip install 'firm[data]'"
        ) from exc
    bunch = getattr(skd, DATASETS[name][0])()
    return np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)


def _check_groups(groups, num_classes: int) -> tuple[tuple[int, ...], ...]:
    try:
        out = tuple(tuple(check_int(c, "class_groups", _WHERE, minimum=0) for c in g) for g in groups)
    except TypeError:
        raise TypeError(f"{_WHERE}: `class_groups` must be a sequence of sequences of integer class labels, "
                        f"got {short_repr(groups)}") from None
    flat = [c for g in out for c in g]
    if len(out) < 2 or any(len(g) == 0 for g in out):
        raise ValueError(f"{_WHERE}: `class_groups` needs >= 2 non-empty groups, got {groups!r}")
    if len(set(flat)) != len(flat) or min(flat) < 0 or max(flat) >= num_classes:
        raise ValueError(
            f"{_WHERE}: `class_groups` must hold distinct classes in [0, {num_classes}), got {groups!r}"
        )
    return out


class DirichletLogisticRegression(Problem):
    """Per-class-group logistic risks on a bundled data set, split by a Dirichlet(alpha) label split."""

    def __init__(
        self,
        dataset: str = "breast_cancer",
        num_clients: int = 10,
        alpha: float = 0.5,
        class_groups=None,
        l2: float = 1e-2,
        batch_size: int = 32,
        seed: int | None = 0,
        min_samples: int = 2,
        x0: np.ndarray | None = None,
    ):
        self.dataset = check_choice(dataset, "dataset", _WHERE, sorted(DATASETS))
        self.num_clients = check_int(num_clients, "num_clients", _WHERE)
        self.alpha = check_float(alpha, "alpha", _WHERE, strict=True)
        self.l2 = check_float(l2, "l2", _WHERE)
        self.batch_size = check_int(batch_size, "batch_size", _WHERE)
        self.seed = check_seed(seed, _WHERE)
        self.noise_std = 0.0  # the noise is the minibatch's: see minibatch_noise_second_moment
        self.source = DATASETS[dataset][2]

        features, labels = load_dataset(dataset)
        std = features.std(axis=0)
        z = (features - features.mean(axis=0)) / np.where(std > 0, std, 1.0)
        self._z = np.hstack([z, np.ones((z.shape[0], 1))])  # (n, P)
        self._y = labels
        self.num_classes = int(labels.max()) + 1
        self.class_groups = _check_groups(DATASETS[dataset][1] if class_groups is None else class_groups, self.num_classes)
        self.num_objectives = len(self.class_groups)
        self._shape = (self.num_classes, self._z.shape[1])
        self.dim = int(np.prod(self._shape))

        rng = np.random.default_rng(self.seed)
        self.client_indices = dirichlet_label_split(labels, self.num_clients, self.alpha, rng, min_samples=min_samples)
        n = labels.size
        self.client_sizes = np.array([len(ix) for ix in self.client_indices])
        self.client_weights = self.client_sizes / n
        group_of = np.full(self.num_classes, -1)
        for m, g in enumerate(self.class_groups):
            group_of[list(g)] = m
        member = group_of[labels][:, None] == np.arange(self.num_objectives)[None]  # (n, M)
        n_m = member.sum(axis=0)
        self._coef_global = member / n_m  # (n, M): 1[y in G_m] / n_m
        owner = np.empty(n, dtype=np.int64)
        for i, ix in enumerate(self.client_indices):
            owner[ix] = i
        self._coef_client = self._coef_global * (n / self.client_sizes[owner])[:, None]  # n / (n_i n_m) 1[.]
        self._order = np.concatenate(self.client_indices)  # samples grouped by client
        self._starts = np.concatenate([[0], np.cumsum(self.client_sizes)[:-1]])
        self._x0 = np.zeros(self.dim) if x0 is None else check_point(x0, self.dim, _WHERE, "x0").copy()
        self.name = f"{dataset}_logreg(N={self.num_clients}, M={self.num_objectives}, alpha={self.alpha:g})"
        self._front_cache: dict[bytes, np.ndarray] = {}

    # --- per-sample pieces -------------------------------------------------------------------------
    def _loss_and_residual(self, w: np.ndarray, idx: np.ndarray):
        """w: (S, K, P) per-sample parameters (or (K, P) shared); returns losses (S,) and residuals (S, K)."""
        z = self._z[idx]
        logits = np.einsum("skp,sp->sk", w, z) if w.ndim == 3 else z @ w.T
        y = self._y[idx]
        loss = logsumexp(logits, axis=1) - logits[np.arange(idx.size), y]
        r = softmax(logits, axis=1)
        r[np.arange(idx.size), y] -= 1.0
        return loss, r, z

    def _gather(self, clients: np.ndarray):
        sizes = self.client_sizes[clients]
        idx = np.concatenate([self.client_indices[c] for c in clients])
        seg_starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        seg = np.repeat(np.arange(clients.size), sizes)
        return idx, seg, seg_starts

    # --- oracles -----------------------------------------------------------------------------------
    def initial_point(self) -> np.ndarray:
        return self._x0.copy()

    def client_values(self, clients, x):
        clients, x = check_clients_and_points(clients, x, self.num_clients, self.dim, "client_values")
        idx, seg, starts = self._gather(clients)
        loss, _, _ = self._loss_and_residual(x.reshape(-1, *self._shape)[seg], idx)
        per = np.add.reduceat(self._coef_client[idx] * loss[:, None], starts, axis=0)
        return per + 0.5 * self.l2 * np.sum(x**2, axis=1)[:, None]

    def client_jacobians(self, clients, x):
        clients, x = check_clients_and_points(clients, x, self.num_clients, self.dim, "client_jacobians")
        idx, seg, starts = self._gather(clients)
        _, r, z = self._loss_and_residual(x.reshape(-1, *self._shape)[seg], idx)
        contrib = np.einsum("sm,sk,sp->smkp", self._coef_client[idx], r, z)
        jac = np.add.reduceat(contrib, starts, axis=0).reshape(clients.size, self.num_objectives, self.dim)
        return jac + self.l2 * x[:, None, :]

    def _minibatch_terms(self, clients, x, rngs):
        """Per-draw terms v = n_i c_{j,m} grad l_j, shape (n, B, M, d), for B draws per client."""
        draws = np.stack([
            self.client_indices[c][rng.integers(0, self.client_sizes[c], size=self.batch_size)]
            for c, rng in zip(clients, rngs, strict=True)
        ])  # (n, B) sample indices
        flat = draws.ravel()
        w = np.repeat(x.reshape(-1, *self._shape), self.batch_size, axis=0)
        _, r, z = self._loss_and_residual(w, flat)
        coef = self._coef_client[flat] * self.client_sizes[np.repeat(clients, self.batch_size)][:, None]
        v = np.einsum("sm,sk,sp->smkp", coef, r, z)
        return v.reshape(clients.size, self.batch_size, self.num_objectives, self.dim)

    def stochastic_jacobians(self, clients, x, rngs):
        """Minibatch Jacobians (n, M, d): B samples drawn with replacement from each client's data with
        its own generator (unbiased for client_jacobians)."""
        clients, x = check_clients_and_points(clients, x, self.num_clients, self.dim, "stochastic_jacobians")
        if len(rngs) != clients.size:
            raise ValueError(f"stochastic_jacobians: need one generator per client ({clients.size}), got {len(rngs)}")
        return self._minibatch_terms(clients, x, rngs).mean(axis=1) + self.l2 * x[:, None, :]

    def minibatch_noise_second_moment(self, clients, x) -> np.ndarray:
        """E||J_hat_{i,m} - J_{i,m}||^2 = (1/B)(mean_j ||v_j||^2 - ||mean_j v_j||^2) exactly, shape (n, M)."""
        clients, x = check_clients_and_points(clients, x, self.num_clients, self.dim, "minibatch_noise_second_moment")
        out = np.empty((clients.size, self.num_objectives))
        for k, c in enumerate(clients):
            idx = self.client_indices[c]
            _, r, z = self._loss_and_residual(x[k].reshape(self._shape), idx)
            v = np.einsum("sm,sk,sp->smkp", self._coef_client[idx] * self.client_sizes[c], r, z).reshape(idx.size, self.num_objectives, -1)
            out[k] = (np.mean(np.sum(v**2, axis=-1), axis=0) - np.sum(v.mean(axis=0) ** 2, axis=-1)) / self.batch_size
        return out

    def values(self, x):
        x = check_point(x, self.dim, "values")
        loss, _, _ = self._loss_and_residual(x.reshape(self._shape), np.arange(self._y.size))
        return loss @ self._coef_global + 0.5 * self.l2 * x @ x

    def jacobian(self, x):
        x = check_point(x, self.dim, "jacobian")
        _, r, z = self._loss_and_residual(x.reshape(self._shape), np.arange(self._y.size))
        return np.einsum("sm,sk,sp->mkp", self._coef_global, r, z).reshape(self.num_objectives, self.dim) + self.l2 * x

    def smoothness_bound(self) -> float:
        """L >= every f_{i,m}'s smoothness: the softmax cross-entropy Hessian is <= (1/2)||z||^2 I, so
        L = max_{i,m} sum_{j in D_i} c_{j,m} ||z_j||^2 / 2 + l2."""
        sq = 0.5 * np.sum(self._z**2, axis=1)
        per = np.array([self._coef_client[ix].T @ sq[ix] for ix in self.client_indices])
        return float(per.max() + self.l2)

    # --- numerical Pareto set (strictly convex: minimizers of the scalarizations) ------------------
    def pareto_set_point(self, weights, x_start=None) -> np.ndarray:
        """argmin_x w^T F(x) by L-BFGS (gradient tolerance PARETO_GTOL): a Pareto point for l2 > 0."""
        w = check_simplex_weights(weights, self.num_objectives, "pareto_set_point")
        if w.ndim != 1:
            raise ValueError(f"pareto_set_point: `weights` must have shape ({self.num_objectives},), got {w.shape}")
        start = self._x0 if x_start is None else x_start
        res = minimize(lambda v: (w @ self.values(v), w @ self.jacobian(v)), start, jac=True, method="L-BFGS-B",
                       options={"gtol": PARETO_GTOL, "ftol": 0.0, "maxiter": 10_000})
        return res.x

    def pareto_front(self, num: int) -> np.ndarray:
        """F at the scalarization minimizers for ``num`` weights (numerical; see pareto_set_point)."""
        num = check_int(num, "num", "pareto_front", minimum=2)
        ws = lattice_with_at_least(self.num_objectives, num)
        key = ws.tobytes()
        if key not in self._front_cache:
            pts, x = [], None
            for w in ws:
                x = self.pareto_set_point(w, x_start=x)  # warm start along the sweep
                pts.append(self.values(x))
            self._front_cache[key] = np.array(pts)
        return self._front_cache[key].copy()

    def describe(self) -> dict:
        out = super().describe()
        out.update(dataset=self.dataset, alpha=self.alpha, class_groups=[list(g) for g in self.class_groups],
                   l2=self.l2, batch_size=self.batch_size, client_sizes=self.client_sizes.tolist())
        return out
