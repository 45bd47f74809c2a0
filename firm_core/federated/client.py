"""The pure per-client local update on a numpy problem, vectorized over a set of clients.

FIRM's client (:mod:`firm_core.weighting` takes the step): y <- x_t; for k = 0..K-1: J = stochastic
Jacobian at y (M x d), lambda = lambda*(J J^T; beta, p), y <- y - eta J^T lambda.

All n clients of a round advance together: one oracle call and ONE batched min-norm solve per local
step (one per distinct preference when clients have their own). A client's result depends only on
its own start point and its own generator, never on which other clients share the batch, so a Flower
ClientApp calling this with n = 1 reproduces the in-memory engine (up to floating-point summation
order, tested to 1e-12). To keep that true, ``method="auto"`` is resolved from M alone
(:func:`resolve_method`), not from the batch size.

Faulty clients: a client whose oracle raises, returns non-finite values or a wrongly shaped array, or
whose local iterate becomes non-finite (the oracle is never called there), is dropped
(``valid[i] = False`` with a reason) and the others go on (:func:`~firm_core.federated.oracle.checked_oracle`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .._validate import check_preference
from ..min_norm import pick_method
from ..result import SolverStatus
from ..weighting import combine, firm_weights
from ._checks import check_client_args
from .oracle import checked_oracle
from .per_objective import per_objective_local_update
from .sketch import SKETCH_OVERSAMPLE, randomized_svd_sketch, sketch_floats

__all__ = [
    "LOCAL_MODES",
    "SKETCH_OVERSAMPLE",
    "LocalResult",
    "checked_oracle",
    "client_rng",
    "client_rngs",
    "local_update",
    "per_objective_local_update",
    "randomized_svd_sketch",
    "resolve_method",
    "sketch_floats",
]

LocalMode = Literal["firm", "scalarized", "fixed_lambda"]
LOCAL_MODES = ("firm", "scalarized", "fixed_lambda")


def client_rng(seed: int, round_index: int, client_id: int) -> np.random.Generator:
    """The generator of client ``client_id`` in round ``round_index``: default_rng([seed, round, client])."""
    return np.random.default_rng([int(seed), int(round_index), int(client_id)])


def client_rngs(seed: int, round_index: int, clients: Sequence[int]) -> list[np.random.Generator]:
    return [client_rng(seed, round_index, c) for c in clients]


def resolve_method(method: str, num_objectives: int) -> str:
    """``"auto"`` -> the exact method firm_core picks for a *batch* of M-objective problems, for any n."""
    return pick_method(num_objectives, 2) if method == "auto" else method


@dataclass(frozen=True)
class LocalResult:
    """Outcome of :func:`local_update` for n clients.

    y : (n, d) final local iterates y_{i,K} (rows of dropped clients are NaN).
    lambdas : (n, K, M) the weights used at each local step (NaN from the step a client was dropped).
    valid : (n,) False for dropped clients.   reasons : per client, None or why it was dropped.
    status : worst min-norm solver status over all solves (CONVERGED when no solve ran).
    """

    y: np.ndarray
    lambdas: np.ndarray
    valid: np.ndarray
    reasons: tuple[str | None, ...]
    status: SolverStatus

    @property
    def mean_lambdas(self) -> np.ndarray:
        """(n, M) each client's mean lambda over its local steps (NaN rows for dropped clients)."""
        out = np.full(self.lambdas.shape[::2], np.nan)
        if self.valid.any():
            out[self.valid] = self.lambdas[self.valid].mean(axis=1)
        return out


def client_preferences(preference, n: int, m: int, where: str) -> np.ndarray:
    """p as (M,) (shared; uniform when None) or (n, M) (one probability vector per client)."""
    if preference is not None and np.ndim(preference) == 2:
        rows = np.asarray(preference, dtype=np.float64)
        if rows.shape != (n, m):
            raise ValueError(f"{where}: `preference` must have shape ({m},) or ({n}, {m}), got {rows.shape}")
        return np.stack([check_preference(r, m, where) for r in rows]) if n else rows
    return check_preference(preference, m, where)


def _fixed_weights(mode, pref, fixed_lambda, n: int, m: int, where: str):
    """The (n, M) lambdas of the modes that solve nothing (None for "firm")."""
    if mode not in LOCAL_MODES:
        raise ValueError(f"{where}: `mode` must be one of {LOCAL_MODES}, got {mode!r}")
    if mode == "firm":
        return None
    if mode == "scalarized":
        return np.broadcast_to(pref, (n, m))
    if fixed_lambda is None:
        raise ValueError(f"{where}: mode 'fixed_lambda' needs `fixed_lambda`, got None")
    lam = np.asarray(fixed_lambda, dtype=np.float64)
    if lam.shape not in ((m,), (n, m)) or not np.all(np.isfinite(lam)):
        raise ValueError(f"{where}: `fixed_lambda` must be finite with shape ({m},) or ({n}, {m}), got {lam.shape}")
    return np.broadcast_to(lam, (n, m))


