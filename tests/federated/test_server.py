"""Server helpers: the averaging formula, the MGDA step, the sketched Jacobian, and their input checks."""

import numpy as np
import pytest

from firm_core.federated import aggregate, aggregate_mgda, lambda_disagreement, model_drift, normalized_weights
from firm_core.federated import sketched_jacobian
from tests.federated._problems import mgda_weight_m2

HAND_TOL = 1e-12


def test_aggregate_formula():
    x = np.array([1.0, -2.0])
    ys = np.array([[0.0, 0.0], [2.0, 1.0], [4.0, -4.0]])
    w = np.array([2.0, 1.0, 1.0])  # renormalized to (0.5, 0.25, 0.25)
    expected = x + 0.4 * (0.5 * (ys[0] - x) + 0.25 * (ys[1] - x) + 0.25 * (ys[2] - x))
    np.testing.assert_allclose(aggregate(x, ys, w, 0.4), expected, rtol=0, atol=HAND_TOL)
    np.testing.assert_allclose(aggregate(x, ys, w, 1.0), 0.5 * ys[0] + 0.25 * ys[1] + 0.25 * ys[2], atol=HAND_TOL)


@pytest.mark.parametrize(
    "args, match",
    [
        ((np.zeros(2), np.ones((2, 2)), [0.0, 0.0], 1.0), "positive sum"),
        ((np.zeros(2), np.ones((2, 2)), [1.0, -1.0], 1.0), "`weights`"),
        ((np.zeros(2), np.ones((2, 2)), [1.0], 1.0), "one entry per upload"),
        ((np.zeros(2), np.ones((2, 3)), [1.0, 1.0], 1.0), "`uploads`"),
        ((np.zeros(2), np.full((2, 2), np.nan), [1.0, 1.0], 1.0), "non-finite"),
        ((np.zeros(2), np.ones((2, 2)), [1.0, 1.0], 0.0), "`server_lr`"),
        ((np.zeros(2), np.ones((0, 2)), [], 1.0), "positive sum"),
    ],
)
def test_aggregate_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        aggregate(*args)


def test_aggregate_mgda_formula():
    rng = np.random.default_rng(0)
    x = rng.normal(size=3)
    upd = rng.normal(size=(2, 2, 3))
    w = np.array([0.25, 0.75])
    avg = w[0] * upd[0] + w[1] * upd[1]
    lam = mgda_weight_m2(avg[0], avg[1])
    x_new, lam_out, avg_out, status = aggregate_mgda(x, upd, w, 0.5)
    np.testing.assert_allclose(lam_out, lam, atol=HAND_TOL)
    np.testing.assert_allclose(x_new, x - 0.5 * lam @ avg, atol=HAND_TOL)
    np.testing.assert_allclose(avg_out, avg, atol=HAND_TOL)
    assert status.value == "converged"


def test_sketched_jacobian_and_its_checks():
    left = np.arange(12.0).reshape(2, 3, 2)
    right = np.arange(20.0).reshape(2, 2, 5)
    g = sketched_jacobian(left, right, [1.0, 3.0])
    np.testing.assert_allclose(g, 0.25 * left[0] @ right[0] + 0.75 * left[1] @ right[1])
    with pytest.raises(ValueError, match="do not match"):
        sketched_jacobian(left, right[:, :1], [1.0, 1.0])


def test_disagreement_and_drift():
    lam = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert lambda_disagreement(lam) == 0.5  # each is sqrt(0.5) from (0.5, 0.5)
    assert lambda_disagreement(np.tile([0.1, 0.3, 0.6], (7, 1))) == 0.0  # identical rows: exactly 0
    assert np.isnan(lambda_disagreement(np.empty((0, 2))))
    assert model_drift(np.array([[1.0, 1.0], [3.0, 1.0]]), np.array([1.0, 1.0])) == 2.0
    assert np.isnan(model_drift(np.empty((0, 2)), np.zeros(2)))
    np.testing.assert_allclose(normalized_weights([1, 3]), [0.25, 0.75])
