"""FIRM and its baselines with explicit state, init / step style (optax-like).

    algo = make_algorithm(AlgorithmConfig(name="firm", beta=1.0))
    state = algo.init(problem)                      # FederatedState(round=0, x=x_0, seed, server_lambda)
    state, out = algo.step(problem, state)          # one round: clients + server (pure given the state)
    state, record = algo.round(problem, state)      # step + full-gradient metrics of x_t + wall time

All randomness is derived from (seed, round, client): client i's generator in round t is
``default_rng([seed, t, i])`` and the participants are drawn from ``default_rng([seed, t, 0, 1])``, so
the state needs no generator object, a checkpointed run resumes bit for bit, and a Flower client can
rebuild its own generator.

Round t for every algorithm: sample S of N participants; run the clients (batched over clients);
drop faulty clients (recorded, warned); server: x_{t+1} = x_t + eta_g sum_i wbar_i (y_i - x_t) with the
weights w_i renormalized over the clients that finished (FMGDA / FSMGDA: the MGDA step on averaged
per-objective updates). No client left, or zero total weight: the round is skipped (x_{t+1} = x_t).

Communication per participating client per round (floats; bytes = 8 x floats):
    FIRM, Local-MGDA, FedAvg-LS: up d, down d.   FMGDA, FSMGDA: up M d, down d.
    FedCMOO: up r (M + d) (sketch) + d (model), down d (model) + M (lambda).
FIRM's per-step lambdas are diagnostics and are not counted (the uplink of FIRM is d floats).
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .client import (
    checked_oracle,
    client_rngs,
    local_update,
    per_objective_local_update,
    randomized_svd_sketch,
    resolve_method,
    sketch_floats,
)
from .config import AlgorithmConfig
from .faults import warn_dropped, warn_skipped
from .history import RoundRecord
from .metrics import evaluate_point, lambda_disagreement, model_drift, nan_point
from .server import aggregate, aggregate_mgda, fedcmoo_weights, sketched_jacobian

#: Bytes per transmitted float (float64).
BYTES_PER_FLOAT = 8

#: The participant-sampling stream of round t is default_rng([seed, t, 0, SAMPLING_STREAM]); client
#: streams are default_rng([seed, t, i]) = default_rng([seed, t, i, 0]) (SeedSequence pads with zeros).
SAMPLING_STREAM = 1


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

    finished : ids of the clients whose upload was aggregated; client_points (len(finished), d) their
    y_i (FMGDA / FSMGDA: x_t - sum_m lambda_m Delta_{i,m}); client_lambdas (len(finished), M) each
    client's mean lambda over its local steps, None when clients use no lambda.
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


def sample_participants(seed: int, round_index: int, num_clients: int, participation: int | None) -> np.ndarray:
    """Sorted ids of the S clients of round t, drawn without replacement (all N when S is None or N)."""
    if participation is None or participation >= num_clients:
        return np.arange(num_clients)
    rng = np.random.default_rng([int(seed), int(round_index), 0, SAMPLING_STREAM])
    return np.sort(rng.choice(num_clients, size=participation, replace=False))


def _dropped(ids, valid, reasons) -> tuple[dict, ...]:
    return tuple({"client": int(ids[j]), "reason": reasons[j]} for j in np.flatnonzero(~np.asarray(valid)))


class FederatedAlgorithm(abc.ABC):
    """Base class: sampling, faults, server averaging, records. Subclasses implement :meth:`_round`."""

    def __init__(self, config: AlgorithmConfig):
        if not isinstance(config, AlgorithmConfig):
            raise TypeError(f"{type(self).__name__}: `config` must be an AlgorithmConfig, got {type(config).__name__}")
        self.config = config

    @property
    def name(self) -> str:
        return self.config.display_name

    def init(self, problem, x0=None) -> FederatedState:
        """State at round 0: x_0 = ``x0`` or ``problem.initial_point()``."""
        self.config.check_problem(problem)
        d = int(problem.dim)
        x = problem.initial_point() if x0 is None else x0
        x = np.array(x, dtype=np.float64)
        if x.shape != (d,) or not np.all(np.isfinite(x)):
            raise ValueError(f"{type(self).__name__}.init: `x0` must be finite with shape ({d},), got shape {x.shape}")
        return FederatedState(0, x, self.config.seed, np.full(int(problem.num_objectives), np.nan))

    def step(self, problem, state: FederatedState) -> tuple[FederatedState, RoundOutput]:
        """One round from ``state``; returns the next state and what happened."""
        t = int(state.round)
        parts = sample_participants(state.seed, t, int(problem.num_clients), self.config.participation)
        rngs = client_rngs(state.seed, t, parts)
        out = self._round(problem, np.asarray(state.x, dtype=np.float64), parts, rngs)
        warn_dropped(t, self.name, out.dropped)
        if out.skipped:
            why = "every participant was dropped" if out.finished.size == 0 else "participants' total weight is 0"
            warn_skipped(t, self.name, why)
        lam = state.server_lambda if out.skipped else out.lambda_mean
        return FederatedState(t + 1, out.x_new, state.seed, np.array(lam, dtype=np.float64)), out

    def round(self, problem, state: FederatedState, *, evaluate: bool = True) -> tuple[FederatedState, RoundRecord]:
        """:meth:`step` plus the record: metrics of x_t (full gradients) and the round's wall time."""
        m = int(problem.num_objectives)
        point = evaluate_point(problem, state.x) if evaluate else nan_point(m)
        start = time.perf_counter()
        new_state, out = self.step(problem, state)
        wall = time.perf_counter() - start
        record = RoundRecord(
            round=int(state.round),
            phi=point["phi"],
            objectives=tuple(float(v) for v in point["objectives"]),
            d_lambda=lambda_disagreement(out.client_lambdas) if out.client_lambdas is not None else float("nan"),
            d_x=model_drift(out.client_points, out.x_new),
            dist_pareto=point["dist_pareto"],
            lambda_mean=tuple(float(v) for v in out.lambda_mean),
            uplink_floats=int(out.uplink_floats),
            downlink_floats=int(out.downlink_floats),
            uplink_bytes=BYTES_PER_FLOAT * int(out.uplink_floats),
            downlink_bytes=BYTES_PER_FLOAT * int(out.downlink_floats),
            wall_time=float(wall),
            participants=tuple(int(i) for i in out.participants),
            dropped=out.dropped,
            skipped=bool(out.skipped),
            solver_status=out.solver_status,
        )
        return new_state, record

    # --- helpers for subclasses -------------------------------------------------------------------
    def _average(self, problem, x, ids, points):
        """(x_new, skipped): server averaging over the finished clients, skipped when none / zero weight."""
        w = np.asarray(problem.client_weights, dtype=np.float64)[ids]
        if ids.size == 0 or not w.sum() > 0:
            return x.copy(), True
        return aggregate(x, points, w, self.config.server_lr), False

    @abc.abstractmethod
    def _round(self, problem, x, participants, rngs) -> RoundOutput:
        """Clients and server of one round from x_t."""


