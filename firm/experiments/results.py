"""The results folder of ``firm run``: metrics.json (rewritten after every algorithm) and its reader.

metrics.json::

    {"format": "firm-run", "version": 1, "name": ..., "config": <the validated config tree>,
     "problem": problem.describe(), "pareto_front": [[F1, F2], ...] or null,
     "algorithms": {key: {"label": ..., "algorithm": AlgorithmConfig.to_dict(),
                          "status": "pending" | "done" | "diverged" | "interrupted" | "failed",
                          "error": str | null (why it failed, diverged or was interrupted),
                          "summary": SummaryRow.to_dict() | null, "history": History.to_dict() | null}}}

JSON is strict: NaN is written as null (History.from_dict reads it back as NaN). Every file is written
to a temporary name and renamed, so an interrupt never leaves half a file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from firm_core.federated.history import atomic_text_file, json_safe

FORMAT = "firm-run"
VERSION = 1
METRICS_FILE = "metrics.json"
#: An algorithm's status in metrics.json: not run yet, finished, stopped on divergence (a result, kept on
#: resume), stopped by Ctrl-C (continued on resume), failed with an error (rerun on resume).
STATUSES = ("pending", "done", "diverged", "interrupted", "failed")
#: Statuses whose history is a result that ``--resume`` keeps.
FINISHED = ("done", "diverged")


def write_json(path, data) -> Path:
    """Write JSON atomically (temp file, fsync, rename), so a crash never leaves a half-written file."""
    path = Path(path)
    with atomic_text_file(path) as fh:
        json.dump(json_safe(data), fh, allow_nan=False, indent=1)
        fh.write("\n")
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
    except OSError as exc:
        raise ValueError(f"read_metrics: {str(path)!r} cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"read_metrics: {str(path)!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"read_metrics: {str(path)!r} is not a firm run's {METRICS_FILE} (format {found!r})")
    if data.get("version") != VERSION:
        raise ValueError(f"read_metrics: {str(path)!r} has version {data.get('version')!r}, expected {VERSION}")
    algorithms = data.get("algorithms")
    if not isinstance(algorithms, dict) or not isinstance(data.get("config"), dict):
        raise ValueError(f"read_metrics: {str(path)!r} lacks its `config` or `algorithms` table (was it edited?)")
    for key, entry in algorithms.items():
        if not isinstance(entry, dict) or entry.get("status") not in STATUSES:
            found = entry.get("status") if isinstance(entry, dict) else entry
            raise ValueError(f"read_metrics: {str(path)!r}: algorithm {key!r} has status {found!r}, expected one of "
                             f"{', '.join(STATUSES)} (was the file edited?)")
    return data


def check_matches_config(metrics: dict, config) -> None:
    """ValueError unless ``metrics`` lists exactly the algorithms of ``config`` (same keys, same order),
    each with its saved history when it finished: what a resume relies on."""
    saved = list(metrics["algorithms"])
    wanted = [entry.key for entry in config.algorithms]
    if saved != wanted:
        raise ValueError(f"{METRICS_FILE} lists the algorithms {saved} but its config gives {wanted}: the folder was "
                         "edited; restore it, or start a new run in another folder")
    from firm_core.federated.history import History

    for key, entry in metrics["algorithms"].items():
        if entry["status"] not in FINISHED:
            continue
        summary = entry.get("summary")
        try:
            if not isinstance(summary, dict) or not isinstance(summary.get("total_time_s"), int | float):
                raise ValueError("its summary is missing")
            History.from_dict(entry.get("history"))
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(f"{METRICS_FILE}: algorithm {key!r} is marked {entry['status']!r} but its saved result is "
                             f"unreadable ({exc}): the file was edited; restore it, or start a new run in another "
                             "folder") from None


def is_run_folder(path) -> bool:
    """True when ``path`` holds a readable metrics.json of a firm run."""
    try:
        read_metrics(path)
    except (ValueError, OSError):
        return False
    return True


def load_histories(path, *, include_unfinished: bool = False) -> dict:
    """{key: History} of the algorithms of a run folder (or metrics.json) that finished."""
    from firm_core.federated.history import History

    data = read_metrics(path)
    out = {}
    for key, entry in data["algorithms"].items():
        if entry["history"] is not None and (include_unfinished or entry["status"] in FINISHED):
            out[key] = History.from_dict(entry["history"])
    return out
