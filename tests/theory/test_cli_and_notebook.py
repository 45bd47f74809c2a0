"""`firm check-theory --quick` end to end, its failure exit code, and the executed theory notebook."""

import json
import time
from pathlib import Path

from click.testing import CliRunner
from firm_core import theory as th
from firm.cli import main

from tests.notebooks._run import execute
from theory_checks.report import PLOTS

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "theory_tour.ipynb"
#: CPU seconds of `firm check-theory --quick` in this process (CPU, not wall time: the wall time of a shared,
#: loaded CI machine says nothing about the command; about 6 CPU-seconds here, imports and plots included).
QUICK_CPU_SECONDS = 15
NOTEBOOK_SECONDS = 40


def test_check_theory_quick_passes_and_writes_the_report(tmp_path):
    start = time.process_time()
    result = CliRunner().invoke(main, ["check-theory", "--quick", "--no-progress", "--out", str(tmp_path)])
    elapsed = time.process_time() - start
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output
    report = (tmp_path / "report.md").read_text()
    assert "**PASS**" in report and "Theorem 1" in report and "Liveness" in report
    assert "What this run certifies" in report and "Where FIRM ends" in report and "informative" in result.output
    summary = json.loads((tmp_path / "results.json").read_text())
    counts = summary["counts"]
    assert counts["federated"] + counts["theorem1"] == len(summary["cells"])
    # a bound that is not informative is never called a certificate
    for cell in summary["cells"]:
        assert cell["verdict"] != "certificate" or (cell["informative"] and cell["sigma"] == 0)
        assert cell["informative"] == (cell["bound"] < cell["trivial"])
    for name in (*PLOTS, "results.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert elapsed < QUICK_CPU_SECONDS


def test_check_theory_exits_nonzero_on_a_violation(tmp_path, monkeypatch):
    real = th.theorem1_bound
    monkeypatch.setattr(th, "theorem1_bound", lambda *a: 0.5 * real(*a))  # a wrong (too small) Theorem 1
    result = CliRunner().invoke(main, ["check-theory", "--quick", "--no-progress", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "VIOLATION" in result.output
    assert "**FAIL**" in (tmp_path / "report.md").read_text()


def test_theory_notebook_executes():
    nb, seconds = execute(NOTEBOOK, cell_timeout=NOTEBOOK_SECONDS)
    assert seconds < NOTEBOOK_SECONDS
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "NOT FLAGGED" not in outputs and "flagged" in outputs
