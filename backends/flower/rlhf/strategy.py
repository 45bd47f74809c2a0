"""Strategy job of the "rlhf" backend: FirmStrategy over a LoRA adapter.

Replies must hold exactly the adapter's tensors (names, shapes, dtypes, finite; ``validation``) and
the RLHF metrics (``protocol.rlhf_metric_specs``); x_{t+1} = aggregate over the flattened adapters.
The server has no full gradients of an LLM, so phi / F / distance are NaN (``nan_point``); the
round's mean ``rewards`` and ``kl`` over the accepted replies are in its train MetricRecord.
"""

from __future__ import annotations

import numpy as np
from firm_core.federated.metrics import nan_point
from flwr.app import MetricRecord

from ..protocol import KL_KEY, REWARDS_KEY, rlhf_metric_specs
from ..strategy import FirmStrategy
from ..validation import ReplyExpectation


class AdapterStrategy(FirmStrategy):
    """FirmStrategy whose iterate is the flattened LoRA adapter of an ``RLHFTask``."""

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
        return out


def make_strategy(settings, problem=None) -> AdapterStrategy:
    """The "rlhf" backend's strategy (the registry's ``strategy`` job)."""
    return AdapterStrategy(settings, problem)
