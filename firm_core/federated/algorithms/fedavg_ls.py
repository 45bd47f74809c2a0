"""FedAvg-LS: FedAvg on the linear scalarization p^T F.

Client i (K local steps from x_t): y <- y - eta J^T p (lambda = p at every step; no solve).
Uploads y_i (d floats).

Server: x_{t+1} = x_t + eta_g sum_i abar_i (y_i - x_t). Records lambda_bar = p.
"""

from __future__ import annotations

from .base import FederatedAlgorithm
from .common import local_update_round


class FedAvgLS(FederatedAlgorithm):
    """FedAvg on p^T F."""

    config_names = ("fedavg_ls",)

    def _round(self, task, x, parts, agg, rngs):
        out, _, _ = local_update_round(task, self.config, x, parts, agg, rngs, mode="scalarized")
        return out
