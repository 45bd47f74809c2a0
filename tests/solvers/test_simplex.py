"""project_simplex: on the simplex, idempotent, non-expansive, optimal, exact on small cases, batched."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import firm_core as fc
from firm_core.testing import asserts

#: Round-off allowance of the projection (entries are O(|v|), computed with a few float64 sums).
PROJ_ATOL = 1e-12

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)
vectors = hnp.arrays(np.float64, st.integers(1, 8), elements=finite)


def batch_pair(m):
    return hnp.arrays(np.float64, (2, m), elements=finite)


def brute_force_projection(v: np.ndarray) -> np.ndarray:
    """Exact projection by enumerating supports S: x_S = v_S - (sum v_S - 1) / |S|, x = 0 off S,
    keeping the feasible candidate (x_S >= 0) nearest to v. Exponential in M: tests only."""
    m = len(v)
    best, best_d = None, np.inf
    for k in range(1, m + 1):
        for sup in itertools.combinations(range(m), k):
            idx = list(sup)
            x = np.zeros(m)
            x[idx] = v[idx] - (v[idx].sum() - 1.0) / k
            if x.min() >= -1e-15:
                d = np.sum((x - v) ** 2)
                if d < best_d:
                    best, best_d = np.maximum(x, 0), d
    return best


@given(vectors)
def test_projection_is_on_the_simplex_and_idempotent(v):
    x = fc.project_simplex(v)
    asserts.assert_on_simplex(x, atol=PROJ_ATOL)
    assert np.allclose(fc.project_simplex(x), x, atol=PROJ_ATOL, rtol=0)


@given(st.integers(1, 8).flatmap(batch_pair))
def test_projection_is_non_expansive(vw):
    v, w = vw
    x, y = fc.project_simplex(v), fc.project_simplex(w)
    assert np.linalg.norm(x - y) <= np.linalg.norm(v - w) * (1 + 1e-12) + PROJ_ATOL


@given(vectors, st.integers(0, 2**32 - 1))
def test_projection_is_optimal(v, seed):
    """Variational inequality <v - x, y - x> <= 0 against random simplex points y (and the vertices)."""
    x = fc.project_simplex(v)
    rng = np.random.default_rng(seed)
    ys = np.vstack([rng.dirichlet(np.ones(len(v)), size=32), np.eye(len(v))])
    vi = (ys - x) @ (v - x)
    scale = 1.0 + np.max(np.abs(v))
    assert np.max(vi) <= PROJ_ATOL * scale
    # and no simplex point is nearer to v
    assert np.min(np.sum((ys - v) ** 2, axis=1)) >= np.sum((x - v) ** 2) - PROJ_ATOL * scale**2


@given(hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-10, 10)))
def test_projection_matches_brute_force(v):
    assert np.allclose(fc.project_simplex(v), brute_force_projection(v), atol=PROJ_ATOL, rtol=0)


@given(vectors)
def test_projection_matches_independent_bisection(v):
    atol = PROJ_ATOL * (1 + np.abs(v).max())
    assert np.allclose(fc.project_simplex(v), asserts.project_simplex_bisection(v), atol=atol, rtol=0)


@pytest.mark.parametrize(
    ("v", "expected"),
    [
        ([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]),  # already on the simplex
        ([1.0, 1.0], [0.5, 0.5]),
        ([2.0, 0.0], [1.0, 0.0]),
        ([0.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]),
        ([5.0], [1.0]),
        ([-7.0], [1.0]),
        ([3.0, 1.0, -2.0], [1.0, 0.0, 0.0]),
        ([0.5, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]),
        ([1.0, 0.5, 0.0], [0.75, 0.25, 0.0]),  # closed form: theta = (1 + 0.5 - 1) / 2
    ],
)
def test_projection_known_values(v, expected):
    assert np.allclose(fc.project_simplex(np.array(v)), expected, atol=1e-15)


def test_projection_is_shift_equivariant_and_batched():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((3, 4, 5))
    x = fc.project_simplex(v)
    assert x.shape == v.shape
    for idx in np.ndindex(3, 4):
        assert np.array_equal(x[idx], fc.project_simplex(v[idx]))
    # adding a constant to every entry does not change the projection
    assert np.allclose(fc.project_simplex(v + 3.7), x, atol=PROJ_ATOL)


def test_projection_dtypes():
    v32 = np.array([0.3, 0.9, -0.1], dtype=np.float32)
    x = fc.project_simplex(v32)
    assert x.dtype == np.float32
    assert np.array_equal(x, fc.project_simplex(v32.astype(np.float64)).astype(np.float32))
    assert fc.project_simplex(np.array([2, 0])).dtype == np.float64


@given(vectors, st.floats(-1e300, 1e300), st.integers(-300, 300))
def test_projection_at_any_offset_and_scale(v, offset, exp):
    """Projection commutes with adding a constant: v + c projects like v, exactly on the simplex,
    for offsets up to 1e300 (the threshold used to lose the constraint's 1 beside entries ~1e16);
    scaled vectors s v stay on the simplex at every scale."""
    shifted = v + offset
    x = fc.project_simplex(shifted)
    asserts.assert_on_simplex(x, atol=PROJ_ATOL)
    reduced = shifted - shifted.max()  # exact when the entries are within a factor 2 of each other
    assert np.allclose(x, fc.project_simplex(reduced), atol=PROJ_ATOL, rtol=0)
    asserts.assert_on_simplex(fc.project_simplex(v * 10.0**exp), atol=PROJ_ATOL)


def test_brute_force_oracle_rejects_wrong_answers():
    """The test oracle itself is not vacuous: it disagrees with a wrong 'projection' (normalizing)."""
    v = np.array([0.9, 0.3, -0.2])
    wrong = np.maximum(v, 0) / np.maximum(v, 0).sum()
    assert not np.allclose(brute_force_projection(v), wrong, atol=1e-3)
    assert np.allclose(brute_force_projection(v), [0.8, 0.2, 0.0])
