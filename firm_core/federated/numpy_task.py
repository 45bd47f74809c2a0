"""The numpy :class:`~firm_core.federated.task.ClientTask`: a :class:`~firm_core.problems.Problem`'s
clients, advanced together as batched numpy (one oracle call and one batched solve per local step).

    task = as_client_task(problem)        # a ClientTask passes through unchanged
    res = task.local_update(ids, x, rngs, local_steps=5, lr=0.05, beta=1.0, preference=None, mode="firm")
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .client import local_update
from .metrics import problem_metrics
from .oracle import checked_oracle
from .per_objective import per_objective_local_update
from .task import ClientTask

#: The oracles a numpy problem must have to be wrapped (duck typing: no subclassing required).
PROBLEM_METHODS = ("initial_point", "client_jacobians", "stochastic_jacobians", "jacobian", "values", "describe")


class ProblemTask:
    """ClientTask over a numpy problem: N clients, M objectives, d parameters, vectorized over clients."""

    def __init__(self, problem):
        missing = [name for name in PROBLEM_METHODS if not callable(getattr(problem, name, None))]
        if missing:
            raise TypeError(f"ProblemTask: `problem` must be a firm_core Problem, got {type(problem).__name__} "
                            f"without {missing}")
        self.problem = problem
        self.num_clients = int(problem.num_clients)
        self.num_objectives = int(problem.num_objectives)
        self.dim = int(problem.dim)
        self.client_weights = np.asarray(problem.client_weights, dtype=np.float64)

    def initial_point(self) -> np.ndarray:
        return np.asarray(self.problem.initial_point(), dtype=np.float64)

    def describe(self) -> dict[str, Any]:
        return self.problem.describe()

    def local_update(self, clients, x, rngs, *, local_steps: int, lr: float, beta: float, preference,
                     mode: str, fixed_lambda=None, method: str = "auto"):
        """K local steps of the clients (:func:`~firm_core.federated.client.local_update`)."""
        return local_update(self.problem, clients, x, rngs, local_steps=local_steps, lr=lr, beta=beta,
                            preference=preference, mode=mode, fixed_lambda=fixed_lambda, method=method)

    def per_objective_update(self, clients, x, rngs, *, local_steps: int, lr: float, stochastic: bool):
        """FMGDA / FSMGDA clients (:func:`~firm_core.federated.per_objective.per_objective_local_update`)."""
        return per_objective_local_update(self.problem, clients, x, rngs, local_steps=local_steps, lr=lr,
                                          stochastic=stochastic)

    def sketch_jacobians(self, clients, x, rngs):
        """Each client's stochastic Jacobian at x (FedCMOO's sketch input): (J (n, M, d), valid, reasons)."""
        clients = np.asarray(clients, dtype=np.int64).reshape(-1)
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (self.dim,):
            raise ValueError(f"sketch_jacobians: `x` must have shape ({self.dim},), got {x.shape}")
        points = np.tile(x, (clients.size, 1))
        jac, ok, reasons = checked_oracle(self.problem.stochastic_jacobians, clients, points, list(rngs),
                                          (self.num_objectives, self.dim), "stochastic Jacobian for the sketch")
        return jac, ok, tuple(reasons)

    def evaluate(self, x) -> dict[str, Any]:
        """{"phi": phi(x), "objectives": F(x), "dist_pareto": ... or None} from full gradients."""
        return problem_metrics(self.problem, x)


def as_client_task(obj) -> ClientTask:
    """``obj`` itself when it is a ClientTask; a numpy problem wrapped in :class:`ProblemTask`."""
    if isinstance(obj, ClientTask):
        return obj
    return ProblemTask(obj)
