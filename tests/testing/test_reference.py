"""The independent reference solver: exact on known answers, agrees with firm_core's exact methods."""

from __future__ import annotations

import numpy as np
import pytest

import firm_core as fc
from firm_core.testing import asserts, samplers
from firm_core.testing.reference import MAX_M, solve_reference
from firm_core.tolerances import EXACT_KKT_TOL


def closed_form_m2(q, beta, p1):
    """lambda_1 of the M = 2 problem: clip((c - b + 2 beta p1) / (a - 2b + c + 2 beta), 0, 1) (beta > 0)."""
    a, b, c = q[0, 0], q[0, 1], q[1, 1]
    return float(np.clip((c - b + 2 * beta * p1) / (a - 2 * b + c + 2 * beta), 0.0, 1.0))


@pytest.mark.parametrize("seed", range(20))
def test_matches_the_m2_closed_form(seed):
    rng = np.random.default_rng(seed)
    jac = rng.standard_normal((2, 3))
    q, beta, p1 = jac @ jac.T, float(rng.uniform(0.01, 3.0)), float(rng.uniform())
    ref = solve_reference(q, beta, [p1, 1 - p1])
    assert ref.weights[0] == pytest.approx(closed_form_m2(q, beta, p1), abs=1e-12)


def test_vertex_answer_when_one_gradient_is_short():
    q = np.diag([1.0, 9.0, 16.0]) + 0.0  # orthogonal gradients of norms 1, 3, 4: lambda ~ 1 / ||g||^2
    ref = solve_reference(q)
    inv = 1 / np.diag(q)
    assert np.allclose(ref.weights, inv / inv.sum(), atol=1e-14)
    g = np.array([[1.0, 0.0], [2.0, 0.0]])  # parallel, same direction: the shorter one alone
    ref = solve_reference(g @ g.T)
    assert np.allclose(ref.weights, [1.0, 0.0]) and ref.support == (0,)


@pytest.mark.parametrize("family", sorted(samplers.STATIONARY_FAMILIES + samplers.NON_STATIONARY_FAMILIES))
def test_attains_the_known_phi(family):
    rng = np.random.default_rng(4)
    for _ in range(5):
        inst = samplers.sample(family, rng, 5, 4)
        ref = solve_reference(inst.gram)
        scale = max(float(np.max(np.abs(inst.gram))), 1e-300)
        if inst.phi is not None:
            assert ref.norm_sq == pytest.approx(inst.phi, abs=1e-12 * scale)
        assert ref.norm_sq >= inst.phi_lower - 1e-12 * scale


def test_agrees_with_every_exact_firm_core_method_on_every_family():
    for inst in samplers.one_of_each(5, 3) + samplers.one_of_each(3, 1, seed=1):
        ref = solve_reference(inst.gram, inst.beta, inst.p)
        gap = asserts.certificate(inst.gram, ref.weights, inst.beta, inst.p).gap
        assert gap <= EXACT_KKT_TOL, (inst.family, gap)
        for method in ("enumeration", "active_set"):
            res = fc.solve_min_norm(gram=inst.gram, beta=inst.beta, preference=inst.preference, method=method)
            asserts.assert_same_solution(inst.gram, ref.weights, res.weights, inst.beta, inst.p, gap, float(res.gap))


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="`gram` must be a square"):
        solve_reference(np.ones((2, 3)))
    with pytest.raises(ValueError, match="`beta` must be a finite number >= 0, got -1"):
        solve_reference(np.eye(2), -1.0)
    with pytest.raises(ValueError, match="`preference` must be a probability vector"):
        solve_reference(np.eye(2), 0.0, [0.7, 0.7])
    with pytest.raises(ValueError, match=f"M = {MAX_M + 1} > {MAX_M}"):
        solve_reference(np.eye(MAX_M + 1))
