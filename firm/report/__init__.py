"""``firm report``: FIRM's claims measured against every baseline on toy problems (and, once an LLM task
registers, on the LLM task), with figures and computed verdicts.

    from firm.report import run_report, read_results
    run_report("runs/report", quick=True)
"""

from .store import read as read_results
from .suite import ReportOutcome, run_report, run_sections

__all__ = ["ReportOutcome", "read_results", "run_report", "run_sections"]
