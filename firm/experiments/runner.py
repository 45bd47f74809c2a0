"""Run an experiment: every algorithm of a validated config on its problem, one after the other.

Results are saved as each algorithm finishes (metrics.json rewritten atomically, ``<key>.csv``), so a
failure or an interrupt loses at most the algorithm in flight; its checkpoints (every
``run.checkpoint_every`` rounds, and at the end) let ``--resume`` continue it. A failing algorithm is
recorded with its error and the others still run. Plots are drawn at the end from what finished.
"""

from __future__ import annotations

import shutil
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


@dataclass
class RunOutcome:
    """What :func:`run_experiment` produced: the folder, the histories that finished, the summary rows,
    the plot paths and the failures ({key: error message})."""

    out_dir: Path
    histories: dict = field(default_factory=dict)
    rows: list = field(default_factory=list)
    plots: dict = field(default_factory=dict)
    failures: dict = field(default_factory=dict)

    @property
    def table(self) -> str:
        return format_table(self.rows)


def checkpoint_dir(out_dir: Path, key: str) -> Path:
    return Path(out_dir) / CHECKPOINT_DIR / key


def _checkpoint_round(directory: Path) -> int:
    from firm_core.federated import engine

    state, _ = engine.load_checkpoint(directory)
    return state.round


def analytic_front(problem, num: int = FRONT_PLOT_POINTS) -> np.ndarray | None:
    """The problem's analytic Pareto front (num, M), or None when it has none."""
    front = problem.pareto_front(num)
    return None if front is None else np.asarray(front, dtype=np.float64)


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
    uninterrupted run)."""
    from firm_core.federated import engine
    from firm_core.federated.history import History

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not resume:  # a fresh run must never resume from an older run's checkpoints left in the folder
        shutil.rmtree(out_dir / CHECKPOINT_DIR, ignore_errors=True)
    front = analytic_front(config.problem)
    metrics = results.read_metrics(out_dir) if resume else results.new_metrics(config, front)
    metrics_path = out_dir / results.METRICS_FILE
    results.write_json(metrics_path, metrics)
    outcome = RunOutcome(out_dir=out_dir)
    for index, entry in enumerate(config.algorithms):
        record = metrics["algorithms"][entry.key]
        if resume and record["status"] == "done":
            history = History.from_dict(record["history"])
            outcome.histories[entry.key] = history
            outcome.rows.append(SummaryRow.from_history(entry.label, history, total_time_s=record["summary"]["total_time_s"]))
            echo(f"[{index + 1}/{len(config.algorithms)}] {entry.label}: done earlier, kept")
            continue
        ckpt = checkpoint_dir(out_dir, entry.key)
        resume_from = ckpt if resume and (ckpt / engine.STATE_FILE).is_file() else None
        note = f" (resuming from its checkpoint at round {_checkpoint_round(ckpt)})" if resume_from is not None else ""
        echo(f"[{index + 1}/{len(config.algorithms)}] {entry.label}{note}")
        start = time.perf_counter()
        try:
            with round_bar(entry.label, enabled=progress) as hook:
                history = engine.run(config.problem, entry.config, config.run, progress=hook,
                                     checkpoint_dir=ckpt, resume_from=resume_from)
        except Exception as exc:  # noqa: BLE001 - one algorithm failing must not lose the others
            message = f"{type(exc).__name__}: {exc}"
            record.update(status="failed", error=message)
            results.write_json(metrics_path, metrics)
            outcome.failures[entry.key] = message
            echo(f"    FAILED: {message}")
            continue
        elapsed = time.perf_counter() - start
        row = SummaryRow.from_history(entry.label, history, total_time_s=elapsed)
        record.update(status="done", error=None, summary=row.to_dict(), history=history.to_dict())
        history.to_csv(out_dir / f"{entry.key}.csv")
        results.write_json(metrics_path, metrics)
        outcome.histories[entry.key] = history
        outcome.rows.append(row)

    if outcome.histories:
        labels = {e.key: e.label for e in config.algorithms}
        outcome.plots = draw_run_plots(
            {labels[k]: h for k, h in outcome.histories.items()}, out_dir, front=front, title=config.name
        )
    return outcome


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
