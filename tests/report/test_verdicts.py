"""The report's verdict rules on synthetic numbers, including cases where FIRM loses."""

from __future__ import annotations

import math

import pytest

from firm.report import verdicts as vd
from firm.report.verdicts import Comparison


def comps(firm_values, other_values, lower=True):
    return [Comparison("m", f"s{i}", f"B{i}", f, o, lower) for i, (f, o) in enumerate(zip(firm_values, other_values))]


def test_firm_better_everywhere_holds():
    v = vd.comparative_verdict(comps([1.0, 2.0], [2.0, 3.0]))
    assert v["verdict"] == vd.HOLDS and v["wins"] == 2 and v["losses"] == []


def test_firm_losing_everywhere_does_not_hold_and_names_the_winner():
    v = vd.comparative_verdict(comps([5.0, 5.0, 5.0], [1.0, 2.0, 3.0]))
    assert v["verdict"] == vd.FAILS
    assert "B0 1 vs FIRM 5" in v["line"] and "0/3" in v["line"]
    assert [c["baseline"] for c in v["losses"]] == ["B0", "B1", "B2"]


def test_half_wins_is_conditional_and_lists_the_losses():
    v = vd.comparative_verdict(comps([1.0, 5.0], [2.0, 1.0]))
    assert v["verdict"] == vd.CONDITIONAL and v["wins"] == 1
    assert "B1" in v["line"] and "B0" not in v["line"]
    # one win in three is below half: does not hold
    assert vd.comparative_verdict(comps([1.0, 5.0, 5.0], [2.0, 1.0, 1.0]))["verdict"] == vd.FAILS


def test_higher_is_better_direction():
    assert vd.comparative_verdict(comps([0.9], [0.5], lower=False))["verdict"] == vd.HOLDS
    assert vd.comparative_verdict(comps([0.5], [0.9], lower=False))["verdict"] == vd.FAILS


def test_tie_tolerance_edges():
    just_inside = 1.0 + vd.TIE_RTOL * 0.99
    just_outside = 1.0 + vd.TIE_RTOL * 1.01
    assert Comparison("m", "s", "B", just_inside, 1.0).firm_not_worse()
    assert not Comparison("m", "s", "B", just_outside, 1.0).firm_not_worse()
    assert Comparison("m", "s", "B", 1.0 - vd.TIE_RTOL * 0.99, 1.0, False).firm_not_worse()
    assert not Comparison("m", "s", "B", 1.0 - vd.TIE_RTOL * 1.01, 1.0, False).firm_not_worse()


def test_non_finite_numbers():
    assert not Comparison("m", "s", "B", math.inf, 1.0).firm_not_worse()  # FIRM never reached the target
    assert not Comparison("m", "s", "B", None, 1.0).firm_not_worse()  # null read back from JSON
    assert Comparison("m", "s", "B", 1.0, math.inf).firm_not_worse()  # the baseline never reached it


def test_failed_requirement_caps_holds():
    v = vd.comparative_verdict(comps([1.0], [2.0]), [("FIRM follows p", False)])
    assert v["verdict"] == vd.CONDITIONAL and "FIRM follows p" in v["line"]
    assert vd.comparative_verdict(comps([1.0], [2.0]), [("FIRM follows p", True)])["verdict"] == vd.HOLDS


def test_empty_comparisons_rejected():
    with pytest.raises(ValueError, match="comparisons"):
        vd.comparative_verdict([])


def _summary(oks, live_ok=2, live_total=2):
    return {"checks": [{"name": f"c{i}", "ok": ok} for i, ok in enumerate(oks)], "liveness_ok": live_ok,
            "liveness_total": live_total}


def test_convergence_verdict():
    assert vd.convergence_verdict(_summary([True, True]))["verdict"] == vd.HOLDS
    bad = vd.convergence_verdict(_summary([True, False]))
    assert bad["verdict"] == vd.FAILS and "c1" in bad["line"]
    assert vd.convergence_verdict(_summary([True], live_ok=1))["verdict"] == vd.CONDITIONAL
