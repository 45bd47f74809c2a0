"""FMGDA (Yang et al. 2023), full-batch gradients.

Client i: from x_t, K local gradient steps on each objective separately,
y_{i,m} <- y_{i,m} - eta grad f_{i,m}(y_{i,m}); uploads the M updates Delta_{i,m} = x_t - y_{i,m}
(M d floats).

Server: D_m = sum_i abar_i Delta_{i,m}; lambda = argmin_{simplex} ||D^T l||^2 (MGDA on the averaged
updates); x_{t+1} = x_t - eta_g D^T lambda. Records the server's lambda.

The paper's algorithm box has no official code behind it; this follows the box: its client returns
x_{t,K} - x_t (the same vector with the opposite sign), its server averages with 1/|S_t| (the same as
abar for equal client weights) and steps x_t + eta_t sum_m lambda_m Delta_m (eta_t = eta_g). Deviation:
every client here holds all M objectives (the paper allows each client a subset).
"""

from __future__ import annotations

from .base import FederatedAlgorithm
from .common import per_objective_round


class FMGDA(FederatedAlgorithm):
    """FMGDA: per-objective local steps with full-batch gradients, MGDA on the server."""

    config_names = ("fmgda",)

    def _round(self, task, x, parts, agg, rngs):
        return per_objective_round(task, self.config, x, parts, agg, rngs, stochastic=False)