class FIRM(FederatedAlgorithm):
    """FIRM (and Local-MGDA, its beta = 0 case): K local steps along J^T lambda*(J J^T; beta, p)."""

    local_mode = "firm"

    def _round(self, problem, x, parts, rngs):
        c = self.config
        m, d = int(problem.num_objectives), int(problem.dim)
        p = c.preference_array(m)
        res = local_update(
            problem, parts, x, rngs, local_steps=c.local_steps, lr=c.lr, beta=c.effective_beta,
            preference=p, mode=self.local_mode, method=c.method,
        )
        ids = parts[res.valid]
        ys = res.y[res.valid]
        lams = res.mean_lambdas[res.valid]
        x_new, skipped = self._average(problem, x, ids, ys)
        lam_mean = lams.mean(axis=0) if ids.size else np.full(m, np.nan)
        return RoundOutput(
            x_new=x_new, participants=parts, finished=ids, client_points=ys, client_lambdas=lams,
            lambda_mean=np.full(m, np.nan) if skipped else lam_mean,
            dropped=_dropped(parts, res.valid, res.reasons), skipped=skipped,
            uplink_floats=d * ids.size, downlink_floats=d * parts.size,
            solver_status=res.status.value if self.local_mode == "firm" else "",
        )


class FedAvgLS(FIRM):
    """FedAvg on the linear scalarization p^T F: K local steps along p^T J."""

    local_mode = "scalarized"