def client_firm_weights(jac, *, beta: float, preference, method: str):
    """(lambda (n, M), worst status): lambda*(J_i J_i^T; beta, p_i) for Jacobians (n, M, d); one batched
    solve per distinct preference row when ``preference`` is (n, M)."""
    if preference.ndim == 1:
        lam, status, _ = firm_weights(jacobian=jac, beta=beta, preference=preference, method=method)
        return lam, status
    lam = np.empty(jac.shape[:-1])
    worst = SolverStatus.CONVERGED
    rows, inverse = np.unique(preference, axis=0, return_inverse=True)
    for r, row in enumerate(rows):
        sel = inverse.reshape(-1) == r
        lam[sel], status, _ = firm_weights(jacobian=jac[sel], beta=beta, preference=row, method=method)
        worst = status if status.severity > worst.severity else worst
    return lam, worst


class _Clients:
    """Book-keeping of one local update: iterates, lambdas, who is still running and why others left."""

    def __init__(self, x: np.ndarray, n: int, local_steps: int, m: int):
        self.n = n
        self.y = np.tile(x, (n, 1))
        self.lambdas = np.full((n, local_steps, m), np.nan)
        self.valid = np.ones(n, dtype=bool)
        self.reasons: list[str | None] = [None] * n
        self.active = np.arange(n)

    def index(self):
        """Rows of the running clients: a slice (no copy) while every client runs."""
        return slice(None) if self.active.size == self.n else self.active

    def drop(self, mask: np.ndarray, reasons) -> None:
        """Drop the running clients where ``mask`` (over the running ones) is True."""
        for j in np.flatnonzero(mask):
            self.valid[self.active[j]] = False
            self.reasons[self.active[j]] = reasons if isinstance(reasons, str) else reasons[j]
        self.active = self.active[~mask]

    def result(self, status: SolverStatus) -> LocalResult:
        diverged = self.valid & ~np.isfinite(self.y).all(axis=1)
        for i in np.flatnonzero(diverged):
            self.valid[i] = False
            self.reasons[i] = "non-finite local iterate"
        self.y[~self.valid] = np.nan
        return LocalResult(self.y, self.lambdas, self.valid, tuple(self.reasons), status)


def _healthy_jacobians(problem, clients, book: _Clients, rngs, k: int):
    """Stochastic Jacobians (a, M, d) of the running clients at their iterates; clients at a non-finite
    iterate (never sent to the oracle) or with a faulty oracle are dropped first. None if none is left."""
    idx = book.index()
    finite = np.isfinite(book.y[idx]).all(axis=1)
    if not finite.all():
        book.drop(~finite, "non-finite local iterate")
        idx = book.index()
    if book.active.size == 0:
        return None
    sub_rngs = rngs if isinstance(idx, slice) else [rngs[a] for a in book.active]
    m, d = int(problem.num_objectives), int(problem.dim)
    jac, ok, why = checked_oracle(problem.stochastic_jacobians, clients[idx], book.y[idx], sub_rngs, (m, d),
                                  f"stochastic Jacobian at local step {k}")
    if not ok.all():
        book.drop(~ok, why)
        jac = jac[ok]
    return jac if book.active.size else None


def local_update(problem, clients, x, rngs: Sequence[np.random.Generator], *, local_steps: int, lr: float,
                 beta: float = 0.0, preference=None, mode: LocalMode = "firm", fixed_lambda=None,
                 method: str = "auto") -> LocalResult:
    """K local steps of n clients from the common start x (d,), batched over the clients.

    mode "firm": lambda_{i,k} = lambda*(J_{i,k} J_{i,k}^T; beta, p_i); "scalarized": lambda = p_i
    (FedAvg on p_i^T F_i); "fixed_lambda": lambda = ``fixed_lambda`` ((M,) or (n, M); FedCMOO's
    broadcast weights). Then y <- y - lr J^T lambda. ``preference`` is (M,) or (n, M); ``rngs``: one
    generator per client (the oracle's noise / minibatches), advanced in place.
    """
    where = "local_update"
    clients, x, local_steps, lr = check_client_args(problem, clients, x, local_steps, lr, where)
    n, m = len(clients), int(problem.num_objectives)
    rngs = list(rngs)
    if len(rngs) != n:
        raise ValueError(f"{where}: `rngs` must hold one generator per client ({n}), got {len(rngs)}")
    pref = client_preferences(preference, n, m, where)  # also in the modes that never call the solver
    lam_fixed = _fixed_weights(mode, pref, fixed_lambda, n, m, where)
    method = resolve_method(method, m)
    book = _Clients(x, n, local_steps, m)
    status = SolverStatus.CONVERGED
    for k in range(local_steps):
        jac = _healthy_jacobians(problem, clients, book, rngs, k)
        if jac is None:
            break
        idx = book.index()
        if lam_fixed is None:
            lam, st = client_firm_weights(jac, beta=beta, preference=pref if pref.ndim == 1 else pref[idx],
                                          method=method)
            status = st if st.severity > status.severity else status
        else:
            lam = lam_fixed[idx]
        book.y[idx] -= lr * combine(lam, jac)
        book.lambdas[idx, k] = lam
    return book.result(status)
