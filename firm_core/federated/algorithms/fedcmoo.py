"""FedCMOO (Askin et al. 2025): the server solves for lambda on sketched client Jacobians.

Client i, phase 1: its stochastic Jacobian J_i at x_t, compressed to a rank-r randomized SVD
L_i R_i (:func:`~firm_core.federated.sketch.randomized_svd_sketch`); uploads r (M + d) floats.
Server: G = sum_i abar_i L_i R_i (the sketch-weighted estimate of the global Jacobian),
lambda = lambda*(G G^T; beta, p) (solved exactly, instead of the paper's warm-started projected
gradient), broadcast (M floats per client).
Client i, phase 2: K local steps y <- y - eta J^T lambda with the broadcast lambda; uploads y_i (d).
Server: x_{t+1} = x_t + eta_g sum_i abar_i (y_i - x_t) over the clients that finished both phases.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..client import resolve_method
from ..server import fedcmoo_weights, sketched_jacobian
from ..sketch import randomized_svd_sketch, sketch_floats
from .base import FederatedAlgorithm, RoundOutput
from .common import dropped_list, local_update_round


class FedCMOO(FederatedAlgorithm):
    """FedCMOO with sketch rank ``config.sketch_rank`` and server beta ``config.effective_beta`` (default 0)."""

    config_names = ("fedcmoo",)

    def server_lambda(self, jac, weights, rngs):
        """(lambda (M,), solver status): the rank-r sketches of the clients' Jacobians (n, M, d) with
        their weights -> G -> lambda*(G G^T; beta, p)."""
        c = self.config
        m = jac.shape[1]
        left, right = randomized_svd_sketch(jac, c.sketch_rank, rngs)
        g_hat = sketched_jacobian(left, right, weights)
        return fedcmoo_weights(g_hat, beta=c.effective_beta, preference=c.preference_array(m),
                               method=resolve_method(c.method, m))

    def _round(self, task, x, parts, agg, rngs):
        m, d = int(task.num_objectives), int(task.dim)
        jac, ok, reasons = task.sketch_jacobians(parts, x, rngs)
        ok = np.asarray(ok, dtype=bool)
        sketch_ids = parts[ok]
        uplink = sketch_floats(self.config.sketch_rank, m, d) * sketch_ids.size
        ok_rngs = [r for r, good in zip(rngs, ok) if good]
        if sketch_ids.size == 0 or not agg[ok].sum() > 0:
            return RoundOutput(
                x_new=x.copy(), participants=parts, finished=np.empty(0, dtype=np.int64), client_points=np.empty((0, d)),
                client_lambdas=np.empty((0, m)), lambda_mean=np.full(m, np.nan), dropped=dropped_list(parts, ok, reasons),
                skipped=True, uplink_floats=uplink, downlink_floats=d * parts.size, solver_status="",
            )
        lam, status = self.server_lambda(np.asarray(jac)[ok], agg[ok], ok_rngs)
        out, valid, local_reasons = local_update_round(task, self.config, x, sketch_ids, agg[ok], ok_rngs,
                                                       mode="fixed_lambda", fixed_lambda=lam)
        all_reasons, all_valid = list(reasons), ok.copy()
        for j, pos in enumerate(np.flatnonzero(ok)):
            if not valid[j]:
                all_valid[pos], all_reasons[pos] = False, local_reasons[j]
        return dataclasses.replace(
            out, participants=parts, client_lambdas=np.broadcast_to(lam, (out.finished.size, m)),
            lambda_mean=np.full(m, np.nan) if out.skipped else np.asarray(lam),
            dropped=dropped_list(parts, all_valid, all_reasons), uplink_floats=uplink + d * out.finished.size,
            downlink_floats=d * parts.size + m * sketch_ids.size, solver_status=status.value,
        )
