"""The results folder of ``firm run``: metrics.json (rewritten after every algorithm) and its reader.

metrics.json::

    {"format": "firm-run", "version": 1, "name": ..., "config": <the validated config tree>,
     "problem": problem.describe(), "pareto_front": [[F1, F2], ...] or null,
     "algorithms": {key: {"label": ..., "algorithm": AlgorithmConfig.to_dict(),
                          "status": "pending" | "done" | "failed", "error": str | null,
                          "summary": SummaryRow.to_dict() | null, "history": History.to_dict() | null}}}

JSON is strict: NaN is written as null (History.from_dict reads it back as NaN).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from firm_core.federated.history import json_safe

FORMAT = "firm-run"
VERSION = 1
METRICS_FILE = "metrics.json"
STATUSES = ("pending", "done", "failed")


def write_json(path, data) -> Path:
    """Write JSON atomically (temp file + rename), so a crash never leaves a half-written file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(json_safe(data), fh, allow_nan=False, indent=1)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def new_metrics(config, pareto_front) -> dict:
    """metrics.json content before any algorithm ran: every algorithm pending."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": config.name,
        "config": config.to_dict(),
        "problem": config.problem.describe(),
        "pareto_front": None if pareto_front is None else np.asarray(pareto_front).tolist(),
        "algorithms": {
            entry.key: {"label": entry.label, "algorithm": entry.config.to_dict(), "status": "pending", "error": None,
                        "summary": None, "history": None}
            for entry in config.algorithms
        },
    }


def read_metrics(path) -> dict:
    """Load metrics.json (``path`` is the file or its folder); ValueError names the file when it is not one."""
    path = Path(path)
    if path.is_dir():
        path = path / METRICS_FILE
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise ValueError(f"read_metrics: no {METRICS_FILE} at {str(path)!r}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"read_metrics: {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"read_metrics: {str(path)!r} is not a firm run's {METRICS_FILE} (format {data.get('format')!r})")
    if data.get("version") != VERSION:
        raise ValueError(f"read_metrics: {str(path)!r} has version {data.get('version')!r}, expected {VERSION}")
    return data


def load_histories(path, *, include_unfinished: bool = False) -> dict:
    """{key: History} of the algorithms of a run folder (or metrics.json) that finished."""
    from firm_core.federated.history import History

    data = read_metrics(path)
    out = {}
    for key, entry in data["algorithms"].items():
        if entry["history"] is not None and (include_unfinished or entry["status"] == "done"):
            out[key] = History.from_dict(entry["history"])
    return out
