"""Hypothesis strategies for property-testing min-norm solvers and federated algorithms.

Needs the optional ``hypothesis`` package (``pip install "firm[testing]"``)::

    from hypothesis import given
    from firm_core.testing import asserts, strategies

    @given(strategies.instances(m=st.integers(2, 5)))
    def test_my_solver(inst):
        lam = my_solver(inst.gram, inst.beta, inst.p)
        asserts.assert_kkt(inst.gram, lam, inst.beta, inst.p, 1e-10)

Every strategy draws from the sampler families of `firm_core.testing.samplers`, whose facts
(rank, stationarity, phi) hold by construction. A random search with a small budget can miss a
family; `with_examples` pins explicit examples (e.g. ``samplers.one_of_each(...)``) into a test.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

try:
    from hypothesis import example
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised in an environment without hypothesis
    raise ImportError(
        "firm_core.testing.strategies needs the optional `hypothesis` package: "
        'install the testing extra with `pip install "firm[testing]"`'
    ) from exc

from . import samplers
from .samplers import BETA_REL, FAMILIES, NEEDS_TWO_ROWS, PREFERENCE_KINDS, SCALES, Instance

__all__ = ["grams", "instances", "jacobians", "preferences", "problems", "seeds", "with_examples"]

#: Registered synthetic problems `problems` draws from, with the sizes it draws.
PROBLEM_NAMES = ("quadratics", "vlmop", "fonseca_fleming", "cagrad_toy")


def seeds():
    """Seeds for ``numpy.random.default_rng``."""
    return st.integers(0, 2**32 - 1)


@st.composite
def instances(
    draw,
    *,
    m=None,
    d=None,
    families=tuple(FAMILIES),
    beta_rel=BETA_REL,
    scales=SCALES,
    preferences=PREFERENCE_KINDS,
) -> Instance:
    """An `Instance` (J, beta, p) drawn from ``families``.

    ``m``/``d`` are strategies (default M in [2, 6], d in [1, 8]); beta = beta_rel * max|Q| so that
    regularization is meaningful at every scale; the overall scale (of Q) is applied last.
    """
    mm = draw(m if m is not None else st.integers(2, 6))
    dd = draw(d if d is not None else st.integers(1, 8))
    fams = [f for f in families if mm >= 2 or f not in NEEDS_TWO_ROWS]
    family = draw(st.sampled_from(fams))
    rng = np.random.default_rng(draw(seeds()))
    inst = samplers.sample(family, rng, mm, dd)
    inst = replace(inst, preference=samplers.preference_for(rng, mm, draw(st.sampled_from(preferences))))
    inst = inst.with_beta_rel(draw(st.sampled_from(beta_rel)))
    return inst.scaled(float(np.sqrt(draw(st.sampled_from(scales)))))


def jacobians(*, m=None, d=None, families=tuple(FAMILIES), scales=SCALES):
    """Jacobians (M, d), one row per objective, from the sampler families at the given scales."""
    return instances(m=m, d=d, families=families, scales=scales, beta_rel=(0.0,)).map(lambda i: i.jacobian)


@st.composite
def grams(draw, *, m=None, asymmetry=(0.0, 1e-15, 1e-12)) -> tuple[Instance, np.ndarray]:
    """(instance, Q): the instance's Gram matrix as a server would receive it, with a relative,
    non-symmetric round-off perturbation of size ``asymmetry`` (below firm_core's symmetry tolerance)."""
    inst = draw(instances(m=m))
    rel = draw(st.sampled_from(asymmetry))
    rng = np.random.default_rng(draw(seeds()))
    q = inst.gram
    return inst, q + rel * float(np.max(np.abs(q))) * rng.standard_normal(q.shape)


@st.composite
def preferences(draw, m) -> np.ndarray:
    """Probability vectors of length ``m`` (an int or a strategy): uniform, interior or sparse."""
    mm = draw(m) if isinstance(m, st.SearchStrategy) else int(m)
    rng = np.random.default_rng(draw(seeds()))
    p = samplers.preference_for(rng, mm, draw(st.sampled_from(PREFERENCE_KINDS)))
    return np.full(mm, 1.0 / mm) if p is None else p


@st.composite
def problems(draw, *, names=PROBLEM_NAMES, max_clients: int = 5, max_dim: int = 6):
    """Small registered problems with random sizes, heterogeneity, noise, unequal client weights and seed."""
    from firm_core.problems import make_problem

    name = draw(st.sampled_from(names))
    n = draw(st.integers(1, max_clients))
    rng = np.random.default_rng(draw(seeds()))
    kw = {
        "num_clients": n,
        "heterogeneity": draw(st.sampled_from([0.0, 0.1, 1.0])),
        "noise_std": draw(st.sampled_from([0.0, 0.1])),
        "seed": int(rng.integers(2**31)),
        "client_weights": rng.dirichlet(np.ones(n)),
    }
    if name == "quadratics":
        kw.update(num_objectives=draw(st.integers(2, 4)), dim=draw(st.integers(1, max_dim)))
    elif name != "cagrad_toy":
        kw.update(dim=draw(st.integers(1, max_dim)))
    return make_problem(name, **kw)


def with_examples(examples):
    """Decorator adding ``hypothesis.example(e)`` for every e: those run first, whatever the budget."""

    def decorate(test):
        for e in reversed(list(examples)):
            test = example(e)(test)
        return test

    return decorate
