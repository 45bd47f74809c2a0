"""notebooks/claims.ipynb executes on the shipped results and reproduces their verdicts and figures."""

from __future__ import annotations

import pytest

from firm.report import read_results
from firm.report.figures import drawable
from tests.notebooks._run import ROOT, execute, read_summary

NOTEBOOK = ROOT / "notebooks" / "claims.ipynb"
SHIPPED = ROOT / "docs" / "results" / "results.json"
#: A redrawn figure smaller than this is empty or broken (the shipped ones are 30-120 KB).
MIN_FIGURE_BYTES = 10_000


def check_summary(summary: dict, results: dict) -> None:
    """The notebook's summary must repeat the results' verdicts, recompute the same ones and redraw every figure."""
    stored = {n: s["verdict"]["verdict"] for n, s in results["sections"].items() if "verdict" in s}
    if summary["verdicts"] != stored:
        raise AssertionError(f"verdicts {summary['verdicts']} differ from the results' {stored}")
    for name, verdict in summary["recomputed"].items():
        if verdict != stored[name]:
            raise AssertionError(f"recomputed verdict of {name!r} is {verdict!r}, stored {stored[name]!r}")
    if len(summary["recomputed"]) < 5:
        raise AssertionError(f"only {len(summary['recomputed'])} sections recomputed")
    expected = sorted(f"{name}.png" for name in drawable(results))
    if summary["figures"] != expected or summary["figure_bytes"] < MIN_FIGURE_BYTES:
        raise AssertionError(f"figures {summary['figures']} ({summary['figure_bytes']} bytes) != {expected}")


@pytest.mark.slow
def test_claims_notebook_executes_and_matches_the_results():
    results = read_results(SHIPPED)
    nb, _ = execute(NOTEBOOK)
    summary = read_summary(nb)
    check_summary(summary, results)
    # the check rejects a summary with one verdict changed, or a figure missing
    broken = dict(summary, recomputed=dict(summary["recomputed"], dynamics="holds" if
                  summary["recomputed"]["dynamics"] != "holds" else "does not hold here"))
    with pytest.raises(AssertionError, match="dynamics"):
        check_summary(broken, results)
    with pytest.raises(AssertionError, match="figures"):
        check_summary(dict(summary, figures=summary["figures"][1:]), results)
