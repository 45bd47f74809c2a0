"""Samplers and strategies as a user meets them: facts by construction, errors, the optional extra."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firm_core.problems.check import check_problem
from firm_core.testing import asserts, samplers, strategies


def test_one_of_each_covers_every_family_and_cycles_the_settings():
    insts = samplers.one_of_each(3, 2)
    assert [i.family for i in insts] == list(samplers.FAMILIES)
    assert {i.preference is None for i in insts} == {True, False}
    assert len({round(i.beta / max(np.max(np.abs(i.gram)), 1e-300), 6) for i in insts if np.any(i.jacobian)}) >= 4
    one = samplers.one_of_each(1, 2)  # the two-row families get M = 2
    assert all(i.m == (2 if i.family in samplers.NEEDS_TWO_ROWS else 1) for i in one)


def test_sampler_errors_name_the_argument():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="unknown `family` 'gausian'"):
        samplers.sample("gausian", rng, 2, 2)
    with pytest.raises(ValueError, match="needs `m` >= 2, got 1"):
        samplers.sample("opposite_rows", rng, 1, 2)
    with pytest.raises(ValueError, match="unknown `families`"):
        samplers.one_of_each(2, 2, families=("zero", "nope"))


@settings(max_examples=20)
@given(strategies.preferences(st.integers(1, 6)), strategies.jacobians(m=st.just(3), d=st.just(2)))
def test_preferences_and_jacobians(p, jac):
    asserts.assert_on_simplex(p)
    assert jac.shape[0] == 3 and np.all(np.isfinite(jac))


@settings(max_examples=8)
@given(strategies.problems())
def test_every_drawn_problem_passes_check_problem(problem):
    report = check_problem(problem, points=2, oracle_samples=50, preference_points=2)
    assert report.ok, str(report)


def test_strategies_without_hypothesis_name_the_extra():
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import firm_core.testing as t\n"
        "t.samplers.one_of_each(2, 2)\n"  # the numpy-only parts still work
        "try:\n    t.strategies\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "needs the optional `hypothesis` package" in out.stdout and 'pip install "firm[testing]"' in out.stdout
