"""Run an experiment: every algorithm of a validated config on its problem, one after the other.

The output folder is checked before any work (:func:`prepare_out_dir`): it must be new, empty or an
earlier firm run's folder, and writable; nothing in it that firm did not write is ever deleted.
Results are saved as each algorithm finishes (metrics.json rewritten atomically, ``<key>.csv``), so a
failure or an interrupt loses at most the algorithm in flight; its checkpoints (every
``run.checkpoint_every`` rounds, at the end, and on Ctrl-C) let ``--resume`` continue it bit for bit. A
failing algorithm is recorded with its error and the others still run; a diverging one stops with the
history so far and status "diverged". Plots are drawn at the end from what finished.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..progress import round_bar
from . import results
from .config import ExperimentConfig
from .summary import SummaryRow, format_table

#: Points drawn on the analytic Pareto front in the plots.
FRONT_PLOT_POINTS = 200
CHECKPOINT_DIR = "checkpoints"
PLOT_FILES = {
    "phi": "phi.png",
    "d_lambda": "d_lambda.png",
    "objectives": "objectives.png",
    "front": "front.png",
}
#: How many unexpected entries an error about a non-empty output folder names.
SHOWN_ENTRIES = 5


class RunFolderError(ValueError):
    """The output / resume folder cannot be used; the message names it and says what to do."""


@dataclass
class RunOutcome:
    """What :func:`run_experiment` produced: the folder, the histories that finished, the summary rows,
    the plot paths, the failures ({key: error message}) and the divergences ({key: message})."""

    out_dir: Path
    histories: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    plots: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)
    diverged: dict = field(default_factory=dict)

    @property
    def table(self) -> str:
        return format_table(self.rows)


def checkpoint_dir(out_dir: Path, key: str) -> Path:
    return Path(out_dir) / CHECKPOINT_DIR / key


def _has_checkpoint(directory: Path) -> bool:
    from firm_core.federated import checkpoint

    return any((directory / name).is_file() for name in
               (checkpoint.MANIFEST_FILE, checkpoint.LEGACY_STATE_FILE, checkpoint.LEGACY_CHECKPOINT_FILE))


def analytic_front(problem, num: int = FRONT_PLOT_POINTS) -> np.ndarray | None:
    """The problem's analytic Pareto front (num, M), or None when it has none."""
    front = problem.pareto_front(num)
    return None if front is None else np.asarray(front, dtype=np.float64)


def _probe_writable(folder: Path) -> None:
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".firm-tmp-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RunFolderError(f"output folder {str(folder)!r} is not writable ({exc.strerror or exc}); choose "
                             "another --out or fix its permissions") from None


def prepare_out_dir(out_dir, config: ExperimentConfig, *, resume: bool = False) -> dict | None:
    """Check ``out_dir`` before any work; return its metrics.json content when resuming.

    A fresh run needs a new or empty folder, or an earlier firm run's folder (its outputs are replaced;
    of its checkpoints only the files firm wrote are removed). A resume needs a firm run's folder whose
    metrics.json matches its config and whose checkpoints load. RunFolderError says what is wrong."""
    from firm_core.federated import checkpoint

    if isinstance(out_dir, str) and not out_dir.strip():
        raise RunFolderError("the output folder must be named (got an empty path, which would write into the "
                             "current folder); pass --out DIR")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise RunFolderError(f"output folder {str(out_dir)!r} is a file; choose another --out")
    ckpt_root = out_dir / CHECKPOINT_DIR
    if ckpt_root.exists() and not ckpt_root.is_dir():
        raise RunFolderError(f"{str(ckpt_root)!r} is a file, where firm keeps checkpoints; move it away or choose "
                             "another --out")
    for entry in config.algorithms:
        path = checkpoint_dir(out_dir, entry.key)
        if path.exists() and not path.is_dir():
            raise RunFolderError(f"{str(path)!r} is a file, where firm keeps {entry.label}'s checkpoints; move it "
                                 "away or choose another --out")
    if resume:
        return _check_resume(out_dir, config)
    if out_dir.is_dir() and not results.is_run_folder(out_dir):
        foreign = sorted(p.name for p in out_dir.iterdir() if not checkpoint.is_checkpoint_file(p.name))
        if foreign:
            shown = ", ".join(foreign[:SHOWN_ENTRIES]) + (", ..." if len(foreign) > SHOWN_ENTRIES else "")
            raise RunFolderError(f"output folder {str(out_dir)!r} already holds files that are not from a firm run "
                                 f"({shown}); choose a new or empty --out (firm never deletes files it did not write)")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunFolderError(f"output folder {str(out_dir)!r} cannot be created ({exc.strerror or exc})") from None
    _probe_writable(out_dir)
    return None


