"""check_problem: every registered problem passes; each deliberate mistake is caught and named."""

from __future__ import annotations

import re

import numpy as np
import pytest

from firm_core.problems import PROBLEMS, make_problem
from firm_core.problems.check import ProblemCheckError, check_problem
from tests.testing import toy_problems as toys

#: Registered problems that need an optional extra or a slow numerical Pareto solve, with the settings
#: that keep their check fast (points / preference points); the others run with the defaults.
REAL_DATA = ("breast_cancer_logreg", "wine_logreg", "digits_logreg")
SYNTHETIC = tuple(n for n in PROBLEMS if n not in REAL_DATA)


def statuses(report) -> dict[str, str]:
    return {o.name: o.status for o in report.outcomes}


def failed(report) -> list[str]:
    return [o.name for o in report.failures]


@pytest.mark.parametrize("name", SYNTHETIC)
@pytest.mark.parametrize("noise_std", [0.0, 0.2])
def test_every_synthetic_registered_problem_passes(name, noise_std):
    report = check_problem(make_problem(name, noise_std=noise_std, client_weights=np.linspace(1, 2, 10) / 15))
    assert report.ok, str(report)
    assert statuses(report)["pareto_set"] == "ok"  # all of them have an analytic Pareto set


@pytest.mark.slow
@pytest.mark.parametrize("name", REAL_DATA)
def test_every_real_data_registered_problem_passes(name):
    pytest.importorskip("sklearn")
    kw = {"preference_points": 1} if name != "digits_logreg" else {"points": 1, "preference_points": 0}
    report = check_problem(make_problem(name), oracle_samples=100, **kw)
    assert report.ok, str(report)


def test_the_user_style_toy_passes_and_skips_what_it_does_not_claim():
    report = check_problem(toys.CauchyToy())
    assert report.ok, str(report)
    assert statuses(report)["pareto_set"] == "skip"
    assert "no analytic Pareto set" in str(report)


@pytest.mark.parametrize(
    "broken, check, message",
    [
        (toys.BrokenTransposed(), "shapes", r"shape \(10, 4, 3\), expected \(10, 3, 4\) - it looks transposed"),
        (toys.BrokenTransposed(num_objectives=3, dim=3), "jacobian_vs_finite_differences", "transposed Jacobian matches"),
        (toys.BrokenWeights(), "client_weights", r"sum to 1\.1"),
        (toys.BrokenGradient(), "jacobian_vs_finite_differences", r"entry \(\d+, \d+, 3\): analytic"),
        (toys.BrokenBiasedOracle(), "stochastic_mean", "biased"),
        (toys.BrokenNonDeterministic(), "determinism", "same seeds"),
        (toys.BrokenSharedStream(), "determinism", "depend only on its own generator"),
        (toys.BrokenIgnoresClients(), "clients_subset", "must use its `clients` argument"),
        (toys.BrokenParetoSet(), "pareto_set", "not Pareto stationary"),
        (toys.BrokenRaises(), "shapes", "raised RuntimeError: minibatch index out of range"),
    ],
    ids=lambda v: v if isinstance(v, str) and " " not in v and "\\" not in v else None,
)
def test_each_mistake_is_caught_by_its_check(broken, check, message):
    report = check_problem(broken)
    assert not report.ok
    assert check in failed(report), str(report)
    outcome = next(o for o in report.outcomes if o.name == check)
    assert re.search(message, outcome.detail), outcome.detail
    assert re.search(rf"FAIL\s+{check}\s+.*{message}", str(report))


def test_only_the_broken_check_fails_for_a_single_mistake():
    """A biased oracle fails the unbiasedness test and nothing else (the checks are specific)."""
    assert failed(check_problem(toys.BrokenBiasedOracle())) == ["stochastic_mean"]
    assert failed(check_problem(toys.BrokenWeights())) == ["client_weights"]


def test_failed_prerequisite_skips_what_depends_on_it():
    report = check_problem(toys.BrokenTransposed())
    st = statuses(report)
    assert st["shapes"] == "FAIL"
    assert all(st[n] == "skip" for n in ("jacobian_vs_finite_differences", "stochastic_mean", "determinism"))


def test_raise_on_failure_raises_a_value_error_with_the_report():
    with pytest.raises(ProblemCheckError) as info:
        check_problem(toys.BrokenWeights(), raise_on_failure=True)
    assert isinstance(info.value, ValueError)
    assert "client_weights" in str(info.value) and info.value.report.failures
    assert check_problem(toys.CauchyToy(), raise_on_failure=True).ok


def test_bad_arguments_name_the_argument_and_value():
    with pytest.raises(TypeError, match="`problem` must be a firm_core.problems.Problem, got dict"):
        check_problem({"name": "nope"})
    with pytest.raises(ValueError, match="`oracle_samples` must be an integer >= 2, got 1"):
        check_problem(toys.CauchyToy(), oracle_samples=1)


def test_the_report_reads_as_a_table():
    text = str(check_problem(toys.BrokenGradient()))
    lines = text.splitlines()
    assert lines[0].startswith("check_problem(cauchy_toy(N=10, M=3, d=4)): 1 of 10 checks failed")
    assert any(line.strip().startswith("FAIL  jacobian_vs_finite_differences") for line in lines)
    assert sum(line.strip().startswith("ok") for line in lines) == 8
