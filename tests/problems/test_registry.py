"""make_problem: every registered name builds a working problem; bad names and kwargs are named."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from firm_core.problems import PROBLEMS, Problem, make_problem, problem_parameters, register_problem

HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None
CORE = ["quadratics", "vlmop", "fonseca_fleming", "cagrad_toy"]
DATA = ["breast_cancer_logreg", "wine_logreg", "digits_logreg"]


@pytest.mark.parametrize("name", CORE + (DATA if HAS_SKLEARN else []))
def test_every_registered_problem_builds_and_answers(name):
    prob = make_problem(name, num_clients=3, seed=1)
    assert isinstance(prob, Problem)
    x = prob.initial_point()
    assert x.shape == (prob.dim,)
    assert prob.values(x).shape == (prob.num_objectives,)
    assert prob.jacobian(x).shape == (prob.num_objectives, prob.dim)
    clients = np.arange(prob.num_clients)
    xs = np.broadcast_to(x, (prob.num_clients, prob.dim))
    rngs = [np.random.default_rng(i) for i in clients]
    assert prob.stochastic_jacobians(clients, xs, rngs).shape == (prob.num_clients, prob.num_objectives, prob.dim)
    assert prob.describe()["name"] == prob.name and prob.source


def test_kwargs_reach_the_problem():
    prob = make_problem("quadratics", num_clients=4, num_objectives=3, dim=7, heterogeneity=0.0)
    assert (prob.num_clients, prob.num_objectives, prob.dim, prob.heterogeneity) == (4, 3, 7, 0.0)


def test_unknown_kwarg_is_named_with_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['dimension'\]; valid: .*'dim'"):
        make_problem("quadratics", dimension=3)
    # a fixed argument of a registered variant is not settable
    assert "dataset" not in problem_parameters("wine_logreg")


def test_unknown_name_lists_the_registry():
    with pytest.raises(ValueError, match="unknown problem `name` 'zdt1'.*quadratics"):
        make_problem("zdt1")


def test_register_problem_adds_an_entry_and_rejects_bad_targets():
    register_problem("tiny_quadratics", "firm_core.problems.quadratics:HeterogeneousQuadratics", dim=2)
    try:
        assert make_problem("tiny_quadratics").dim == 2
        assert "dim" not in problem_parameters("tiny_quadratics")
    finally:
        PROBLEMS.pop("tiny_quadratics")
    with pytest.raises(ValueError, match="target"):
        register_problem("x", "no_colon_here")
