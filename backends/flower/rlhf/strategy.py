"""Strategy job of the "rlhf" backend: FirmStrategy over a LoRA adapter.

Replies must hold exactly the adapter's tensors (names, shapes, dtypes, finite; ``validation``) and
the RLHF metrics (``protocol.rlhf_metric_specs``); x_{t+1} = aggregate over the flattened adapters.
The server has no full gradients of an LLM, so phi / F / distance are NaN (``nan_point``); the
round's mean ``rewards`` and ``kl`` over the accepted replies are in its train MetricRecord.

KL coefficient: the server keeps the task's controller (``LLMTaskConfig.kl_controller``: adaptive or
fixed), sends its value as ``kl-coef`` in each train config, and folds in the round's mean training KL
after the round, as the engine's ``firm rlhf`` run does: the mean over every local step of the accepted
replies (``kl-steps``, clients in id order). Its state after each round is
kept in ``kl_controller.json`` next to the checkpoint folder, the engine's file, so a resumed run
continues with the coefficient it had.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from firm_core.federated.metrics import nan_point
from flwr.app import MetricRecord

from backends.rlhf.experiment import KL_STATES_FILE
from backends.rlhf.kl_control import controller_from_dict

from ..protocol import KL_KEY, KL_STEPS_KEY, REWARDS_KEY, rlhf_metric_specs
from ..strategy import FirmStrategy
from ..validation import ReplyExpectation
from .settings import KL_COEF_KEY


class AdapterStrategy(FirmStrategy):
    """FirmStrategy whose iterate is the flattened LoRA adapter of an ``RLHFTask``."""

    def __init__(self, settings, problem=None):
        super().__init__(settings, problem)
        self.kl_controller = self.problem.config.kl_controller()
        #: rounds done -> the controller's state then (what a resume at that round starts from)
        self.kl_states: dict[str, dict] = {"0": self.kl_controller.to_dict()}
        self._kl_used = float(self.kl_controller.value)

    def backend_train_config(self, t: int) -> dict:
        self._kl_used = float(self.kl_controller.value)
        return {KL_COEF_KEY: self._kl_used}

    def aggregate_train(self, server_round, replies):
        arrays, metrics = super().aggregate_train(server_round, replies)
        pending = self._require_pending(server_round)
        if pending.accepted:  # the engine's update: the mean KL over the round's steps, when a client finished
            mean_kl = float(np.mean([k for r in pending.accepted for k in r.metrics[KL_STEPS_KEY]]))
            if math.isfinite(mean_kl):
                self.kl_controller.update(mean_kl)
        self.kl_states[str(pending.t + 1)] = self.kl_controller.to_dict()
        return arrays, metrics

    def save_checkpoint(self, directory) -> None:
        super().save_checkpoint(directory)
        states = {k: v for k, v in self.kl_states.items() if int(k) <= self.current_round}
        (Path(directory).parent / KL_STATES_FILE).write_text(json.dumps(states))

    def resume(self, checkpoint_dir):
        arrays = super().resume(checkpoint_dir)
        kl_file = Path(checkpoint_dir).parent / KL_STATES_FILE
        states = json.loads(kl_file.read_text()) if kl_file.is_file() else {}
        key = str(self.start_round)
        if self.start_round and key not in states:
            raise ValueError(f"AdapterStrategy.resume: {kl_file} has no KL controller state for round {key}")
        if self.start_round:
            self.kl_controller = controller_from_dict(states[key])
        self.kl_states = {k: v for k, v in states.items() if int(k) <= self.start_round} or \
            {"0": self.kl_controller.to_dict()}
        return arrays

    def reply_expectation(self) -> ReplyExpectation:
        p, k = self.problem, int(self.settings.algorithm.local_steps)
        return ReplyExpectation(p.dim, p.num_objectives, p.num_clients, tensors=p.tensor_specs, local_steps=k,
                                client_weights=tuple(self.client_weights), solver_severity=False,
                                extra_metrics=rlhf_metric_specs(p.num_objectives, k))

    def evaluate_at(self, x: np.ndarray) -> dict:
        """No server-side metrics: phi and F of an LLM policy need full gradients / rollouts (NaN)."""
        return nan_point(self.expect.num_objectives)

    def _solver_status(self, accepted) -> str:
        return ""  # the RLHF trainer reports no min-norm solver status

    def _round_metrics(self, pending) -> MetricRecord:
        out = super()._round_metrics(pending)
        if pending.accepted:
            out[REWARDS_KEY] = [float(v) for v in np.mean([r.metrics[REWARDS_KEY] for r in pending.accepted], axis=0)]
            out[KL_KEY] = float(np.mean([r.metrics[KL_KEY] for r in pending.accepted]))
        out[KL_COEF_KEY] = self._kl_used  # the coefficient the round's clients used
        return out


def make_strategy(settings, problem=None) -> AdapterStrategy:
    """The "rlhf" backend's strategy (the registry's ``strategy`` job)."""
    return AdapterStrategy(settings, problem)
