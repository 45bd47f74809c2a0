"""Local-MGDA: every client runs MGDA locally (FIRM's beta = 0 case, as its own baseline).

Client i (K local steps from x_t): lambda = argmin_{simplex} ||J^T l||^2 on its own stochastic
Jacobian J, y <- y - eta J^T lambda. Uploads y_i (d floats).

Server: x_{t+1} = x_t + eta_g sum_i abar_i (y_i - x_t). Under heterogeneity its fixed point is biased
(the clients' weights disagree), which is what FIRM's beta > 0 removes.
"""

from __future__ import annotations

from .base import FederatedAlgorithm
from .common import local_update_round


class LocalMGDA(FederatedAlgorithm):
    """Local MGDA (beta = 0)."""

    config_names = ("local_mgda",)

    def _round(self, task, x, parts, agg, rngs):
        out, _, _ = local_update_round(task, self.config, x, parts, agg, rngs, mode="firm", beta=0.0)
        return out
