"""The reorganized code reproduces the seeded runs recorded before it was reorganized."""

from __future__ import annotations

import numpy as np
import pytest

from . import compute

#: float64 paths: recorded and current must agree to this (absolute, per entry). Not 0 because a
#: refactor may legitimately change the summation order of a batched product (for example J^T lambda
#: formed by the solver or by the caller), which moves the last bits.
FLOAT64_ATOL = 1e-12
#: float32 LoRA adapters: the same summation-order argument at float32 precision after two rounds.
FLOAT32_ATOL = 1e-6


def _assert_tree_close(got, want, atol, where=""):
    if isinstance(want, dict):
        assert set(got) == set(want), where
        for k in want:
            _assert_tree_close(got[k], want[k], atol, f"{where}/{k}")
        return
    g, w = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    assert g.shape == w.shape, f"{where}: shape {g.shape} != {w.shape}"
    np.testing.assert_allclose(g, w, rtol=0, atol=atol, equal_nan=True, err_msg=where)


def test_every_engine_algorithm_reproduces_its_golden_run():
    _assert_tree_close(compute.engine_runs(), compute.load("engine"), FLOAT64_ATOL)


def test_theory_trace_reproduces_its_golden_run():
    _assert_tree_close(compute.theory_trace(), compute.load("theory_trace"), FLOAT64_ATOL)


@pytest.mark.flower
def test_flower_inprocess_reproduces_its_golden_run():
    pytest.importorskip("flwr")
    _assert_tree_close(compute.flower_inprocess(), compute.load("flower_inprocess"), FLOAT64_ATOL)


@pytest.mark.torch
@pytest.mark.slow
def test_tiny_rlhf_reproduces_its_golden_run():
    pytest.importorskip("torch")
    _assert_tree_close(compute.tiny_rlhf(), compute.load("tiny_rlhf"), FLOAT32_ATOL)


def test_the_golden_comparison_rejects_a_perturbed_run():
    want = compute.load("theory_trace")
    got = {k: np.array(v) for k, v in want.items()}
    got["x"][3, 1] += 10 * FLOAT64_ATOL
    with pytest.raises(AssertionError):
        _assert_tree_close(got, want, FLOAT64_ATOL)
