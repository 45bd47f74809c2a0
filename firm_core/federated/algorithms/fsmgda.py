"""FSMGDA (Yang et al. 2023): FMGDA with stochastic gradients.

Client i: from x_t, K local steps on each objective separately with the stochastic oracle's row m
(drawn from the client's own generator, objectives in order), y_{i,m} <- y_{i,m} - eta g_{i,m}(y_{i,m});
uploads Delta_{i,m} = x_t - y_{i,m} (M d floats).

Server: D_m = sum_i abar_i Delta_{i,m}; lambda = argmin_{simplex} ||D^T l||^2;
x_{t+1} = x_t - eta_g D^T lambda. Records the server's lambda.

The paper's algorithm box has no official code behind it; this follows the box: its client returns
x_{t,K} - x_t (the same vector with the opposite sign), its server averages with 1/|S_t| (the same as
abar for equal client weights) and steps x_t + eta_t sum_m lambda_m Delta_m (eta_t = eta_g). Deviation:
every client here holds all M objectives (the paper allows each client a subset).
"""

from __future__ import annotations

from .base import FederatedAlgorithm
from .common import per_objective_round


class FSMGDA(FederatedAlgorithm):
    """FSMGDA: per-objective stochastic local steps, MGDA on the server."""

    config_names = ("fsmgda",)

    def _round(self, task, x, parts, agg, rngs):
        return per_objective_round(task, self.config, x, parts, agg, rngs, stochastic=True)
