"""Preference sweep: run algorithms for preferences p spread over the simplex and score the final points.

For each algorithm of ``config.sweep`` and each p of :func:`preference_grid`, one federated run with
``preference = p`` gives a final point F(x_T). Against the analytic Pareto front (``front_points``
samples) the sweep reports, per algorithm,

    hypervolume HV(points; r)  and  IGD(points, front) = mean over front samples of the distance to
    the nearest point,

with the reference point r = sweep.reference, or by default the front's nadir pushed out by
REFERENCE_MARGIN of the front's range per objective: r = nadir + margin (nadir - ideal). The front's
own hypervolume with the same r is the upper bound the points are compared to. A run that diverges
(its history's status) is listed with its message and left out of the scores and the plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firm_core.problems._checks import simplex_lattice
from . import results
from .config import ExperimentConfig

#: Default hypervolume reference point: front nadir + REFERENCE_MARGIN * (nadir - ideal).
REFERENCE_MARGIN = 0.1
SWEEP_FILE = "sweep.json"
PARETO_PLOT = "pareto.png"


def preference_grid(num_objectives: int, points: int) -> np.ndarray:
    """Preferences on the simplex: M = 2, ``points`` evenly spaced p = (s, 1 - s), s from 1 to 0;
    M >= 3, the simplex lattice with ``points`` values per edge (all p with entries k / (points - 1))."""
    if isinstance(num_objectives, bool) or not isinstance(num_objectives, int) or num_objectives < 2:
        raise ValueError(f"preference_grid: `num_objectives` must be an integer >= 2, got {num_objectives!r}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 2:
        raise ValueError(f"preference_grid: `points` must be an integer >= 2, got {points!r}")
    if num_objectives == 2:
        s = np.linspace(1.0, 0.0, points)
        return np.stack([s, 1.0 - s], axis=1)
    return simplex_lattice(num_objectives, points - 1)


def default_reference(front: np.ndarray, margin: float = REFERENCE_MARGIN) -> np.ndarray:
    """r = nadir + margin (nadir - ideal), per objective (a range of 0 gets margin * max(1, |nadir|))."""
    nadir, ideal = front.max(axis=0), front.min(axis=0)
    span = nadir - ideal
    span = np.where(span > 0, span, np.maximum(1.0, np.abs(nadir)))
    return nadir + margin * span


@dataclass
class SweepOutcome:
    """Final points per algorithm label (P, M), the scores, and where they were written."""

    out_dir: Path
    preferences: np.ndarray
    points: dict
    hypervolume: dict
    igd: dict
    front_hypervolume: float | None
    reference: np.ndarray | None
    plot: Path
    json_path: Path
    diverged: dict = None  # {label: [preference of each run that diverged]}

    @property
    def table(self) -> str:
        lines = [f"{'algorithm':<22}{'points':>7}{'hypervolume':>14}{'IGD':>12}"]
        for label, pts in self.points.items():
            hv, igd = self.hypervolume.get(label), self.igd.get(label)
            note = f"  ({len(self.diverged[label])} diverged, left out)" if self.diverged and self.diverged.get(label) else ""
            lines.append(f"{label:<22}{len(pts):>7}{_fmt(hv):>14}{_fmt(igd):>12}{note}")
        if self.front_hypervolume is not None:
            lines.append(f"{'analytic front':<22}{'':>7}{_fmt(self.front_hypervolume):>14}{'0':>12}")
            lines.append(f"reference point r = {np.array2string(self.reference, precision=4)}")
        return "\n".join(lines)


def _fmt(v) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def run_sweep(config: ExperimentConfig, out_dir, *, progress: bool = True) -> SweepOutcome:
    """Run the sweep of ``config`` and write ``out_dir``/sweep.json and pareto.png."""
    from tqdm.auto import tqdm

    from firm_core import pareto
    from firm_core.federated import engine
    from . import plots

    problem, settings = config.problem, config.sweep
    m = int(problem.num_objectives)
    prefs = preference_grid(m, settings.points)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    points: dict[str, np.ndarray] = {}
    finals: dict[str, list] = {}
    diverged: dict[str, list] = {}
    jobs = [(entry, p) for entry in settings.algorithms for p in prefs]
    bar = tqdm(jobs, desc="sweep", unit="run", disable=not progress)
    for entry, p in bar:
        bar.set_postfix_str(f"{entry.label} p={np.array2string(p, precision=2)}")
        cfg = entry.config.replace(preference=tuple(float(v) for v in p))
        history = engine.run(problem, cfg, config.run, progress=False)
        final = history.final()
        points.setdefault(entry.label, [])
        diverged.setdefault(entry.label, [])
        if history.status == "diverged":
            diverged[entry.label].append(p.tolist())
        else:
            points[entry.label].append(np.asarray(final["objectives"], dtype=np.float64))
        finals.setdefault(entry.label, []).append(
            {"preference": p.tolist(), "objectives": final["objectives"], "phi": final.get("phi"),
             "dist_pareto": final.get("dist_pareto"), "status": history.status, "message": history.message})
    points = {label: np.vstack(v) if v else np.empty((0, m)) for label, v in points.items()}

    front = problem.pareto_front(settings.front_points)
    hv, igd, front_hv, reference = {}, {}, None, None
    if front is not None:
        front = np.asarray(front, dtype=np.float64)
        reference = np.asarray(settings.reference, dtype=np.float64) if settings.reference else default_reference(front)
        front_hv = float(pareto.hypervolume(front, reference))
        for label, pts in points.items():
            if len(pts):
                hv[label] = float(pareto.hypervolume(pts, reference))
                igd[label] = float(pareto.igd(pts, front))

    annotations = {label: f"HV {hv[label]:.3f}, IGD {igd[label]:.3f}" for label in hv}
    title = f"{config.name}: preference sweep, {len(prefs)} points"
    if front_hv is not None:
        title += f" (front HV {front_hv:.3f})"
    plot = plots.plot_front({k: v for k, v in points.items() if len(v)}, out_dir / PARETO_PLOT, front=front, title=title, annotations=annotations)
    data = {
        "format": "firm-sweep",
        "version": 1,
        "name": config.name,
        "config": config.to_dict(),
        "problem": problem.describe(),
        "preferences": prefs.tolist(),
        "reference": None if reference is None else reference.tolist(),
        "front_hypervolume": front_hv,
        "algorithms": {
            label: {"points": points[label].tolist(), "hypervolume": hv.get(label), "igd": igd.get(label),
                    "runs": finals[label]}
            for label in points
        },
    }
    json_path = results.write_json(out_dir / SWEEP_FILE, data)
    return SweepOutcome(out_dir=out_dir, preferences=prefs, points=points, hypervolume=hv, igd=igd,
                        front_hypervolume=front_hv, reference=reference, plot=plot, json_path=json_path,
                        diverged=diverged)
