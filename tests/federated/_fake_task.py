"""A small fake ClientTask for the engine's plumbing tests: deterministic client updates, no oracles.

Client c moves to y_c = x + shift_c (shift_c = (c + 1) / 10 * ones(d)) in ``local_update`` and uploads
Delta_{c,m} = -(m + 1) shift_c in ``per_objective_update``. Optional parts of the protocol are switched
on by the constructor: ``bytes_per_float``, ``pop_round_extras`` (extras), a solver status to report.
Every call is logged in ``calls`` as (method name, rngs passed).
"""

from __future__ import annotations

import numpy as np

from firm_core.federated import LocalResult
from firm_core.result import SolverStatus


class FakeTask:
    def __init__(self, num_clients=3, dim=4, num_objectives=2, *, weights=None, status=SolverStatus.CONVERGED,
                 invalid=(), row_dtype=np.float64):
        self.num_clients, self.dim, self.num_objectives = num_clients, dim, num_objectives
        self.row_dtype = row_dtype  # float32: the task returns its clients' rows as float32 (like the LLM task)
        w = np.arange(1.0, num_clients + 1) if weights is None else np.asarray(weights, dtype=np.float64)
        self.client_weights = w / w.sum()
        self.status, self.invalid = status, set(invalid)
        self.calls: list[tuple[str, object]] = []

    def initial_point(self):
        return np.zeros(self.dim)

    def describe(self):
        return {"name": "fake", "dim": self.dim}

    def shift(self, c):
        return np.full(self.dim, (int(c) + 1) / 10.0)

    def local_update(self, clients, x, rngs, *, local_steps, lr, beta, preference, mode, fixed_lambda=None,
                     method="auto"):
        self.calls.append(("local_update", rngs))
        n, m = len(clients), self.num_objectives
        y = np.empty((n, self.dim), dtype=self.row_dtype)
        for j, c in enumerate(clients):
            y[j] = x + self.shift(c)
        valid = np.array([int(c) not in self.invalid for c in clients])
        y[~valid] = np.nan
        lambdas = np.full((n, local_steps, m), 1.0 / m)
        reasons = tuple(None if ok else "fake fault" for ok in valid)
        return LocalResult(y, lambdas, valid, reasons, self.status)

    def per_objective_update(self, clients, x, rngs, *, local_steps, lr, stochastic):
        self.calls.append(("per_objective_update", rngs))
        m = self.num_objectives
        ups = np.stack([np.stack([-(k + 1) * self.shift(c) for k in range(m)]) for c in clients])
        return ups, np.ones(len(clients), dtype=bool), (None,) * len(clients)

    def sketch_jacobians(self, clients, x, rngs):
        self.calls.append(("sketch_jacobians", rngs))
        m = self.num_objectives
        jac = np.stack([np.stack([(k + 1) * self.shift(c) for k in range(m)]) for c in clients])
        return jac, np.ones(len(clients), dtype=bool), (None,) * len(clients)

    def evaluate(self, x):
        return {"phi": float(np.sum(x**2)), "objectives": np.full(self.num_objectives, float(np.sum(x))),
                "dist_pareto": None, "eval_score": float(x[0])}


class WireTask(FakeTask):
    """Declares its wire size: 4 bytes per float (float32 uploads)."""

    bytes_per_float = 4


class ExtrasTask(FakeTask):
    """Reports training scalars of its client work: how many client calls ran since the last pop."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._since = 0
        self.pops = 0

    def local_update(self, clients, x, rngs, **kw):
        self._since += len(clients)
        return super().local_update(clients, x, rngs, **kw)

    def per_objective_update(self, clients, x, rngs, **kw):
        self._since += len(clients)
        return super().per_objective_update(clients, x, rngs, **kw)

    def pop_round_extras(self):
        self.pops += 1
        out, self._since = {"train_client_calls": float(self._since)}, 0
        return out
