"""Smoothness, spread and preference-following measures on series with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from firm.report import measures as ms


def test_excess_variation_is_zero_only_for_monotone_series():
    assert ms.excess_variation([5.0, 4.0, 4.0, 1.0]) == 0.0
    assert ms.excess_variation([1.0, 2.0, 3.0]) == 0.0
    # 3 -> 1 -> 2 -> 0: TV 2 + 1 + 2 = 5, net 3, excess 2 = twice the move against the trend
    assert ms.excess_variation([3.0, 1.0, 2.0, 0.0]) == pytest.approx(2.0)
    assert ms.excess_variation([1.0, np.nan, 0.5]) == 0.0


def test_trajectory_oscillation_sums_objectives():
    f = np.array([[3.0, 0.0], [1.0, 1.0], [2.0, 0.0]])  # F_1: excess 2, F_2: excess 2
    assert ms.trajectory_oscillation(f) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="objectives"):
        ms.trajectory_oscillation([1.0, 2.0])


def test_log_phi_oscillation_uses_log10():
    assert ms.log_phi_oscillation([1.0, 0.01, 0.1, 0.001]) == pytest.approx(2.0)


def test_path_length_skips_nan_steps():
    lam = np.array([[1.0, 0.0], [0.5, 0.5], [np.nan, np.nan], [0.5, 0.5], [0.0, 1.0]])
    assert ms.path_length(lam) == pytest.approx(2.0)
    assert math.isnan(ms.path_length(np.full((3, 2), np.nan)))


def test_spread_and_first_reach():
    s = ms.spread([1.0, 2.0, 3.0, 4.0, np.nan])
    assert (s["median"], s["q25"], s["q75"], s["n"]) == (2.5, 1.75, 3.25, 4)
    assert ms.spread([np.nan])["n"] == 0
    assert ms.first_reach([5.0, 3.0, 1.0, 0.5], 1.0) == 2
    assert ms.first_reach([5.0, 3.0], 1.0) is None


def test_tuning_score_prefers_small_phi_and_rejects_divergence():
    assert ms.tuning_score([1.0, 1.0, 1.0, 1e-4]) == pytest.approx(-4.0)
    assert ms.tuning_score([1.0, np.nan, 1.0, np.inf]) == math.inf


def test_monotone_fraction():
    p1 = [0.0, 0.5, 1.0]
    assert ms.monotone_fraction(p1, [3.0, 2.0, 1.0], decreasing=True, atol=0.0) == 1.0
    assert ms.monotone_fraction(p1, [3.0, 4.0, 1.0], decreasing=True, atol=0.0) == 0.5
    assert ms.monotone_fraction(p1, [3.0, 3.05, 1.0], decreasing=True, atol=0.1) == 1.0
    assert ms.monotone_fraction([1.0, 0.0, 0.5], [1.0, 3.0, 2.0], decreasing=True, atol=0.0) == 1.0  # sorted by p
