"""Logistic regression on bundled scikit-learn data, Dirichlet-split: oracles, minibatch noise, front."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import firm_core as fc

pytest.importorskip("sklearn", reason="needs the [data] extra (installed by `make test`)")

from firm_core.problems.logistic import DirichletLogisticRegression  # noqa: E402
from firm_core.problems.logistic import load_dataset  # noqa: E402
from firm_core.problems.bound_checks import empirical_constants, verify_upper_bounds  # noqa: E402
from tests.problems.helpers import assert_global_is_weighted_sum, assert_jacobians_match_fd  # noqa: E402

#: Monte-Carlo check of the minibatch oracle: draws, and tolerance in standard errors (Bonferroni
#: over the N*M (client, objective) pairs is covered by 5 sigma).
MINIBATCH_DRAWS = 1500
MINIBATCH_Z = 5.0


@pytest.fixture(scope="module")
def cancer():
    return DirichletLogisticRegression("breast_cancer", num_clients=6, alpha=0.3, batch_size=8, seed=1)


@pytest.fixture(scope="module")
def wine():
    return DirichletLogisticRegression("wine", num_clients=4, alpha=0.5, batch_size=4, seed=2)


def test_split_covers_the_data_set_once_and_weights_are_data_sizes(cancer):
    n = load_dataset("breast_cancer")[1].size
    np.testing.assert_array_equal(np.sort(np.concatenate(cancer.client_indices)), np.arange(n))
    np.testing.assert_allclose(cancer.client_weights, cancer.client_sizes / n)
    assert cancer.client_weights.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["cancer", "wine"])
def test_jacobians_match_fd_and_global_is_weighted_sum(name, request):
    prob = request.getfixturevalue(name)
    x = 0.3 * np.random.default_rng(0).normal(size=prob.dim)
    assert_jacobians_match_fd(prob, x)
    assert_global_is_weighted_sum(prob, x, rtol=1e-10)


def test_minibatch_oracle_is_unbiased_with_the_stated_second_moment(cancer):
    prob = cancer
    clients = np.arange(prob.num_clients)
    x = np.broadcast_to(0.2 * np.random.default_rng(3).normal(size=prob.dim), (prob.num_clients, prob.dim))
    full = prob.client_jacobians(clients, x)
    exact = prob.minibatch_noise_second_moment(clients, x)  # (N, M)
    rngs = [np.random.default_rng(100 + i) for i in clients]
    sq = np.empty((MINIBATCH_DRAWS, prob.num_clients, prob.num_objectives))
    mean = np.zeros_like(full)
    for t in range(MINIBATCH_DRAWS):
        err = prob.stochastic_jacobians(clients, x, rngs) - full
        sq[t] = np.sum(err**2, axis=-1)
        mean += err / MINIBATCH_DRAWS
    se = sq.std(axis=0) / np.sqrt(MINIBATCH_DRAWS)
    has_noise = exact > 0
    assert np.all(np.abs(sq.mean(axis=0) - exact)[has_noise] < MINIBATCH_Z * se[has_noise])
    assert np.all(sq[:, ~has_noise] < 1e-20)  # e.g. a client with no sample of a group
    # unbiased: each coordinate's mean error within 5 standard errors (per-row second moment / draws)
    bound = MINIBATCH_Z * np.sqrt(exact / MINIBATCH_DRAWS)[..., None]
    assert np.all(np.abs(mean) <= bound + 1e-12)


def test_minibatches_are_reproducible_per_client_generator(cancer):
    clients = np.array([0, 2])
    x = np.zeros((2, cancer.dim))
    a = cancer.stochastic_jacobians(clients, x, [np.random.default_rng(5), np.random.default_rng(6)])
    b = cancer.stochastic_jacobians(clients, x, [np.random.default_rng(5), np.random.default_rng(6)])
    np.testing.assert_array_equal(a, b)
    # a client's draw depends only on its own generator
    c = cancer.stochastic_jacobians(clients[:1], x[:1], [np.random.default_rng(5)])
    np.testing.assert_array_equal(a[0], c[0])


def test_same_seed_same_problem():
    a = DirichletLogisticRegression("wine", num_clients=4, seed=7)
    b = DirichletLogisticRegression("wine", num_clients=4, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a.client_indices, b.client_indices, strict=True))


def test_numerical_pareto_points_are_stationary_and_front_is_a_tradeoff(cancer):
    front = cancer.pareto_front(5)
    assert front.shape == (5, 2)
    # w_1 grows along the sweep, so f_1 falls and f_2 rises
    assert np.all(np.diff(front[:, 0]) < 0) and np.all(np.diff(front[:, 1]) > 0)
    x = cancer.pareto_set_point([0.5, 0.5])
    assert fc.pareto_stationarity(cancer.jacobian(x)) < 1e-16
    assert fc.pareto_stationarity(cancer.jacobian(cancer.initial_point())) > 1e-4
    assert cancer.distance_to_pareto_set(x) is None


def test_smoothness_bound_holds(wine):
    emp = empirical_constants(wine, radius=2.0, num_points=30, seed=0)
    verify_upper_bounds({"L": wine.smoothness_bound()}, emp)


def test_missing_scikit_learn_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # makes the import fail
    with pytest.raises(ImportError, match=r"firm\[data\]"):
        load_dataset("wine")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(dataset="mnist"), "dataset"),
        (dict(alpha=0.0), "alpha"),
        (dict(class_groups=[[0], [0, 1]]), "class_groups"),
        (dict(class_groups=[[0, 1, 2]]), "class_groups"),
        (dict(class_groups=[[0], [7]]), "class_groups"),
        (dict(batch_size=0), "batch_size"),
        (dict(l2=-1.0), "l2"),
    ],
)
def test_bad_arguments_raise_named_errors(kwargs, match):
    args = dict(dataset="wine", num_clients=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        DirichletLogisticRegression(**args)
