"""Dirichlet label split: exact cover, minimum sizes, skew controlled by alpha, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from firm_core.problems.splits import dirichlet_label_split


@given(
    n=st.integers(20, 300),
    k=st.integers(1, 6),
    clients=st.integers(1, 8),
    alpha=st.sampled_from([0.05, 0.5, 5.0]),
    seed=st.integers(0, 2**16),
)
def test_split_covers_every_sample_exactly_once(n, k, clients, alpha, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, size=n)
    parts = dirichlet_label_split(labels, clients, alpha, np.random.default_rng(seed), min_samples=0)
    assert len(parts) == clients
    allidx = np.concatenate(parts)
    np.testing.assert_array_equal(np.sort(allidx), np.arange(n))  # each index once, none missing
    assert all(np.all(np.diff(p) > 0) for p in parts)


@given(n=st.integers(40, 200), clients=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_split_respects_min_samples(n, clients, seed):
    labels = np.random.default_rng(seed).integers(0, 3, size=n)
    parts = dirichlet_label_split(labels, clients, 0.5, np.random.default_rng(seed), min_samples=5)
    assert min(len(p) for p in parts) >= 5
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(n))


def _label_skew(parts, labels, k):
    """Mean total-variation distance between a client's label mix and the global one."""
    glob = np.bincount(labels, minlength=k) / labels.size
    return np.mean([0.5 * np.abs(np.bincount(labels[p], minlength=k) / len(p) - glob).sum() for p in parts])


def test_small_alpha_is_more_non_iid_than_large_alpha():
    labels = np.repeat(np.arange(5), 200)
    skew = {a: _label_skew(dirichlet_label_split(labels, 10, a, np.random.default_rng(0)), labels, 5) for a in (0.1, 100.0)}
    assert skew[0.1] > 0.4 and skew[100.0] < 0.1


def test_split_is_reproducible():
    labels = np.repeat(np.arange(3), 50)
    a = dirichlet_label_split(labels, 4, 0.5, np.random.default_rng(9))
    b = dirichlet_label_split(labels, 4, 0.5, np.random.default_rng(9))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(alpha=0.0), "alpha"),
        (dict(num_clients=0), "num_clients"),
        (dict(min_samples=50), "min_samples"),
        (dict(labels=np.zeros((3, 3))), "labels"),
    ],
)
def test_bad_arguments_raise_named_errors(kwargs, match):
    args = dict(labels=np.repeat(np.arange(3), 10), num_clients=3, alpha=1.0, rng=np.random.default_rng(0))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        dirichlet_label_split(**args)


def test_unreachable_minimum_raises_after_redraws():
    # one class, 3 samples, 3 clients, alpha tiny: all mass lands on one client in practically every draw
    with pytest.raises(ValueError, match="no split with >= 1 samples per client in 1000 draws"):
        dirichlet_label_split(np.zeros(3, dtype=int), 3, 1e-3, np.random.default_rng(0), min_samples=1)