class FMGDA(FederatedAlgorithm):
    """FMGDA (full-batch) / FSMGDA (stochastic), Yang et al. 2023: K local steps per objective
    separately from x_t, upload the M updates; server averages per objective, solves MGDA on them and
    steps eta_g along their lambda-combination."""

    @property
    def stochastic(self) -> bool:
        return self.config.name == "fsmgda"

    def _round(self, problem, x, parts, rngs):
        c = self.config
        m, d = int(problem.num_objectives), int(problem.dim)
        updates, valid, reasons = per_objective_local_update(
            problem, parts, x, rngs if self.stochastic else None,
            local_steps=c.local_steps, lr=c.lr, stochastic=self.stochastic,
        )
        ids = parts[valid]
        w = np.asarray(problem.client_weights, dtype=np.float64)[ids]
        dropped = _dropped(parts, valid, reasons)
        common = dict(participants=parts, finished=ids, client_lambdas=None, dropped=dropped,
                      uplink_floats=m * d * ids.size, downlink_floats=d * parts.size)
        if ids.size == 0 or not w.sum() > 0:
            return RoundOutput(x_new=x.copy(), client_points=np.empty((0, d)), lambda_mean=np.full(m, np.nan),
                               skipped=True, solver_status="", **common)
        x_new, lam, _, status = aggregate_mgda(x, updates[valid], w, c.server_lr,
                                               method=resolve_method(c.method, m))
        points = x - np.einsum("m,imd->id", lam, updates[valid])
        return RoundOutput(x_new=x_new, client_points=points, lambda_mean=lam, skipped=False,
                           solver_status=status.value, **common)


class FedCMOO(FederatedAlgorithm):
    """FedCMOO (Askin et al. 2025): clients upload a rank-r randomized-SVD sketch of their stochastic
    Jacobian at x_t; the server estimates the global Jacobian G = sum_i wbar_i L_i R_i, solves
    lambda = argmin 0.5 ||G^T l||^2 + 0.5 beta ||l - p||^2 (exactly, instead of the paper's warm-started
    projected gradient) and broadcasts lambda; clients take K steps on lambda^T F_i and upload y_i."""

    def _round(self, problem, x, parts, rngs):
        c = self.config
        m, d = int(problem.num_objectives), int(problem.dim)
        n = parts.size
        jac, ok, reasons = checked_oracle(
            problem.stochastic_jacobians, parts, np.tile(x, (n, 1)), rngs, (m, d), "stochastic Jacobian for the sketch"
        )
        sketch_ids = parts[ok]
        w_sketch = np.asarray(problem.client_weights, dtype=np.float64)[sketch_ids]
        uplink = sketch_floats(c.sketch_rank, m, d) * sketch_ids.size
        reasons = list(reasons)
        valid = ok.copy()
        status = ""
        if sketch_ids.size == 0 or not w_sketch.sum() > 0:
            lam = None
        else:
            ok_rngs = [r for r, good in zip(rngs, ok) if good]
            left, right = randomized_svd_sketch(jac[ok], c.sketch_rank, ok_rngs)
            g_hat = sketched_jacobian(left, right, w_sketch)
            lam, st = fedcmoo_weights(g_hat, beta=c.effective_beta, preference=c.preference_array(m),
                                      method=resolve_method(c.method, m))
            status = st.value
        downlink = d * n + (m * sketch_ids.size if lam is not None else 0)
        if lam is None:
            ids = np.empty(0, dtype=np.int64)
            ys = np.empty((0, d))
            x_new, skipped = x.copy(), True
        else:
            res = local_update(
                problem, sketch_ids, x, [r for r, good in zip(rngs, ok) if good], local_steps=c.local_steps,
                lr=c.lr, mode="fixed_lambda", fixed_lambda=lam,
            )
            pos = np.flatnonzero(ok)
            for j in np.flatnonzero(~res.valid):
                valid[pos[j]] = False
                reasons[pos[j]] = res.reasons[j]
            ids = sketch_ids[res.valid]
            ys = res.y[res.valid]
            uplink += d * ids.size
            x_new, skipped = self._average(problem, x, ids, ys)
        client_lams = np.broadcast_to(lam, (ids.size, m)) if lam is not None else np.empty((0, m))
        return RoundOutput(
            x_new=x_new, participants=parts, finished=ids, client_points=ys, client_lambdas=client_lams,
            lambda_mean=np.full(m, np.nan) if skipped else np.asarray(lam),
            dropped=_dropped(parts, valid, reasons), skipped=skipped,
            uplink_floats=uplink, downlink_floats=downlink, solver_status=status,
        )


_CLASSES = {"firm": FIRM, "local_mgda": FIRM, "fedavg_ls": FedAvgLS, "fmgda": FMGDA, "fsmgda": FMGDA, "fedcmoo": FedCMOO}


def make_algorithm(config: AlgorithmConfig) -> FederatedAlgorithm:
    """The algorithm object for ``config.name``."""
    if not isinstance(config, AlgorithmConfig):
        raise TypeError(f"make_algorithm: `config` must be an AlgorithmConfig, got {type(config).__name__}")
    return _CLASSES[config.name](config)
