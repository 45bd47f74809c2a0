"""The adapter over the theory checks' suite reads the stated fields, counts kinds, and a violation fails."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from firm.report import verdicts as vd
from firm.report.convergence import theory_summary


def _check(name, ok, ratio=0.5):
    return NS(name=name, ok=ok, ratio=ratio, count=3)


def _suite(cells_ok=True, live_ok=True):
    cells = [NS(spec=NS(name="thm1"), kind="certificate",
                checks=[_check("descent", cells_ok, 0.9), _check("rate", True, float("nan"))]),
             NS(spec=NS(name="noisy"), kind="holds, not informative", checks=[_check("bound", True, 0.2)])]
    return NS(ok=cells_ok and live_ok, seconds=1.5, cells=cells, rates=[NS(checks=[_check("slope", True)])],
              beta=NS(checks=[_check("bias", True, 0.1)]), liveness=[NS(ok=live_ok), NS(ok=True)])


@pytest.mark.parametrize("cells_ok, live_ok, expected", [(True, True, vd.HOLDS), (False, True, vd.FAILS),
                                                         (True, False, vd.CONDITIONAL)])
def test_adapter_and_verdict(monkeypatch, cells_ok, live_ok, expected):
    calls = []
    monkeypatch.setattr("theory_checks.suite.run_suite", lambda quick, progress: calls.append(quick) or
                        _suite(cells_ok, live_ok))
    monkeypatch.setattr("theory_checks.report.classify", lambda cell: cell.kind)
    summary = theory_summary()
    assert calls == [True]  # quick mode
    assert summary["kinds"] == {"certificate": [1 + int(cells_ok), 2], "holds, not informative": [1, 1],
                                "unclassified": [2, 2]}
    assert summary["checks"][0]["group"] == "cell thm1" and summary["checks"][1]["ratio"] is None
    assert (summary["liveness_ok"], summary["liveness_total"]) == (1 + int(live_ok), 2)
    verdict = vd.convergence_verdict(summary)
    assert verdict["verdict"] == expected
    if not cells_ok:
        assert "descent" in verdict["line"]
