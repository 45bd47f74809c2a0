"""FIRM: federated multi-objective learning with regularized local weights.

Client i (K local steps from x_t, its own minibatches): J = stochastic Jacobian at y,
lambda = lambda*(J J^T; beta, p) = argmin_{simplex} 0.5 ||J^T l||^2 + 0.5 beta ||l - p||^2,
y <- y - eta J^T lambda (:mod:`firm_core.weighting`). Uploads y_i (d floats).

Server: x_{t+1} = x_t + eta_g sum_i abar_i (y_i - x_t), abar the round's aggregation weights
renormalized over the clients that finished. Records lambda_bar = the finished clients' mean lambda.
"""

from __future__ import annotations

from .base import FederatedAlgorithm
from .common import local_update_round


class FIRM(FederatedAlgorithm):
    """FIRM with beta = ``config.effective_beta`` (default 1.0) and preference p."""

    config_names = ("firm",)

    def _round(self, task, x, parts, agg, rngs):
        out, _, _ = local_update_round(task, self.config, x, parts, agg, rngs, mode="firm",
                                       beta=self.config.effective_beta)
        return out
