"""The shared frame of every federated algorithm: explicit state, init / step / round (optax-like).

    algo = make_algorithm(AlgorithmConfig(name="firm", beta=1.0))
    state = algo.init(task)                    # FederatedState(round=0, x=x_0, seed, server_lambda)
    state, out = algo.step(task, state)        # one round: clients + server (pure given the state)
    state, record = algo.round(task, state)    # step + metrics of x_t (task.evaluate) + wall time

``task`` is a :class:`~firm_core.federated.task.ClientTask` or a numpy Problem (wrapped by
:func:`~firm_core.federated.numpy_task.as_client_task`); the algorithms talk to clients only through
the ClientTask methods. All randomness is derived from (seed, round, client): client i's generator in
round t is ``default_rng([seed, t, i])`` and the round's sample comes from
:func:`~firm_core.federated.sampling.sample_round`, so a checkpointed run resumes bit for bit.

Each algorithm is a subclass of :class:`FederatedAlgorithm` that implements only ``_round`` (its
clients and its server, from shared helpers in :mod:`.common`); no algorithm subclasses another.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from ..client import client_rngs
from ..config import AlgorithmConfig
from ..faults import warn_dropped, warn_skipped
from ..history import RoundRecord
from ..metrics import evaluate_point, extra_metrics, lambda_disagreement, model_drift, nan_point
from ..numpy_task import as_client_task
from ..sampling import sample_round
from ..task import DEFAULT_BYTES_PER_FLOAT, round_extras, wire_bytes_per_float

#: Bytes per transmitted float when the task declares none (float64).
BYTES_PER_FLOAT = DEFAULT_BYTES_PER_FLOAT


class FederatedState(NamedTuple):
    """Everything a run needs to continue: round index t, iterate x_t (d,), seed, and the last round's
    lambda_bar / server lambda (M,) (NaN before the first round), kept for reporting and warm starts."""

    round: int
    x: np.ndarray
    seed: int
    server_lambda: np.ndarray


@dataclass(frozen=True)
class RoundOutput:
    """What :meth:`FederatedAlgorithm.step` did in one round (no full-gradient metrics).

    participants : the distinct clients sampled; finished : ids of the clients whose upload was
    aggregated; client_points (len(finished), d) their y_i (FMGDA / FSMGDA: x_t - sum_m lambda_m
    Delta_{i,m}); client_lambdas (len(finished), M) each client's mean lambda over its local steps,
    None when clients use no lambda; weights (len(finished),) the aggregation weights actually used
    (the round's sampling weights renormalized over the finished clients; empty when skipped).
    """

    x_new: np.ndarray
    participants: np.ndarray
    finished: np.ndarray
    client_points: np.ndarray
    client_lambdas: np.ndarray | None
    lambda_mean: np.ndarray
    dropped: tuple[dict, ...]
    skipped: bool
    uplink_floats: int
    downlink_floats: int
    solver_status: str
    weights: np.ndarray = field(default_factory=lambda: np.empty(0))


class FederatedAlgorithm(abc.ABC):
    """Base class: sampling, faults, records. Subclasses implement :meth:`_round` only."""

    #: the AlgorithmConfig names this class runs
    config_names: tuple[str, ...] = ()

    def __init__(self, config: AlgorithmConfig):
        if not isinstance(config, AlgorithmConfig):
            raise TypeError(f"{type(self).__name__}: `config` must be an AlgorithmConfig, got {type(config).__name__}")
        if self.config_names and config.name not in self.config_names:
            raise ValueError(f"{type(self).__name__}: `config.name` must be one of {self.config_names}, got {config.name!r}")
        self.config = config
        self._task = (None, None)

    @property
    def name(self) -> str:
        return self.config.display_name

    def task(self, problem):
        """The ClientTask of ``problem`` (wrapped once and reused while the same object is passed)."""
        if self._task[0] is not problem:
            self._task = (problem, as_client_task(problem))
        return self._task[1]

    def init(self, problem, x0=None) -> FederatedState:
        """State at round 0: x_0 = ``x0`` or the task's initial point."""
        task = self.task(problem)
        self.config.check_problem(task)
        d = int(task.dim)
        x = np.array(task.initial_point() if x0 is None else x0, dtype=np.float64)
        if x.shape != (d,) or not np.all(np.isfinite(x)):
            raise ValueError(f"{type(self).__name__}.init: `x0` must be finite with shape ({d},), got shape {x.shape}")
        return FederatedState(0, x, self.config.seed, np.full(int(task.num_objectives), np.nan))

    def step(self, problem, state: FederatedState) -> tuple[FederatedState, RoundOutput]:
        """One round from ``state``; returns the next state and what happened."""
        return self._step(self.task(problem), state)

    def _step(self, task, state: FederatedState) -> tuple[FederatedState, RoundOutput]:
        t = int(state.round)
        parts, agg = sample_round(state.seed, t, task.client_weights, self.config.participation)
        rngs = client_rngs(state.seed, t, parts)
        out = self._round_from_state(task, state, parts, agg, rngs)
        warn_dropped(t, self.name, out.dropped)
        if out.skipped:
            everyone = len(out.dropped) == out.participants.size
            why = "every participant was dropped" if everyone else "participants' total weight is 0"
            warn_skipped(t, self.name, why)
        lam = state.server_lambda if out.skipped else out.lambda_mean
        return FederatedState(t + 1, out.x_new, state.seed, np.array(lam, dtype=np.float64)), out

    def round(self, problem, state: FederatedState, *, evaluate: bool = True) -> tuple[FederatedState, RoundRecord]:
        """:meth:`step` plus the record: metrics of x_t (the task's evaluate), the round's wall time, the
        task's wire size (``bytes_per_float``) and the scalars of the round's client work
        (``pop_round_extras``, popped once before the round to drop leftovers and once after it)."""
        task = self.task(problem)
        point = evaluate_point(task, state.x) if evaluate else nan_point(int(task.num_objectives))
        round_extras(task)  # leftovers of client work outside this round (an earlier run, a direct call)
        start = time.perf_counter()
        new_state, out = self._step(task, state)
        wall = time.perf_counter() - start
        return new_state, build_record(state.round, point, out, wall, bytes_per_float=wire_bytes_per_float(task),
                                       training_extras=round_extras(task))

    def _round_from_state(self, task, state: FederatedState, participants, aggregation_weights, rngs) -> RoundOutput:
        """The round from ``state``: :meth:`_round` on x_t. A server that carries state across rounds
        (FedCMOO's warm-started lambda, ``state.server_lambda``) overrides this."""
        return self._round(task, np.asarray(state.x, dtype=np.float64), participants, aggregation_weights, rngs)

    @abc.abstractmethod
    def _round(self, task, x, participants, aggregation_weights, rngs) -> RoundOutput:
        """Clients and server of one round from x_t; ``aggregation_weights`` (S,) align with participants."""


def build_record(round_index: int, point: dict, out: RoundOutput, wall: float, *,
                 bytes_per_float: int = BYTES_PER_FLOAT, training_extras: dict | None = None) -> RoundRecord:
    """The RoundRecord of round t from the metrics of x_t and what the round did.

    bytes = ``bytes_per_float`` * floats; extras = the evaluation's extra scalars merged with
    ``training_extras`` (a name in both is a ValueError: one would silently hide the other)."""
    extras = extra_metrics(point)
    clash = sorted(set(extras) & set(training_extras or {}))
    if clash:
        raise ValueError(f"build_record: `training_extras` repeat the evaluation's extras {clash}")
    extras.update(training_extras or {})
    return RoundRecord(
        round=int(round_index),
        phi=point["phi"],
        objectives=tuple(float(v) for v in point["objectives"]),
        d_lambda=lambda_disagreement(out.client_lambdas) if out.client_lambdas is not None else float("nan"),
        d_x=model_drift(out.client_points, out.x_new),
        dist_pareto=point["dist_pareto"],
        lambda_mean=tuple(float(v) for v in out.lambda_mean),
        uplink_floats=int(out.uplink_floats),
        downlink_floats=int(out.downlink_floats),
        uplink_bytes=int(bytes_per_float) * int(out.uplink_floats),
        downlink_bytes=int(bytes_per_float) * int(out.downlink_floats),
        wall_time=float(wall),
        participants=tuple(int(i) for i in out.participants),
        dropped=out.dropped,
        skipped=bool(out.skipped),
        solver_status=out.solver_status,
        extras=extras,
    )
