"""FMGDA (Yang et al. 2023), full-batch gradients.

Client i: from x_t, K local gradient steps on each objective separately,
y_{i,m} <- y_{i,m} - eta grad f_{i,m}(y_{i,m}); uploads the M updates Delta_{i,m} = x_t - y_{i,m}
(M d floats).

Server: D_m = sum_i abar_i Delta_{i,m}; lambda = argmin_{simplex} ||D^T l||^2 (MGDA on the averaged
updates); x_{t+1} = x_t - eta_g D^T lambda. Records the server's lambda.
"""

from __future__ import annotations

from .base import FederatedAlgorithm
from .common import per_objective_round


class FMGDA(FederatedAlgorithm):
    """FMGDA: per-objective local steps with full-batch gradients, MGDA on the server."""

    config_names = ("fmgda",)

    def _round(self, task, x, parts, agg, rngs):
        return per_objective_round(task, self.config, x, parts, agg, rngs, stochastic=False)
