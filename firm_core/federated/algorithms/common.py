"""Helpers the algorithms compose: dropped-client bookkeeping, server averaging, the two round shapes.

    average:            x_{t+1} = x_t + eta_g sum_i abar_i (y_i - x_t),  abar = a / sum(a) over the finished
    local_update_round: clients run ``task.local_update`` (FIRM, Local-MGDA, FedAvg-LS; FedCMOO's second half)
    per_objective_round: clients run ``task.per_objective_update``; the server solves MGDA on the
                        abar-averaged per-objective updates (FMGDA, FSMGDA)

The clients' uploads are used in place when every client finished (no (n, d) copy of them).

``a`` are the round's aggregation weights from :func:`~firm_core.federated.sampling.sample_round`.
"""

from __future__ import annotations

import numpy as np

from ..client import resolve_method
from ..server import aggregate, aggregate_mgda
from .base import RoundOutput


def valid_rows(a, valid: np.ndarray):
    """``a[valid]``, or ``a`` itself (no copy of the clients' uploads) when every client is valid."""
    return a if valid.all() else a[valid]


def dropped_list(ids, valid, reasons) -> tuple[dict, ...]:
    """[{"client": id, "reason": str}] for the clients with ``valid`` False."""
    return tuple({"client": int(ids[j]), "reason": reasons[j]} for j in np.flatnonzero(~np.asarray(valid)))


def average(x, points, weights, server_lr: float):
    """(x_new, normalized weights, skipped): server averaging over the finished clients; skipped (x_new =
    x) when no client finished or their total weight is 0."""
    w = np.asarray(weights, dtype=np.float64)
    if w.size == 0 or not w.sum() > 0:
        return x.copy(), np.empty(0), True
    return aggregate(x, points, w, server_lr), w / w.sum(), False


def local_update_round(task, config, x, parts, agg, rngs, *, mode: str, beta: float = 0.0,
                       fixed_lambda=None) -> tuple[RoundOutput, np.ndarray, list]:
    """Clients: ``task.local_update`` in ``mode``; server: :func:`average`. Returns (the round's output
    without FedCMOO's extras, valid (S,), reasons) so a caller can merge earlier failures."""
    c = config
    m, d = int(task.num_objectives), int(task.dim)
    res = task.local_update(parts, x, rngs, local_steps=c.local_steps, lr=c.lr, beta=beta,
                            preference=c.preference_array(m), mode=mode, fixed_lambda=fixed_lambda, method=c.method)
    valid = np.asarray(res.valid, dtype=bool)
    ids, ys, lams = parts[valid], valid_rows(res.y, valid), res.mean_lambdas[valid]
    x_new, weights, skipped = average(x, ys, agg[valid], c.server_lr)
    lam_mean = lams.mean(axis=0) if ids.size and not skipped else np.full(m, np.nan)
    out = RoundOutput(
        x_new=x_new, participants=parts, finished=ids, client_points=ys, client_lambdas=lams,
        lambda_mean=lam_mean, dropped=dropped_list(parts, valid, res.reasons), skipped=skipped,
        uplink_floats=d * ids.size, downlink_floats=d * parts.size,
        solver_status=res.status.value if mode == "firm" else "", weights=weights,
    )
    return out, valid, list(res.reasons)


def per_objective_round(task, config, x, parts, agg, rngs, *, stochastic: bool) -> RoundOutput:
    """Clients: K steps per objective (``task.per_objective_update``), upload the M updates; server:
    D_m = sum_i abar_i Delta_{i,m}, lambda = MGDA weights of D, x_{t+1} = x_t - eta_g D^T lambda."""
    c = config
    m, d = int(task.num_objectives), int(task.dim)
    updates, valid, reasons = task.per_objective_update(parts, x, rngs, local_steps=c.local_steps, lr=c.lr,
                                                        stochastic=stochastic)
    valid = np.asarray(valid, dtype=bool)
    ids, w = parts[valid], agg[valid]
    common = dict(participants=parts, finished=ids, client_lambdas=None, dropped=dropped_list(parts, valid, reasons),
                  uplink_floats=m * d * ids.size, downlink_floats=d * parts.size)
    if ids.size == 0 or not w.sum() > 0:
        return RoundOutput(x_new=x.copy(), client_points=np.empty((0, d)), lambda_mean=np.full(m, np.nan),
                           skipped=True, solver_status="", **common)
    ups = valid_rows(np.asarray(updates), valid)
    x_new, lam, _, status = aggregate_mgda(x, ups, w, c.server_lr, method=resolve_method(c.method, m))
    points = np.einsum("m,imd->id", lam, ups)
    np.subtract(x, points, out=points)  # x - sum_m lambda_m Delta_{i,m}, in place: one (n, d) array
    return RoundOutput(x_new=x_new, client_points=points, lambda_mean=lam, skipped=False,
                       solver_status=status.value, weights=w / w.sum(), **common)
