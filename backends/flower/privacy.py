"""Differential privacy for FIRM on Flower, with Flower's own Message-API wrappers.

Flower 1.42 ships central-DP wrappers for the Message API (SecAgg+ exists only on the legacy API):

- "client-fixed": ``DifferentialPrivacyClientSideFixedClipping`` on the server puts ``clipping_norm``
  into the train config; each client's ``fixedclipping_mod`` (installed by ``client_app``, active
  only when the config asks for it) clips its update y_i - x_t to norm C before it leaves the client.
- "server-fixed": ``DifferentialPrivacyServerSideFixedClipping`` clips the updates on the server.

Both then add Gaussian noise N(0, sigma^2 I), sigma = noise_multiplier * C / S, to the aggregate
(S = sampled clients per round). Notes: Flower draws this noise from numpy's global generator (seed
it with ``np.random.seed`` for a reproducible run); the wrappers skip a round's aggregation entirely
when any reply is an error reply, which FirmStrategy records as a skipped round; the clipping is
relative to x_t, so with server_lr = 1 FIRM's average of clipped y_i is what gets noised.
"""

from __future__ import annotations

from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideFixedClipping,
    Strategy,
)

from .settings import DPSettings


def wrap_privacy(strategy: Strategy, dp: DPSettings, num_sampled_clients: int) -> Strategy:
    """``strategy`` wrapped by Flower's fixed-clipping DP wrapper for ``dp.mode`` (unchanged for "none")."""
    if not isinstance(dp, DPSettings):
        raise TypeError(f"wrap_privacy: `dp` must be a DPSettings, got {type(dp).__name__}")
    if dp.mode == "none":
        return strategy
    if dp.mode == "client-fixed":
        cls = DifferentialPrivacyClientSideFixedClipping
    else:
        cls = DifferentialPrivacyServerSideFixedClipping
    return cls(strategy, dp.noise_multiplier, dp.clipping_norm, int(num_sampled_clients))
