"""The pure per-client local update, vectorized over a set of clients.

FIRM's client: y <- x_t; for k = 0..K-1: J = stochastic Jacobian at y (M x d),
lambda = argmin_{l in simplex} 0.5 l^T J J^T l + 0.5 beta ||l - p||^2, y <- y - eta J^T lambda.

All n clients of a round advance together: one oracle call and ONE batched min-norm solve per local
step. A client's result depends only on its own start point and its own generator, never on which
other clients share the batch, so a Flower ClientApp calling this with n = 1 reproduces the in-memory
engine (up to floating-point summation order, tested to 1e-12). To keep that true, ``method="auto"``
is resolved from M alone (:func:`resolve_method`), not from the batch size.

Faulty clients: a client whose oracle output is non-finite, or whose output has the wrong shape, or
whose local iterate becomes non-finite (the oracle is never called there), is dropped
(``valid[i] = False`` with a reason) and the others go on. When the batched oracle returns a
wrongly shaped array, the step is redone client by client from the same generator states, so the
healthy clients get exactly the draws they would have got anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .._validate import check_positive_float, check_preference
from ..min_norm import pick_method, solve_min_norm
from ..result import SolverStatus

LocalMode = Literal["firm", "scalarized", "fixed_lambda"]
LOCAL_MODES = ("firm", "scalarized", "fixed_lambda")

#: Extra columns of FedCMOO's randomized range finder beyond the sketch rank (capped at M).
SKETCH_OVERSAMPLE = 2


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


def checked_oracle(
    oracle: Callable[[np.ndarray, np.ndarray, list], np.ndarray],
    clients: np.ndarray,
    points: np.ndarray,
    rngs: list,
    shape: tuple[int, ...],
    what: str,
) -> tuple[np.ndarray, np.ndarray, list[str | None]]:
    """Call ``oracle(clients, points, rngs)`` expecting an (n, *shape) array; return (out, ok, reasons).

    Non-finite rows are marked not ok. A wrongly shaped batch output is redone one client at a time
    from the generators' saved states, and only the clients whose own output is wrong are marked.
    """
    n = len(clients)
    states = [r.bit_generator.state for r in rngs] if rngs is not None else None
    out = np.asarray(oracle(clients, points, rngs))
    if out.shape == (n, *shape):
        ok = np.isfinite(out).reshape(n, -1).all(axis=1)
        reasons = [None if good else f"non-finite {what}" for good in ok]
        return out, ok, reasons
    if rngs is not None:  # rewind (a generator repeated in the list is rewound to its first state)
        for r, st in reversed(list(zip(rngs, states))):
            r.bit_generator.state = st
    full = np.full((n, *shape), np.nan)
    ok = np.zeros(n, dtype=bool)
    reasons: list[str | None] = [None] * n
    for j in range(n):
        one = np.asarray(oracle(clients[j : j + 1], points[j : j + 1], None if rngs is None else [rngs[j]]))
        if one.shape != (1, *shape):
            reasons[j] = f"wrong {what} shape: got {one.shape[1:] if one.ndim else one.shape}, expected {shape}"
        elif not np.all(np.isfinite(one)):
            reasons[j] = f"non-finite {what}"
        else:
            full[j] = one[0]
            ok[j] = True
    return full, ok, reasons


def _check_steps_and_lr(local_steps, lr, where: str) -> tuple[int, float]:
    """K: an integer >= 1; eta: a finite number > 0 (errors name the argument and the value)."""
    if isinstance(local_steps, bool) or not isinstance(local_steps, int | np.integer) or local_steps < 1:
        raise ValueError(f"{where}: `local_steps` must be an integer >= 1, got {local_steps!r}")
    return int(local_steps), check_positive_float(lr, "lr", where)


def local_update(
    problem,
    clients,
    x,
    rngs: Sequence[np.random.Generator],
    *,
    local_steps: int,
    lr: float,
    beta: float = 0.0,
    preference=None,
    mode: LocalMode = "firm",
    fixed_lambda=None,
    method: str = "auto",
) -> LocalResult:
    """K local steps of n clients from the common start x (d,), batched over the clients.

    mode "firm": lambda_{i,k} = lambda*(J_{i,k} J_{i,k}^T; beta, p) (one batched solve per step);
    "scalarized": lambda = p (FedAvg on p^T F_i); "fixed_lambda": lambda = ``fixed_lambda`` ((M,) or
    (n, M); FedCMOO's broadcast weights). Then y <- y - lr J^T lambda. ``rngs``: one generator per
    client (the oracle's noise / minibatches), advanced in place.
    """
    where = "local_update"
    clients = np.asarray(clients, dtype=np.int64).reshape(-1)
    n, m, d = len(clients), int(problem.num_objectives), int(problem.dim)
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (d,):
        raise ValueError(f"{where}: `x` must have shape ({d},), got {x.shape}")
    rngs = list(rngs)
    if len(rngs) != n:
        raise ValueError(f"{where}: `rngs` must hold one generator per client ({n}), got {len(rngs)}")
    local_steps, lr = _check_steps_and_lr(local_steps, lr, where)
    if mode not in LOCAL_MODES:
        raise ValueError(f"{where}: `mode` must be one of {LOCAL_MODES}, got {mode!r}")
    p = check_preference(preference, m, where)  # also in the modes that never call the solver
    lam_fixed = None
    if mode == "scalarized":
        lam_fixed = np.broadcast_to(p, (n, m))
    elif mode == "fixed_lambda":
        if fixed_lambda is None:
            raise ValueError(f"{where}: mode 'fixed_lambda' needs `fixed_lambda`, got None")
        lam_fixed = np.asarray(fixed_lambda, dtype=np.float64)
        if lam_fixed.shape not in ((m,), (n, m)) or not np.all(np.isfinite(lam_fixed)):
            raise ValueError(f"{where}: `fixed_lambda` must be finite with shape ({m},) or ({n}, {m}), got {lam_fixed.shape}")
        lam_fixed = np.broadcast_to(lam_fixed, (n, m))
    method = resolve_method(method, m)

    y = np.tile(x, (n, 1))
    lambdas = np.full((n, local_steps, m), np.nan)
    valid = np.ones(n, dtype=bool)
    reasons: list[str | None] = [None] * n
    status = SolverStatus.CONVERGED
    active = np.arange(n)
    for k in range(local_steps):
        if active.size == 0:
            break
        everyone = active.size == n
        ya = y if everyone else y[active]
        finite = np.isfinite(ya).all(axis=1)
        if not finite.all():  # a diverged client leaves before the oracle is asked at a non-finite point
            for j in np.flatnonzero(~finite):
                valid[active[j]] = False
                reasons[active[j]] = "non-finite local iterate"
            active, ya = active[finite], ya[finite]
            everyone = False
            if active.size == 0:
                break
        jac, ok, why = checked_oracle(
            problem.stochastic_jacobians,
            clients[active],
            ya,
            rngs if everyone else [rngs[a] for a in active],
            (m, d),
            f"stochastic Jacobian at local step {k}",
        )
        if not ok.all():
            for j in np.flatnonzero(~ok):
                valid[active[j]] = False
                reasons[active[j]] = why[j]
            active, jac, ya = active[ok], jac[ok], ya[ok]
            everyone = False
            if active.size == 0:
                break
        if mode == "firm":
            res = solve_min_norm(jac, beta=beta, preference=p, method=method)
            lam, step = res.weights, res.direction
            if res.status.severity > status.severity:
                status = res.status
        else:
            lam = lam_fixed if everyone else lam_fixed[active]
            step = np.einsum("nm,nmd->nd", lam, jac)
        if everyone:
            y -= lr * step
            lambdas[:, k] = lam
        else:
            y[active] = ya - lr * step
            lambdas[active, k] = lam
    diverged = valid & ~np.isfinite(y).all(axis=1)
    for i in np.flatnonzero(diverged):
        valid[i] = False
        reasons[i] = "non-finite local iterate"
    y[~valid] = np.nan
    return LocalResult(y=y, lambdas=lambdas, valid=valid, reasons=tuple(reasons), status=status)


def per_objective_local_update(
    problem,
    clients,
    x,
    rngs: Sequence[np.random.Generator] | None,
    *,
    local_steps: int,
    lr: float,
    stochastic: bool,
) -> tuple[np.ndarray, np.ndarray, tuple[str | None, ...]]:
    """FMGDA / FSMGDA clients: K local steps on each objective separately from x.

    y_{i,m} <- x; repeat K times: y_{i,m} <- y_{i,m} - lr grad f_{i,m}(y_{i,m}) (full-batch, or the
    stochastic oracle's row m when ``stochastic``). Returns (updates (n, M, d) = x - y_{i,m}, valid (n,),
    reasons). All n*M trajectories are one batch; each client's M trajectories draw from its own
    generator in objective order, so results do not depend on the other clients in the batch.
    """
    clients = np.asarray(clients, dtype=np.int64).reshape(-1)
    n, m, d = len(clients), int(problem.num_objectives), int(problem.dim)
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (d,):
        raise ValueError(f"per_objective_local_update: `x` must have shape ({d},), got {x.shape}")
    local_steps, lr = _check_steps_and_lr(local_steps, lr, "per_objective_local_update")
    if stochastic and (rngs is None or len(rngs) != n):
        raise ValueError(f"per_objective_local_update: `rngs` must hold one generator per client ({n})")
    rep_clients = np.repeat(clients, m)
    rep_rngs = [r for r in rngs for _ in range(m)] if stochastic else None
    obj = np.tile(np.arange(m), n)
    if stochastic:
        oracle = problem.stochastic_jacobians
    else:
        oracle = lambda c, pts, _r: problem.client_jacobians(c, pts)  # noqa: E731
    y = np.tile(x, (n * m, 1))
    valid = np.ones(n, dtype=bool)
    reasons: list[str | None] = [None] * n
    active = np.arange(n * m)  # trajectory ids (client j's are j*m .. j*m+m-1)
    for k in range(local_steps):
        finite = np.isfinite(y[active]).all(axis=1)
        if not finite.all():  # a diverged trajectory drops its client before the oracle sees it
            for c in np.unique(active[~finite] // m):
                valid[c] = False
                reasons[c] = reasons[c] or "non-finite local iterate"
            active = active[valid[active // m]]
        if active.size == 0:
            break
        jac, ok, why = checked_oracle(
            oracle,
            rep_clients[active],
            y[active],
            None if rep_rngs is None else [rep_rngs[a] for a in active],
            (m, d),
            f"{'stochastic ' if stochastic else ''}Jacobian at local step {k}",
        )
        for j in np.flatnonzero(~ok):
            c = active[j] // m
            if valid[c]:
                valid[c] = False
                reasons[c] = why[j]
        keep = valid[active // m]
        grads = jac[np.arange(active.size), obj[active]]
        y[active[keep]] -= lr * grads[keep]
        active = active[keep]
    updates = x - y.reshape(n, m, d)
    diverged = valid & ~np.isfinite(updates).reshape(n, -1).all(axis=1)
    for i in np.flatnonzero(diverged):
        valid[i] = False
        reasons[i] = "non-finite local iterate"
    updates[~valid] = np.nan
    return updates, valid, tuple(reasons)


def randomized_svd_sketch(
    jac: np.ndarray, rank: int, rngs: Sequence[np.random.Generator], *, oversample: int = SKETCH_OVERSAMPLE
) -> tuple[np.ndarray, np.ndarray]:
    """FedCMOO's client compression: a rank-r randomized SVD of each (M, d) Jacobian (batched).

    Range finder (Halko et al. 2011): Omega ~ N(0, 1)^{d x k}, k = min(r + oversample, M), from the
    client's generator; Q = orth(J Omega); SVD of Q^T J = U S V^T; keep the top r. Returns
    (left (n, M, r) = Q U_r S_r, right (n, r, d) = V_r^T) with J ~ left @ right; the upload is
    r (M + d) floats. With k = M (small M) the range is exact and the sketch is the truncated SVD.
    """
    jac = np.asarray(jac, dtype=np.float64)
    n, m, d = jac.shape
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or not 1 <= rank <= m:
        raise ValueError(f"randomized_svd_sketch: `rank` must be an integer in [1, M = {m}], got {rank!r}")
    k = min(rank + oversample, m, d)
    rank = min(rank, k)
    omega = np.stack([r.standard_normal((d, k)) for r in rngs]) if n else np.empty((0, d, k))
    q, _ = np.linalg.qr(jac @ omega)  # (n, M, k)
    u, s, vt = np.linalg.svd(np.swapaxes(q, -1, -2) @ jac, full_matrices=False)
    left = (q @ u[:, :, :rank]) * s[:, None, :rank]
    return left, vt[:, :rank, :]


def sketch_floats(rank: int, num_objectives: int, dim: int) -> int:
    """Floats in one rank-r sketch of an M x d matrix: r (M + d)."""
    return int(rank) * (int(num_objectives) + int(dim))
