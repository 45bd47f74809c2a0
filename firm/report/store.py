"""The report's results file, written section by section so an interrupted suite resumes.

results.json = {"format": "firm-report", "version": 1, "config": SuiteConfig.to_dict(),
"sections": {name: data}, "timing": {name: seconds}}. Each finished section is written at once
(atomically); a rerun with the same config skips the sections already there. A file written with
another config is not reused (the suite starts afresh and says so).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from firm_core.federated.history import json_safe

RESULTS_FILE = "results.json"
FORMAT = "firm-report"
VERSION = 1


def empty(config: dict) -> dict:
    return {"format": FORMAT, "version": VERSION, "config": config, "sections": {}, "timing": {},
            "provenance": provenance()}


def provenance() -> dict:
    """Where and when a suite started: git commit (when run inside a git checkout), machine, Python, numpy."""
    import datetime
    import platform
    import subprocess

    import numpy as np

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                                cwd=Path(__file__).resolve().parent).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"commit": commit, "started_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()}",
            "python": platform.python_version(), "numpy": np.__version__}


def load(out_dir, config: dict) -> tuple[dict, str]:
    """(results, note): the saved results when they match ``config``, else a fresh one and why."""
    path = Path(out_dir) / RESULTS_FILE
    if not path.is_file():
        return empty(config), ""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        return empty(config), f"ignored unreadable {path}: {exc}"
    if data.get("format") != FORMAT or data.get("version") != VERSION or data.get("config") != config:
        return empty(config), f"ignored {path}: written by another suite configuration"
    return data, f"resumed {path}: {len(data['sections'])} section(s) already done"


def save(out_dir, results: dict) -> Path:
    """Write results.json atomically; NaN / inf become null (strict JSON)."""
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path, suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(json_safe(results), fh, allow_nan=False, separators=(",", ":"))
    os.replace(tmp, path / RESULTS_FILE)
    return path / RESULTS_FILE


def read(path) -> dict:
    """A results.json (a folder holding one, or the file itself)."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULTS_FILE
    with open(p, encoding="utf-8") as fh:
        data = json.load(fh)
    if data.get("format") != FORMAT:
        raise ValueError(f"read: `path` {str(p)!r} is not a firm report results file")
    return data
