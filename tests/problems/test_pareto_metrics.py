"""Hypervolume, IGD and non-dominance: hand-computed cases, brute force, and input validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from firm_core.pareto import hypervolume, igd, non_dominated, reference_point

#: Monte-Carlo hypervolume: tolerance in standard errors of a Bernoulli mean.
MC_Z = 5.0
MC_SAMPLES = 400_000


def test_hypervolume_2d_hand_computed():
    # staircase of (1,3), (2,2), (3,1) with reference (4,4): 3*1 + 2*1 + 1*1 = 6
    pts = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0]])
    assert hypervolume(pts, [4.0, 4.0]) == pytest.approx(6.0, abs=1e-12)
    # a dominated point and a duplicate change nothing; order does not matter
    more = np.vstack([pts, [[3.0, 3.0]], pts[:1]])[::-1]
    assert hypervolume(more, [4.0, 4.0]) == pytest.approx(6.0, abs=1e-12)
    # single point: a rectangle
    assert hypervolume([[1.0, 2.0]], [3.0, 5.0]) == pytest.approx(6.0)
    # points not strictly below the reference contribute nothing
    assert hypervolume([[4.0, 0.0], [0.0, 4.0]], [4.0, 4.0]) == 0.0
    assert hypervolume(np.empty((0, 2)), [1.0, 1.0]) == 0.0


def test_hypervolume_3d_hand_computed():
    # one point: a box
    assert hypervolume([[0.0, 0.0, 0.0]], [1.0, 2.0, 3.0]) == pytest.approx(6.0)
    # two boxes [0,2]x[0,1]x[0,1] and [0,1]x[0,2]x[0,1] (ref 2,2,1 ; points (0,1,0),(1,0,0)) overlap in 1: 2+2-1 = 3
    assert hypervolume([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], [2.0, 2.0, 1.0]) == pytest.approx(3.0)
    # the three unit points e_k with reference 2*1: 3 boxes of volume 2 (1x2x... ) -> inclusion-exclusion
    pts = np.eye(3)
    # box_k = prod_j (2 - e_kj) = 1*2*2 = 4; pairwise intersections 1*1*2 = 2; triple 1 -> 3*4 - 3*2 + 1 = 7
    assert hypervolume(pts, [2.0, 2.0, 2.0]) == pytest.approx(7.0)


def _mc_hypervolume(pts, ref, lower, rng):
    u = rng.uniform(lower, ref, size=(MC_SAMPLES, len(ref)))
    dominated = np.zeros(MC_SAMPLES, dtype=bool)
    for p in pts:
        dominated |= np.all(u >= p, axis=1)
    frac = dominated.mean()
    vol = np.prod(np.asarray(ref) - lower)
    return frac * vol, np.sqrt(frac * (1 - frac) / MC_SAMPLES) * vol


@pytest.mark.parametrize("m", [2, 3])
def test_hypervolume_matches_monte_carlo(m):
    rng = np.random.default_rng(m)
    pts = rng.uniform(0.0, 1.0, size=(25, m))
    ref = np.full(m, 1.1)
    est, se = _mc_hypervolume(pts, ref, np.zeros(m), rng)
    assert se > 0  # the sampling box is not entirely dominated: the comparison has power
    assert abs(hypervolume(pts, ref) - est) < MC_Z * se


def test_hypervolume_3d_matches_exact_grid_count():
    # integer points on a grid: the dominated region is a union of unit cells, countable exactly
    rng = np.random.default_rng(7)
    pts = rng.integers(0, 6, size=(12, 3)).astype(float)
    ref = np.array([6.0, 6.0, 6.0])
    centers = np.stack(np.meshgrid(*[np.arange(6) + 0.5] * 3, indexing="ij"), -1).reshape(-1, 3)
    count = sum(np.any(np.all(c >= pts, axis=1)) for c in centers)
    assert hypervolume(pts, ref) == pytest.approx(float(count), abs=1e-9)


def test_hypervolume_4d_matches_inclusion_exclusion():
    rng = np.random.default_rng(8)
    pts = rng.uniform(size=(4, 4))
    ref = np.ones(4)
    total = 0.0
    from itertools import combinations

    for k in range(1, 5):
        for sub in combinations(range(4), k):
            corner = pts[list(sub)].max(axis=0)
            total += (-1) ** (k + 1) * np.prod(np.maximum(ref - corner, 0))
    assert hypervolume(pts, ref) == pytest.approx(total, rel=1e-12)


@given(arrays(np.float64, st.tuples(st.integers(1, 12), st.just(2)), elements=st.floats(0, 1)))
def test_hypervolume_2d_is_monotone_and_uses_only_the_non_dominated(pts):
    ref = np.array([1.5, 1.5])
    hv = hypervolume(pts, ref)
    assert hv == pytest.approx(hypervolume(pts[non_dominated(pts)], ref), abs=1e-12)
    assert hypervolume(np.vstack([pts, [[0.0, 0.0]]]), ref) == pytest.approx(2.25)
    assert hypervolume(np.vstack([pts, pts[:1] - 0.1]), ref) >= hv - 1e-12


def test_non_dominated_mask():
    pts = np.array([[1.0, 3.0], [2.0, 2.0], [2.0, 3.0], [3.0, 1.0], [2.0, 2.0], [0.5, 5.0]])
    np.testing.assert_array_equal(non_dominated(pts), [True, True, False, True, True, True])


def _brute_non_dominated(pts):
    return np.array([not any(np.all(q <= p) and np.any(q < p) for q in pts) for p in pts])


def test_non_dominated_agrees_with_brute_force_over_blocks():
    rng = np.random.default_rng(1)
    pts = rng.normal(size=(700, 3))  # > one comparison block
    np.testing.assert_array_equal(non_dominated(pts), _brute_non_dominated(pts))


@given(arrays(np.float64, st.tuples(st.integers(1, 15), st.just(2)), elements=st.sampled_from([0.0, 1.0, 2.0, 3.0])))
def test_non_dominated_2d_fast_path_agrees_with_brute_force_with_ties(pts):
    np.testing.assert_array_equal(non_dominated(pts), _brute_non_dominated(pts))


def test_igd():
    front = np.array([[0.0, 1.0], [1.0, 0.0]])
    assert igd(front, front) == 0.0
    assert igd(front[::-1], front) == 0.0
    assert igd([[0.0, 0.0]], front) == pytest.approx(1.0)
    assert igd([[0.0, 1.0]], front) == pytest.approx(np.sqrt(2) / 2)


def test_reference_point_lies_beyond_the_front():
    front = np.array([[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(reference_point(front, 0.1), [1.1, 1.1])
    np.testing.assert_allclose(reference_point([[2.0, 3.0]], 0.5), [2.5, 3.5])  # zero range: + margin
    assert hypervolume(front, reference_point(front)) > 0


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: hypervolume([[1.0, 2.0]], [1.0, 2.0, 3.0]), "points"),
        (lambda: hypervolume([[1.0, 2.0]], [[1.0, 2.0]]), "reference"),
        (lambda: hypervolume([[np.nan, 2.0]], [3.0, 3.0]), "points"),
        (lambda: hypervolume([[1.0, 2.0]], [np.inf, 3.0]), "reference"),
        (lambda: igd(np.empty((0, 2)), [[1.0, 2.0]]), "points"),
        (lambda: igd([[1.0, 2.0]], [[1.0, 2.0, 3.0]]), "points"),
        (lambda: non_dominated([1.0, 2.0]), "points"),
        (lambda: reference_point([[1.0, 2.0]], -0.1), "margin"),
        (lambda: reference_point(np.empty((0, 2))), "front"),
    ],
)
def test_bad_inputs_raise_named_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_non_numeric_input_raises_type_error():
    with pytest.raises(TypeError, match="points"):
        hypervolume([["a", "b"]], [1.0, 1.0])
