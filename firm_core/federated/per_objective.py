"""FMGDA / FSMGDA clients: K local steps on each objective separately, vectorized over clients.

    y_{i,m} <- x;  repeat K times:  y_{i,m} <- y_{i,m} - eta grad f_{i,m}(y_{i,m});  upload Delta_{i,m} = x - y_{i,m}

(full-batch gradients for FMGDA, the stochastic oracle's row m for FSMGDA). All n M trajectories are
one batch; client i's M trajectories draw from its own generator in objective order, so a client's
result does not depend on the other clients in the batch. A faulty trajectory drops its client.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._checks import check_client_args
from .oracle import checked_oracle


def _drop(valid, reasons, clients_mask_ids, why) -> None:
    for c, reason in zip(clients_mask_ids, why, strict=True):
        if valid[c]:
            valid[c] = False
            reasons[c] = reason


def _one_step(oracle, rep_clients, rep_rngs, obj, y, active, valid, reasons, lr, m, d, label):
    """One local step of the running trajectories ``active``; returns the trajectories still running."""
    finite = np.isfinite(y[active]).all(axis=1)
    if not finite.all():  # a diverged trajectory drops its client before the oracle sees it
        bad = np.unique(active[~finite] // m)
        _drop(valid, reasons, bad, ["non-finite local iterate"] * bad.size)
        active = active[valid[active // m]]
    if active.size == 0:
        return active
    jac, ok, why = checked_oracle(oracle, rep_clients[active], y[active],
                                  None if rep_rngs is None else [rep_rngs[a] for a in active], (m, d), label)
    bad = np.flatnonzero(~ok)
    _drop(valid, reasons, active[bad] // m, [why[j] for j in bad])
    keep = valid[active // m]
    grads = jac[np.arange(active.size), obj[active]]
    y[active[keep]] -= lr * grads[keep]
    return active[keep]


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
    """K local steps on each objective separately from x (see the module docstring).

    Returns (updates (n, M, d) = x - y_{i,m} (NaN for dropped clients), valid (n,), reasons)."""
    where = "per_objective_local_update"
    clients, x, local_steps, lr = check_client_args(problem, clients, x, local_steps, lr, where)
    n, m, d = len(clients), int(problem.num_objectives), int(problem.dim)
    if stochastic and (rngs is None or len(rngs) != n):
        raise ValueError(f"{where}: `rngs` must hold one generator per client ({n})")
    rep_clients = np.repeat(clients, m)
    rep_rngs = [r for r in rngs for _ in range(m)] if stochastic else None
    obj = np.tile(np.arange(m), n)
    if stochastic:
        oracle = problem.stochastic_jacobians
    else:
        oracle = lambda c, pts, _r: problem.client_jacobians(c, pts)  # noqa: E731
    kind = "stochastic Jacobian" if stochastic else "Jacobian"
    y = np.tile(x, (n * m, 1))
    valid = np.ones(n, dtype=bool)
    reasons: list[str | None] = [None] * n
    active = np.arange(n * m)  # trajectory ids (client j's are j*m .. j*m+m-1)
    for k in range(local_steps):
        active = _one_step(oracle, rep_clients, rep_rngs, obj, y, active, valid, reasons, lr, m, d,
                           f"{kind} at local step {k}")
        if active.size == 0:
            break
    updates = x - y.reshape(n, m, d)
    diverged = valid & ~np.isfinite(updates).reshape(n, -1).all(axis=1)
    _drop(valid, reasons, np.flatnonzero(diverged), ["non-finite local iterate"] * int(diverged.sum()))
    updates[~valid] = np.nan
    return updates, valid, tuple(reasons)
