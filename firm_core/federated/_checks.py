"""Argument checks shared by the client-side updates (errors name the argument and the value found)."""

from __future__ import annotations

import numpy as np

from .._validate import check_positive_float


def check_client_args(problem, clients, x, local_steps, lr, where: str):
    """(clients (n,) int64, x (d,) float64, K, eta) checked against the problem."""
    clients = np.asarray(clients, dtype=np.int64).reshape(-1)
    d = int(problem.dim)
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (d,):
        raise ValueError(f"{where}: `x` must have shape ({d},), got {x.shape}")
    if isinstance(local_steps, bool) or not isinstance(local_steps, int | np.integer) or local_steps < 1:
        raise ValueError(f"{where}: `local_steps` must be an integer >= 1, got {local_steps!r}")
    return clients, x, int(local_steps), check_positive_float(lr, "lr", where)
