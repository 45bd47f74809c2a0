"""What the algorithms need from the clients of a run: the ``ClientTask`` protocol.

Every federated algorithm (FIRM, Local-MGDA, FedAvg-LS, FMGDA, FSMGDA, FedCMOO) talks to its clients
only through these methods, so one engine serves every backend: a numpy :class:`~firm_core.problems.Problem`
(clients advanced together, vectorized) and a stateful, sequential backend such as LoRA RLHF, whose
parameter vector x is a flattened adapter. All randomness comes in through the per-client generators
``rngs`` (client i's generator in round t is ``default_rng([seed, t, i])``), so a run is reproducible
and resumable bit for bit whatever the backend.

Shapes: n = len(clients), M objectives, d parameters. A client that fails (an exception in its own
work, a non-finite value, a wrongly shaped output) is reported as ``valid[j] = False`` with a reason
string and the others go on; the methods raise only for a caller's mistake.

Optional parts (the engine uses them when a task has them):
    ``bytes_per_float``  int >= 1: bytes of one transmitted entry of x on the wire (for example 4 for
                         float32 adapters); records count ``uplink_bytes`` / ``downlink_bytes`` with it
                         (DEFAULT_BYTES_PER_FLOAT = 8, float64, when absent).
    ``pop_round_extras() -> dict[str, float]``  scalars of the client work since the last call (training
                         rewards, KL, ...), then forgotten; the engine calls it before and after every
                         round and merges the second answer into the round's ``RoundRecord.extras`` (so
                         they reach the History, its JSON / CSV and checkpoints). Names must differ from
                         the extras of ``evaluate``.

The numpy implementation is :class:`~firm_core.federated.numpy_task.ProblemTask`
(``as_client_task(problem)``). Sampling and aggregation weights are the algorithms' business
(:func:`~firm_core.federated.sampling.sample_round`); a task never sees them.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ClientTask(Protocol):
    """The client side of a federated multi-objective run.

    Attributes: ``num_clients`` N, ``num_objectives`` M, ``dim`` d, ``client_weights`` (N,) summing to 1.
    """

    num_clients: int
    num_objectives: int
    dim: int
    client_weights: np.ndarray

    def initial_point(self) -> np.ndarray:
        """x_0 (d,)."""

    def describe(self) -> dict[str, Any]:
        """JSON-safe description (name and parameters) stored with histories and checkpoints."""

    def local_update(self, clients, x, rngs, *, local_steps: int, lr: float, beta: float, preference,
                     mode: str, fixed_lambda=None, method: str = "auto"):
        """K local steps of each client from x; returns a
        :class:`~firm_core.federated.client.LocalResult` (y (n, d), lambdas (n, K, M), valid (n,),
        reasons, worst solver status; the algorithms read y, valid, reasons, status and mean_lambdas).
        y is float64, or float32 when the uploads are float32 on the wire: the server then holds one
        float32 row per client and averages them into a float64 running sum (``server.aggregate``).

        mode "firm": lambda_{i,k} = lambda*(J J^T; beta, p_i) at every step (firm_core.weighting);
        "scalarized": lambda = p_i; "fixed_lambda": lambda = ``fixed_lambda`` ((M,) or (n, M)).
        ``preference`` is (M,) (shared) or (n, M) (one row per client); ``beta`` is absolute."""

    def per_objective_update(self, clients, x, rngs, *, local_steps: int, lr: float, stochastic: bool):
        """FMGDA / FSMGDA clients: K steps on each objective separately from x (full-batch gradients
        when not ``stochastic``). ``rngs`` are always the clients' generators; a task whose full-batch
        steps need no randomness ignores them. Returns (updates (n, M, d) = x - y_{i,m}, valid (n,), reasons)."""

    def sketch_jacobians(self, clients, x, rngs):
        """FedCMOO: each client's (stochastic) Jacobian at x. Returns (J (n, M, d), valid (n,), reasons)."""

    def evaluate(self, x) -> dict[str, Any]:
        """Metrics of the global model x: {"phi": float, "objectives": (M,), "dist_pareto": float | None}
        plus any backend-specific scalars (for example rewards or KL), which records keep as extras."""


#: Bytes per transmitted float of a task that declares no ``bytes_per_float`` (float64).
DEFAULT_BYTES_PER_FLOAT = 8


def wire_bytes_per_float(task) -> int:
    """The task's ``bytes_per_float`` (DEFAULT_BYTES_PER_FLOAT when it has none); ValueError unless an int >= 1."""
    value = getattr(task, "bytes_per_float", DEFAULT_BYTES_PER_FLOAT)
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"the task's `bytes_per_float` must be an integer >= 1, got {value!r}")
    return int(value)


def round_extras(task) -> dict[str, float]:
    """``task.pop_round_extras()`` when the task has it, else {}; TypeError unless it returns a dict."""
    pop = getattr(task, "pop_round_extras", None)
    if pop is None:
        return {}
    out = pop()
    if not isinstance(out, dict):
        raise TypeError("the task's `pop_round_extras()` must return a dict of {name: float}, "
                        f"got {type(out).__name__}")
    return out
