"""FedCMOO (Askin et al. 2025): the server chooses lambda from compressed client Jacobians.

Phase 1 at x_t, client i: its stochastic Jacobian J_i (M, d) (``task.sketch_jacobians``) and a rank-r
randomized SVD sketch of it (:func:`~firm_core.federated.sketch.randomized_svd_sketch`). The server turns
the uploads into lambda in one of two ways (``config.fedcmoo_variant``):

"official" (default; the authors' code, github.com/askinb/FedCMOO, ``server.py``: ``estimateG_T_G``
    and ``fedcmoo_update_scales``). With c_i = n abar_i and B_i = c_i J_i (c_i = 1 for the authors'
    equal weights), C_i = c_i L_i R_i the client's sketch and D_i = B_i - C_i:
    the client uploads its Gram B_i B_i^T and its sketch; the server compresses S ~ sum_i C_i to rank r
    (generator ``default_rng([seed, t, 0, FEDCMOO_SERVER_STREAM])``) and sends S and c_i back; the client
    uploads D_i (S - C_i)^T and D_i D_i^T; the server forms the bias-corrected estimate Q of G G^T
    (:func:`~firm_core.federated.server.official_gram_estimate`) and runs ``scale_iterations`` projected
    gradient steps of size ``scale_lr`` on Q normalized by its mean diagonal, warm-started from the
    previous round's lambda (``state.server_lambda``; uniform in round 0)
    (:func:`~firm_core.federated.server.projected_scale_descent`).
    Uplink r (M + d) + 3 M^2, downlink r (M + d) + 1 + M per client, besides the models.
"exact_lambda": G = sum_i abar_i L_i R_i, lambda = lambda*(G G^T; beta, p) solved exactly (no warm start).
    Uplink r (M + d), downlink M per client, besides the models.

Phase 2, client i: K local steps y <- y - eta J^T lambda with the broadcast lambda; uploads y_i (d).
Server: x_{t+1} = x_t + eta_g sum_i abar_i (y_i - x_t) over the clients that finished both phases.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..client import resolve_method
from ..server import fedcmoo_weights, official_gram_estimate, projected_scale_descent, sketched_jacobian
from ..sketch import (
    official_client_terms,
    official_download_floats,
    official_upload_floats,
    randomized_svd_sketch,
    sketch_floats,
    sketch_reconstruction,
)
from .base import FederatedAlgorithm, RoundOutput
from .common import dropped_list, local_update_round

#: The server's generator for compressing the sum of the sketches in round t is
#: default_rng([seed, t, 0, FEDCMOO_SERVER_STREAM]) (sampling uses stream 1, clients stream 0).
FEDCMOO_SERVER_STREAM = 2


def server_rng(seed: int, round_index: int) -> np.random.Generator:
    """FedCMOO's server generator of round t."""
    return np.random.default_rng([int(seed), int(round_index), 0, FEDCMOO_SERVER_STREAM])


