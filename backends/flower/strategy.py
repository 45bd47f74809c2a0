"""FIRM as a Flower ``Strategy`` (Message API): sample, serialize, validate, call firm_core.

Round t (Flower's server round r = t + 1 - start round):

1. ``configure_train``: participants and their aggregation weights from ``aggregation.sample_round``
   (the in-memory engine's draw, weighted by the server's own record w_i); each goes to the node
   serving its partition (learned once with a "query" message to every node, answered with the
   node's ``partition-id``). The message carries x_t and a fresh train ConfigRecord (``protocol``);
   keys a wrapper put into the incoming config (e.g. DP's clipping norm) are kept. Neither input
   record is modified.
2. ``aggregate_train``: every reply is checked (``validation``: arrays, every metric's type and range,
   the partition the node was sent, the reported weight against the server's record); bad, failed
   and missing replies are dropped with their reason; the rest are averaged by
   ``aggregation.guarded_average`` (``firm_core.federated.server.aggregate``):
   x_{t+1} = x_t + eta_g sum_i wbar_i (y_i - x_t). No accepted reply, zero total weight or a
   non-finite average: the round is skipped (x_{t+1} = x_t, arrays None).
3. ``evaluate_global`` (pass it as ``evaluate_fn`` to ``start``; ``server_app.run_strategy`` does):
   with the arrays the run actually continues from (after any DP noise), finish the round's
   ``RoundRecord`` (``round_record``: the engine's definitions) and write the checkpoint.

Communication: floats and payload bytes are read from the serialized messages (``records``), and
``wire_*`` counters keep the full serialized sizes (payload plus Flower's framing) for reports.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from logging import INFO, WARNING

import numpy as np
from firm_core import __version__ as firm_version
from firm_core.federated import (
    FederatedState,
    History,
    RoundOutput,
    RunConfig,
    evaluate_point,
    lambda_disagreement,
    load_checkpoint,
    save_checkpoint,
)
from firm_core.federated.faults import warn_dropped, warn_skipped
from firm_core.result import SolverStatus
from flwr.app import ArrayRecord, ConfigRecord, Message, MessageType, MetricRecord, RecordDict
from flwr.serverapp.grid import Grid
from flwr.serverapp.strategy import Strategy
from flwr.supercore import log

from .aggregation import RoundSample, guarded_average, sample_round, streamed_drift
from .discovery import discover_nodes
from .protocol import ARRAYS_KEY, CONFIG_KEY, LAMBDA_KEY, SOLVER_STATUS_KEY
from .records import Traffic, message_traffic, vector_to_record
from .round_record import round_record
from .settings import FlowerSettings
from .validation import AcceptedReply, RejectedReply, ReplyExpectation, SentTrain, arrays_to_vector, check_train_replies

#: Reason recorded for a participant whose partition no node serves.
NO_NODE_REASON = "no node serves this partition"
#: Reason recorded when a wrapper (e.g. Flower's DP wrapper) did not let the round be aggregated.
WRAPPER_SKIPPED_REASON = "aggregation skipped by the strategy wrapper (it refused the round's replies)"
_STATUS_BY_SEVERITY = {s.severity: s for s in SolverStatus}


@dataclass
class _PendingRound:
    """What configure_train sent in round t, and (after aggregate_train) what came back."""

    t: int
    x: np.ndarray
    sample: RoundSample
    messages: dict[int, Message]  # node id -> message sent
    client_of_node: dict[int, int]
    unserved: list[int]
    started: float
    downlink: Traffic
    accepted: list[AcceptedReply] = field(default_factory=list)
    rejected: list[RejectedReply] = field(default_factory=list)
    aggregated: bool = False
    x_new: np.ndarray | None = None
    skip_reason: str = ""
    wall_time: float = 0.0


class FirmStrategy(Strategy):
    """FIRM's server on Flower. ``problem`` defaults to ``settings.build_problem()``; the server uses it
    for the shapes it expects, its record of the client weights, and the full-gradient metrics."""

    def __init__(self, settings: FlowerSettings, problem=None):
        if not isinstance(settings, FlowerSettings):
            raise TypeError(f"FirmStrategy: `settings` must be a FlowerSettings, got {type(settings).__name__}")
        self.settings = settings
        self.problem = settings.build_problem() if problem is None else problem
        settings.algorithm.check_problem(self.problem)
        self.client_weights = np.asarray(self.problem.client_weights, dtype=np.float64).copy()
        self.expect = self.reply_expectation()
        self.start_round = 0
        self.history = History(metadata=self._metadata())
        self.node_of_client: dict[int, int] | None = None
        self.wire_uplink_bytes = 0
        self.wire_downlink_bytes = 0
        self._pending: _PendingRound | None = None
        self._point: dict | None = None  # metrics of the current x_t
        self._x: np.ndarray | None = None  # the current x_t
        #: every iterate the run continued from, x_{start}, ..., x_T (copies), for reports and tests
        self.iterates: list[np.ndarray] = []
        # last non-skipped round's lambda_bar (the engine's FederatedState.server_lambda)
        self._server_lambda = np.full(self.expect.num_objectives, np.nan)

    # --- setup ------------------------------------------------------------------------------------
    def _metadata(self) -> dict:
        a = self.settings.algorithm
        return {
            "algorithm": a.name,
            "display_name": a.display_name,
            "config": a.to_dict(),
            "run_config": self.run_config().to_dict(),
            "problem": self.problem.describe(),
            "seed": a.seed,
            "firm_version": firm_version,
            "engine": "flower",
        }

    def reply_expectation(self) -> ReplyExpectation:
        """What a valid reply holds: the iterate "x" (d,) float64 and the numpy client's metrics (the
        LoRA backend overrides this)."""
        p = self.problem
        return ReplyExpectation(int(p.dim), int(p.num_objectives), int(p.num_clients),
                                local_steps=int(self.settings.algorithm.local_steps),
                                client_weights=tuple(self.client_weights))

    # --- the arrays that travel, as the flat float64 vector firm_core works on --------------------
    def backend_train_config(self, t: int) -> dict:
        """Entries a backend adds to round t's train ConfigRecord (none here)."""
        return {}

    def to_vector(self, arrays: ArrayRecord) -> np.ndarray:
        """x from the ArrayRecord (checked against ``expect.specs``; a fresh float64 vector)."""
        return arrays_to_vector(arrays, self.expect.specs)

    def to_arrays(self, x: np.ndarray) -> ArrayRecord:
        """The ArrayRecord laid out as ``expect.specs`` holding the flat vector ``x``."""
        return vector_to_record(x, self.expect.specs)

    def evaluate_at(self, x: np.ndarray) -> dict:
        """Server-side metrics of x (phi, F, distance to the Pareto set; ``evaluate_point``)."""
        with np.errstate(over="ignore", invalid="ignore"):  # a huge but finite x gives inf metrics, not a stop
            return evaluate_point(self.problem, x)

    def run_config(self) -> RunConfig:
        return RunConfig(rounds=self.settings.rounds, checkpoint_every=1, name="flower")

    def initial_arrays(self, x0=None) -> ArrayRecord:
        """x_0 (``x0`` or the problem's initial point) as the ArrayRecord the run starts from."""
        x = self.problem.initial_point() if x0 is None else np.asarray(x0, dtype=np.float64)
        if x.shape != (self.expect.dim,) or not np.all(np.isfinite(x)):
            raise ValueError(f"FirmStrategy: `x0` must be finite with shape ({self.expect.dim},), got shape {x.shape}")
        return self.to_arrays(x)

    def resume(self, checkpoint_dir) -> ArrayRecord:
        """Continue from a checkpoint (written by this strategy or by the in-memory engine for the same
        algorithm config and problem): returns x_r as the initial ArrayRecord; rounds restart at r."""
        state, history = load_checkpoint(checkpoint_dir, self.settings.algorithm, self.problem)
        if state.round > self.settings.rounds:
            raise ValueError(
                f"FirmStrategy.resume: the checkpoint is at round {state.round}, beyond `rounds` = {self.settings.rounds}"
            )
        self._server_lambda = np.asarray(state.server_lambda, dtype=np.float64).copy()
        history.metadata.update(self._metadata())
        history.final_point = None
        self.history = history
        self.start_round = int(state.round)
        return self.to_arrays(state.x)

    @property
    def remaining_rounds(self) -> int:
        return self.settings.rounds - self.start_round

    def discover_nodes(self, grid: Grid, known: dict[int, int] | None = None) -> dict[int, int]:
        """The map client id -> node id, completed by asking the nodes not in ``known`` (``discovery``)."""
        return discover_nodes(grid, self.expect.num_clients, self.settings.timeout, known)

    # --- Strategy hooks -------------------------------------------------------------------------------
    def summary(self) -> None:
        a = self.settings.algorithm
        log(INFO, "\t├──> FIRM: %s on %s (N=%d, M=%d, d=%d)", a.display_name, self.problem.name,
            self.expect.num_clients, self.expect.num_objectives, self.expect.dim)
        log(INFO, "\t└──> K=%d, lr=%g, beta=%g, eta_g=%g, S=%s, seed=%d", a.local_steps, a.lr, a.effective_beta,
            a.server_lr, a.participation or "all", a.seed)

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid) -> Iterable[Message]:
        t = self.start_round + int(server_round) - 1
        x = self.to_vector(arrays)
        if self._x is None or not np.array_equal(self._x, x):
            self._x, self._point = x, self.evaluate_at(x)
        a = self.settings.algorithm
        sample = sample_round(a.seed, t, self.client_weights, a.participation)
        if self.node_of_client is None or any(int(c) not in self.node_of_client for c in sample.participants):
            self.node_of_client = self.discover_nodes(grid, self.node_of_client)  # first round, or nodes joined
        content_config = ConfigRecord({**dict(config), **dict(self.settings.train_config(t, self.expect.num_objectives)),
                                       **self.backend_train_config(t)})
        messages: dict[int, Message] = {}
        client_of_node: dict[int, int] = {}
        unserved = []
        for cid in (int(c) for c in sample.participants):
            node = self.node_of_client.get(cid)
            if node is None:
                unserved.append(cid)
                continue
            record = RecordDict({ARRAYS_KEY: self.to_arrays(x), CONFIG_KEY: content_config})
            messages[node] = Message(record, node, MessageType.TRAIN, group_id=str(server_round))
            client_of_node[node] = cid
        downlink = sum((message_traffic(m) for m in messages.values()), Traffic(0, 0, 0))
        self._pending = _PendingRound(t, x.copy(), sample, messages, client_of_node, unserved, time.perf_counter(), downlink)
        log(INFO, "FIRM round %d: %d participants, %d sent, %d unserved", t, len(sample.participants), len(messages),
            len(unserved))
        return list(messages.values())

    def aggregate_train(self, server_round: int, replies: Iterable[Message]) -> tuple[ArrayRecord | None, MetricRecord | None]:
        pending = self._require_pending(server_round)
        replies = list(replies)
        # message ids are set when the grid pushes the messages, after configure_train returned them
        sent = {node: SentTrain(msg.metadata.message_id or "", pending.client_of_node[node])
                for node, msg in pending.messages.items()}
        pending.accepted, pending.rejected = check_train_replies(replies, self.expect, sent=sent)
        self.wire_uplink_bytes += sum(message_traffic(m).wire_bytes for m in replies)
        self.wire_downlink_bytes += pending.downlink.wire_bytes
        pending.aggregated = True
        for r in pending.rejected:
            log(WARNING, "FIRM round %d: dropped node %d (client %s): %s", pending.t, r.node_id, r.client_id,
                r.reason.splitlines()[0])
        weights = pending.sample.weight_of([r.client_id for r in pending.accepted])
        ys = [r.y for r in pending.accepted]  # each in its wire dtype; summed one at a time (no (n, d) array)
        pending.x_new, pending.skip_reason = guarded_average(pending.x, ys, weights, self.settings.algorithm.server_lr)
        pending.wall_time = time.perf_counter() - pending.started
        with np.errstate(over="ignore", invalid="ignore"):  # drift of huge (finite) replies is inf, not an error
            metrics = self._round_metrics(pending)
        if pending.x_new is None:
            log(WARNING, "FIRM round %d skipped: %s", pending.t, pending.skip_reason)
            return None, metrics
        return self.to_arrays(pending.x_new), metrics

    def configure_evaluate(self, server_round, arrays, config, grid) -> Iterable[Message]:
        return []  # FIRM's metrics are computed on the server from full gradients (evaluate_global)

    def aggregate_evaluate(self, server_round, replies) -> MetricRecord | None:
        return None

    # --- records ---------------------------------------------------------------------------------------
    def _require_pending(self, server_round: int) -> _PendingRound:
        t = self.start_round + int(server_round) - 1
        if self._pending is None or self._pending.t != t:
            raise RuntimeError(f"FirmStrategy: aggregate for round {t} without a matching configure_train")
        return self._pending

    def _round_metrics(self, pending: _PendingRound) -> MetricRecord:
        """Flower's train metrics of the round (the History holds the full record)."""
        lams = np.array([r.lambda_mean for r in pending.accepted]).reshape(-1, self.expect.num_objectives)
        out = {
            "num-accepted": len(pending.accepted),
            "num-dropped": len(pending.rejected) + len(pending.unserved),
            "d-lambda": lambda_disagreement(lams),
            "uplink-bytes": sum(r.traffic.payload_bytes for r in pending.accepted),
            "uplink-wire-bytes": sum(r.traffic.wire_bytes for r in pending.accepted),
        }
        if len(lams):
            out[LAMBDA_KEY] = [float(v) for v in lams.mean(axis=0)]
        if pending.x_new is not None:
            out["d-x"] = streamed_drift([r.y for r in pending.accepted], pending.x_new)
        return MetricRecord({k: v for k, v in out.items() if not (isinstance(v, float) and np.isnan(v))})

    def _solver_status(self, accepted: list[AcceptedReply]) -> str:
        """Worst solver status over the accepted replies (severities validated in [0, 2])."""
        if self.settings.mode != "firm" or not accepted:
            return ""
        worst = max(int(r.metrics.get(SOLVER_STATUS_KEY, 0)) for r in accepted)
        return _STATUS_BY_SEVERITY[worst].value

    def evaluate_global(self, server_round: int, arrays: ArrayRecord) -> MetricRecord:
        """``evaluate_fn`` for ``Strategy.start``: metrics of the iterate the run continues from; after
        a round, also finish its RoundRecord and write the checkpoint."""
        x = self.to_vector(arrays)
        point = self.evaluate_at(x)
        if server_round > 0:
            self._finish_round(server_round, x)
        self._x, self._point = x, point
        self.iterates.append(x.copy())
        out = {"phi": point["phi"], "objectives": [float(v) for v in point["objectives"]]}
        if point["dist_pareto"] is not None:
            out["dist-pareto"] = point["dist_pareto"]
        if server_round > 0 and self.settings.checkpoint_dir:
            self.save_checkpoint(self.settings.checkpoint_dir)
        return MetricRecord(out)

    def _round_output(self, pending: _PendingRound, x_next: np.ndarray) -> RoundOutput:
        """What round t did, in the in-memory engine's terms (dropped clients sorted by id)."""
        m, d = self.expect.num_objectives, self.expect.dim
        dropped = [{"client": c, "reason": NO_NODE_REASON} for c in pending.unserved]
        if not pending.aggregated:  # a wrapper refused the replies before our aggregate_train ran
            pending.skip_reason = WRAPPER_SKIPPED_REASON
            pending.wall_time = time.perf_counter() - pending.started
            dropped += [{"client": c, "reason": WRAPPER_SKIPPED_REASON} for c in pending.client_of_node.values()]
        for r in pending.rejected:
            dropped.append({"client": -1 if r.client_id is None else int(r.client_id), "reason": r.reason.splitlines()[0]})
        dropped.sort(key=lambda item: item["client"])
        accepted = pending.accepted if pending.aggregated else []
        skipped = bool(pending.skip_reason)
        lams = np.array([r.lambda_mean for r in accepted]).reshape(-1, m)
        return RoundOutput(
            x_new=x_next, participants=pending.sample.participants, finished=np.array([r.client_id for r in accepted]),
            client_points=np.empty((0, d)),  # the uploads stay with the replies; D_x is streamed from them
            client_lambdas=lams,
            lambda_mean=np.full(m, np.nan) if skipped or not len(lams) else lams.mean(axis=0),
            dropped=tuple(dropped), skipped=skipped,
            uplink_floats=sum(r.traffic.payload_floats for r in accepted), downlink_floats=pending.downlink.payload_floats,
            solver_status=self._solver_status(accepted),
        )

    def _finish_round(self, server_round: int, x_next: np.ndarray) -> None:
        pending = self._require_pending(server_round)
        out = self._round_output(pending, x_next)
        with np.errstate(over="ignore", invalid="ignore"):  # drift of huge (finite) replies is inf, not an error
            d_x = streamed_drift([r.y for r in pending.accepted] if pending.aggregated else [], x_next)
            record = round_record(pending.t, self._point, out, d_x=d_x, wall_time=pending.wall_time,
                                  uplink_bytes=sum(r.traffic.payload_bytes for r in pending.accepted if pending.aggregated),
                                  downlink_bytes=pending.downlink.payload_bytes)
        self.history.append(record)
        warn_dropped(record.round, self.settings.algorithm.display_name, record.dropped)
        if record.skipped:
            warn_skipped(record.round, self.settings.algorithm.display_name, pending.skip_reason)
        else:
            self._server_lambda = np.asarray(record.lambda_mean, dtype=np.float64)
        self._pending = None

    def finish(self) -> History:
        """Set the history's final point (metrics and x of the iterate the run ended at) and return it."""
        if self._x is None:
            raise RuntimeError("FirmStrategy.finish: the run never evaluated an iterate (was evaluate_global passed?)")
        x = self._x.copy()
        point = self.evaluate_at(x)
        self.history.final_point = {
            "round": self.current_round,
            "phi": point["phi"],
            "objectives": [float(v) for v in point["objectives"]],
            "dist_pareto": point["dist_pareto"],
            "x": [float(v) for v in x],
        }
        return self.history

    @property
    def current_round(self) -> int:
        """t of the iterate the run is at: rounds recorded so far (after a resume, counted from 0)."""
        return self.history.records[-1].round + 1 if self.history.records else self.start_round

    # --- checkpoints -------------------------------------------------------------------------------------
    def save_checkpoint(self, directory) -> None:
        """Write the engine's checkpoint (one manifest-committed unit) for the current x_t."""
        if self._x is None:
            raise RuntimeError("FirmStrategy.save_checkpoint: no iterate yet")
        state = FederatedState(self.current_round, self._x.copy(), self.settings.algorithm.seed, self._server_lambda.copy())
        save_checkpoint(directory, state, self.history, self.settings.algorithm, self.run_config())


def make_strategy(settings: FlowerSettings, problem=None) -> FirmStrategy:
    """The numpy backend's strategy (the ``strategy`` job of the registry)."""
    return FirmStrategy(settings, problem)
