"""Differential privacy through Flower's fixed-clipping wrappers: clipping is live (each step is
bounded by the clipping norm) and the noisy run still converges on the quadratic problem."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.flower.helpers import make_settings, run_inprocess

from backends.flower.settings import DPSettings  # noqa: E402

pytestmark = pytest.mark.flower

#: A clipped, noise-free step may exceed the clipping norm only by float round-off.
CLIP_SLACK = 1e-12
#: The private run must cut phi(x_0) by at least this factor.
DP_PHI_REDUCTION = 0.05


def _step_norms(flower_run):
    """||x_{t+1} - x_t|| along the run (the strategy keeps every iterate it continued from)."""
    return np.linalg.norm(np.diff(np.stack(flower_run.strategy.iterates), axis=0), axis=1)


@pytest.mark.parametrize("mode", ["client-fixed", "server-fixed"])
def test_clipping_bounds_every_step(mode):
    clip = 0.05
    base = make_settings(4, rounds=3, lr=0.05, local_steps=3)
    plain, _ = run_inprocess(base)
    assert _step_norms(plain).min() > 10 * clip  # without DP the steps are far longer than the norm
    private, _ = run_inprocess(dataclasses.replace(base, dp=DPSettings(mode=mode, noise_multiplier=0.0, clipping_norm=clip)))
    steps = _step_norms(private)
    assert np.all(steps <= clip + CLIP_SLACK), steps
    assert np.all(steps > 0.5 * clip), steps  # every client's update was clipped to the norm, none vanished


@pytest.mark.parametrize("mode", ["client-fixed", "server-fixed"])
def test_private_run_still_converges(mode):
    np.random.seed(1234)  # Flower draws the DP noise from numpy's global generator
    settings = make_settings(4, rounds=30, lr=0.05, local_steps=3)
    dp = DPSettings(mode=mode, noise_multiplier=0.5, clipping_norm=1.0)
    private, _ = run_inprocess(dataclasses.replace(settings, dp=dp))
    h = private.history
    phi0, phi_final = h.records[0].phi, h.final()["phi"]
    assert phi_final < DP_PHI_REDUCTION * phi0, (phi0, phi_final)
    # the noise is really there: the private iterate differs from a noise-free clipped run
    clipped, _ = run_inprocess(dataclasses.replace(settings, dp=DPSettings(mode=mode, noise_multiplier=0.0, clipping_norm=1.0)))
    assert np.linalg.norm(h.final_x - clipped.history.final_x) > 1e-3