class FedCMOO(FederatedAlgorithm):
    """FedCMOO with sketch rank ``config.sketch_rank``; server ``config.fedcmoo_variant``."""

    config_names = ("fedcmoo",)

    def server_lambda(self, jac, weights, rngs):
        """Exact-lambda variant: (lambda (M,), solver status) from the rank-r sketches of the clients'
        Jacobians (n, M, d) with their weights -> G -> lambda*(G G^T; beta, p)."""
        c = self.config
        m = jac.shape[1]
        left, right = randomized_svd_sketch(jac, c.sketch_rank, rngs)
        g_hat = sketched_jacobian(left, right, weights)
        return fedcmoo_weights(g_hat, beta=c.effective_beta, preference=c.preference_array(m),
                               method=resolve_method(c.method, m))

    def official_server_lambda(self, jac, weights, rngs, generator, previous=None):
        """Official variant: (lambda (M,), status) from the clients' Jacobians (n, M, d), their weights,
        their generators, the server's generator and the previous lambda (None or NaN: uniform start)."""
        c = self.config
        jac = np.asarray(jac, dtype=np.float64)
        n, m, _ = jac.shape
        w = np.asarray(weights, dtype=np.float64)
        factors = (n * w / w.sum())[:, None, None]
        left, right = randomized_svd_sketch(jac, c.sketch_rank, rngs)
        sketches = factors * sketch_reconstruction(left, right)
        s_left, s_right = randomized_svd_sketch(sketches.sum(axis=0)[None], c.sketch_rank, [generator])
        total = sketch_reconstruction(s_left[0], s_right[0])
        grams, crosses, residuals = official_client_terms(factors * jac, sketches, total)
        q = official_gram_estimate(grams, crosses, residuals, sketches, total)
        if not np.all(np.isfinite(q)):  # finite uploads whose products overflow: the run has diverged
            raise FloatingPointError("FedCMOO's Gram estimate overflowed (non-finite entries)")
        prev = None if previous is None else np.asarray(previous, dtype=np.float64)
        start = prev if prev is not None and prev.shape == (m,) and np.all(np.isfinite(prev)) else np.full(m, 1.0 / m)
        return projected_scale_descent(q, start, iterations=c.scale_iterations, lr=c.scale_lr,
                                       momentum=c.scale_momentum, beta=c.effective_beta,
                                       preference=c.preference_array(m))

    def _round_from_state(self, task, state, parts, agg, rngs):
        x = np.asarray(state.x, dtype=np.float64)
        return self._fedcmoo_round(task, x, parts, agg, rngs, server_rng(state.seed, state.round), state.server_lambda)

    def _round(self, task, x, parts, agg, rngs):
        """A round without a state: the official variant starts from the uniform lambda (round 0's stream)."""
        return self._fedcmoo_round(task, x, parts, agg, rngs, server_rng(self.config.seed, 0), None)

    def _fedcmoo_round(self, task, x, parts, agg, rngs, generator, previous):
        c = self.config
        m, d = int(task.num_objectives), int(task.dim)
        official = c.fedcmoo_variant == "official"
        jac, ok, reasons = task.sketch_jacobians(parts, x, rngs)
        ok = np.asarray(ok, dtype=bool)
        sketch_ids = parts[ok]
        per_up = official_upload_floats(c.sketch_rank, m, d) if official else sketch_floats(c.sketch_rank, m, d)
        per_down = official_download_floats(c.sketch_rank, m, d) if official else m
        uplink = per_up * sketch_ids.size
        ok_rngs = [r for r, good in zip(rngs, ok) if good]
        if sketch_ids.size == 0 or not agg[ok].sum() > 0:
            return RoundOutput(
                x_new=x.copy(), participants=parts, finished=np.empty(0, dtype=np.int64), client_points=np.empty((0, d)),
                client_lambdas=np.empty((0, m)), lambda_mean=np.full(m, np.nan), dropped=dropped_list(parts, ok, reasons),
                skipped=True, uplink_floats=uplink, downlink_floats=d * parts.size, solver_status="",
            )
        if official:
            lam, status = self.official_server_lambda(np.asarray(jac)[ok], agg[ok], ok_rngs, generator, previous)
        else:
            lam, status = self.server_lambda(np.asarray(jac)[ok], agg[ok], ok_rngs)
        out, valid, local_reasons = local_update_round(task, c, x, sketch_ids, agg[ok], ok_rngs,
                                                       mode="fixed_lambda", fixed_lambda=lam)
        all_reasons, all_valid = list(reasons), ok.copy()
        for j, pos in enumerate(np.flatnonzero(ok)):
            if not valid[j]:
                all_valid[pos], all_reasons[pos] = False, local_reasons[j]
        return dataclasses.replace(
            out, participants=parts, client_lambdas=np.broadcast_to(lam, (out.finished.size, m)),
            lambda_mean=np.full(m, np.nan) if out.skipped else np.asarray(lam),
            dropped=dropped_list(parts, all_valid, all_reasons), uplink_floats=uplink + d * out.finished.size,
            downlink_floats=d * parts.size + per_down * sketch_ids.size, solver_status=status.value,
        )
