"""Run the report's suite section by section, resuming from a results file, and render it.

    from firm.report import run_report
    outcome = run_report("runs/report", quick=True)      # writes results.json, figures/*.png, report.md
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from firm_core.federated.history import json_safe

from . import store
from .config import SuiteConfig
from . import sections


@dataclass
class ReportOutcome:
    out_dir: Path
    results: dict
    report_path: Path
    figures: list
    note: str
    seconds: float


#: Significant digits kept for the floats of results.json (the file stays small enough to ship with the docs).
SIGNIFICANT_DIGITS = 7


def _significant(obj):
    """``obj`` with every float rounded to SIGNIFICANT_DIGITS significant digits."""
    if isinstance(obj, dict):
        return {k: _significant(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_significant(v) for v in obj]
    if isinstance(obj, float):
        return float(f"{obj:.{SIGNIFICANT_DIGITS}g}")
    return obj


def run_sections(out_dir, cfg: SuiteConfig, *, progress: bool = True, log=print) -> tuple[dict, str]:
    """Run every section not yet in ``out_dir``/results.json, saving after each one."""
    results, note = store.load(out_dir, cfg.to_dict())
    if note:
        log(note)
    for name in sections.SECTIONS:
        if name in results["sections"]:
            continue
        fn = getattr(sections, name)
        start = time.perf_counter()
        extra = {"workdir": Path(out_dir)} if name in sections.WITH_WORKDIR else {}
        data = fn(cfg, results["sections"], progress, **extra)
        seconds = data.pop("_seconds", None)
        # through JSON at once, so later sections see exactly what a resumed suite would read back
        results["sections"][name] = json.loads(json.dumps(_significant(json_safe(data)), allow_nan=False))
        results["timing"][name] = round(time.perf_counter() - start, 3) if seconds is None else round(seconds, 3)
        store.save(out_dir, results)
        log(f"section {name}: done in {results['timing'][name]:.1f} s")
    return results, note


def run_report(out_dir, *, quick: bool = False, progress: bool = True, docs_page=None, log=print,
               config: SuiteConfig | None = None) -> ReportOutcome:
    """The whole suite: sections (resumable), figures, report.md; and ``docs_page`` refreshed when given.
    ``config`` replaces the quick / full suite (for smaller experiments and tests)."""
    from .figures import draw_all
    from .render import render_report, write_docs_page

    start = time.perf_counter()
    out_dir = Path(out_dir)
    cfg = SuiteConfig.make(quick) if config is None else config
    results, note = run_sections(out_dir, cfg, progress=progress, log=log)
    figures = draw_all(results, out_dir / "figures")
    report_path = out_dir / "report.md"
    report_path.write_text(render_report(results, figure_dir="figures"), encoding="utf-8")
    if docs_page is not None:
        write_docs_page(results, Path(docs_page), figures, out_dir / store.RESULTS_FILE)
    return ReportOutcome(out_dir, results, report_path, figures, note, time.perf_counter() - start)