def _check_resume(out_dir: Path, config: ExperimentConfig) -> dict:
    from firm_core.federated import checkpoint

    try:
        metrics = results.read_metrics(out_dir)
        results.check_matches_config(metrics, config)
    except ValueError as exc:
        raise RunFolderError(f"cannot resume from {str(out_dir)!r}: {exc}") from None
    _probe_writable(out_dir)
    for entry in config.algorithms:
        path = checkpoint_dir(out_dir, entry.key)
        if metrics["algorithms"][entry.key]["status"] in results.FINISHED or not _has_checkpoint(path):
            continue
        try:
            checkpoint.load_checkpoint(path, entry.config, config.problem)
        except ValueError as exc:
            raise RunFolderError(f"cannot resume {entry.label} from {str(path)!r}: {exc}") from None
    return metrics


def clear_old_checkpoints(out_dir) -> None:
    """Remove the checkpoint files of an earlier run in ``out_dir`` (only files firm writes)."""
    from firm_core.federated import checkpoint

    root = Path(out_dir) / CHECKPOINT_DIR
    if root.is_dir():
        for sub in sorted(root.iterdir()):
            if sub.is_dir():
                checkpoint.clear_checkpoint(sub)


def run_experiment(
    config: ExperimentConfig,
    out_dir,
    *,
    progress: bool = True,
    resume: bool = False,
    echo: Callable[[str], None] = print,
) -> RunOutcome:
    """Run every algorithm of ``config`` and write ``out_dir``/{metrics.json, <key>.csv, *.png}.

    With ``resume=True`` the folder's metrics.json is kept: finished algorithms are not rerun, and an
    unfinished one restarts from its latest checkpoint (the engine makes that bit-identical to an
    uninterrupted run). The folder is checked first (:func:`prepare_out_dir`). On Ctrl-C the algorithm in
    flight is checkpointed and marked "interrupted" before the KeyboardInterrupt propagates."""
    saved = prepare_out_dir(out_dir, config, resume=resume)
    out_dir = Path(out_dir)
    front = analytic_front(config.problem)
    if saved is None:
        clear_old_checkpoints(out_dir)  # a fresh run must never resume from an older run's checkpoints
        metrics = results.new_metrics(config, front)
        results.write_json(out_dir / results.METRICS_FILE, metrics)
    else:
        metrics = saved
    outcome = RunOutcome(out_dir=out_dir)
    for index, entry in enumerate(config.algorithms):
        _run_one(config, entry, f"[{index + 1}/{len(config.algorithms)}]", out_dir, metrics, outcome,
                 progress=progress, resume=resume, echo=echo)
    if outcome.histories:
        labels = {e.key: e.label for e in config.algorithms}
        outcome.plots = draw_run_plots(
            {labels[k]: h for k, h in outcome.histories.items()}, out_dir, front=front, title=config.name
        )
    return outcome


def _run_one(config, entry, prefix, out_dir: Path, metrics, outcome: RunOutcome, *, progress, resume, echo) -> None:
    """Run (or keep, or resume) one algorithm and record it in metrics.json."""
    from firm_core.federated import checkpoint, engine
    from firm_core.federated.history import History

    metrics_path = out_dir / results.METRICS_FILE
    record = metrics["algorithms"][entry.key]
    if resume and record["status"] in results.FINISHED:
        history = History.from_dict(record["history"])
        _keep(outcome, entry, history, record["summary"]["total_time_s"], record["status"])
        echo(f"{prefix} {entry.label}: {record['status']} earlier, kept")
        return
    ckpt = checkpoint_dir(out_dir, entry.key)
    resume_from = ckpt if resume and _has_checkpoint(ckpt) else None
    note = ""
    if resume_from is not None:
        state, saved = checkpoint.load_checkpoint(ckpt)
        if saved.status == "diverged":  # it stopped before metrics.json heard of it: its history is the result
            _record_result(out_dir, entry, saved, metrics, outcome, total_time_s=float("nan"), echo=echo)
            echo(f"{prefix} {entry.label}: diverged earlier (its checkpoint says so), kept")
            return
        note = f" (resuming from its checkpoint at round {state.round})"
    echo(f"{prefix} {entry.label}{note}")
    start = time.perf_counter()
    try:
        with round_bar(entry.label, enabled=progress) as hook:
            history = engine.run(config.problem, entry.config, config.run, progress=hook, checkpoint_dir=ckpt,
                                 resume_from=resume_from, checkpoint_on_interrupt=True)
    except KeyboardInterrupt as exc:
        where = getattr(exc, "checkpoint_round", None)
        record.update(status="interrupted", error="interrupted by the user" +
                      (f"; checkpoint at round {where}" if where is not None else ""))
        results.write_json(metrics_path, metrics)
        raise
    except Exception as exc:  # noqa: BLE001 - one algorithm failing must not lose the others
        message = f"{type(exc).__name__}: {exc}"
        record.update(status="failed", error=message)
        results.write_json(metrics_path, metrics)
        outcome.failures[entry.key] = message
        echo(f"    FAILED: {message}")
        return
    _record_result(out_dir, entry, history, metrics, outcome, total_time_s=time.perf_counter() - start, echo=echo)


def _record_result(out_dir: Path, entry, history, metrics, outcome: RunOutcome, *, total_time_s, echo) -> None:
    """Save a finished (or diverged) algorithm: its CSV, then its entry in metrics.json."""
    status = "diverged" if history.status == "diverged" else "done"
    row = _keep(outcome, entry, history, total_time_s, status)
    metrics["algorithms"][entry.key].update(status=status, error=history.message or None, summary=row.to_dict(),
                                            history=history.to_dict())
    history.to_csv(out_dir / f"{entry.key}.csv")
    results.write_json(out_dir / results.METRICS_FILE, metrics)
    if status == "diverged":
        echo(f"    DIVERGED: {history.message}")


def _keep(outcome: RunOutcome, entry, history, total_time_s: float, status: str) -> SummaryRow:
    row = SummaryRow.from_history(entry.label, history, total_time_s=total_time_s, status=status)
    outcome.histories[entry.key] = history
    outcome.rows.append(row)
    if status == "diverged":
        outcome.diverged[entry.key] = history.message
    return row


def curves_from_histories(histories: dict) -> dict:
    """Per-label arrays the plots take: phi and F at x_0..x_T (the final point appended), D_lambda per round."""
    out = {"phi": {}, "d_lambda": {}, "objectives": {}, "final": {}}
    for label, h in histories.items():
        final = h.final()
        out["phi"][label] = np.append(h.series("phi"), final.get("phi", np.nan))
        out["d_lambda"][label] = h.series("d_lambda")
        objectives = h.series("objectives")
        final_f = np.asarray(final.get("objectives", objectives[-1]), dtype=np.float64)
        out["objectives"][label] = np.vstack([objectives, final_f[None]])
        out["final"][label] = final_f[None]
    return out


def draw_run_plots(histories: dict, out_dir, *, front=None, title: str = "") -> dict:
    """Write phi.png, d_lambda.png, objectives.png, front.png for ``{label: History}``; return their paths."""
    from . import plots

    curves = curves_from_histories(histories)
    out_dir = Path(out_dir)
    prefix = f"{title}: " if title else ""
    return {
        "phi": plots.plot_stationarity(curves["phi"], out_dir / PLOT_FILES["phi"],
                                       title=prefix + r"Pareto stationarity $\phi(x_t)=\min_{\lambda\in\Delta}\ \|J(x_t)^{\top}\lambda\|^2$"),
        "d_lambda": plots.plot_disagreement(curves["d_lambda"], out_dir / PLOT_FILES["d_lambda"],
                                            title=prefix + r"client disagreement $D_\lambda=\mathrm{mean}_i\ \|\lambda_i-\bar{\lambda}\|^2$"),
        "objectives": plots.plot_objectives(curves["objectives"], out_dir / PLOT_FILES["objectives"], front=front,
                                            title=f"{prefix}objective trajectories"),
        "front": plots.plot_front(curves["final"], out_dir / PLOT_FILES["front"], front=front,
                                  title=f"{prefix}final points F(x_T) and the analytic Pareto front"),
    }
