"""``firm run`` and ``firm sweep``: click commands over :mod:`firm.experiments`.

Every config field is validated before any round runs; a bad field is a click error naming the
field path and the value found.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from .config import ConfigError, load_config, validate_config
from .results import FINISHED, METRICS_FILE, read_metrics

#: Where ``firm run`` / ``firm sweep`` write when no --out is given: runs/<name>/ (or runs/<name>-sweep/).
RUNS_DIR = Path("runs")
#: Exit status after Ctrl-C (128 + SIGINT, the shell's convention).
INTERRUPTED_EXIT_CODE = 130


def _load(config_path, **overrides):
    try:
        return load_config(config_path, **overrides)
    except ConfigError as exc:
        where = f"{config_path}: " if config_path else ""
        raise click.UsageError(f"invalid config: {where}{exc}") from None


def _check_out_option(out_dir: str | None) -> Path | None:
    """--out as a Path; an empty value is refused (it would mean the current folder)."""
    if out_dir is None:
        return None
    if not out_dir.strip():
        raise click.UsageError(f"--out must name an output folder, got {out_dir!r} (an empty path would write "
                               "into the current folder); pass e.g. --out runs/my-run")
    return Path(out_dir)


def _interrupt_message(out_dir: Path, config) -> str:
    """What Ctrl-C left behind and what to do next, read from the folder itself."""
    try:
        metrics = read_metrics(out_dir)
    except ValueError:
        metrics = None
    if metrics is None or metrics.get("config") != config.to_dict():
        return (f"interrupted before anything was saved in {out_dir}; run the same command again to start over")
    statuses = {k: v["status"] for k, v in metrics["algorithms"].items()}
    done = sum(s in FINISHED for s in statuses.values())
    where = "".join(f"; {v['label']}: {v['error']}" for v in metrics["algorithms"].values()
                    if v["status"] == "interrupted" and v.get("error"))
    return (f"interrupted: {done} of {len(statuses)} algorithms finished{where}. Everything is saved in {out_dir}; "
            f"continue with: firm run --resume {shlex.quote(str(out_dir))}")


@click.command(name="run")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Experiment config (.toml, .yaml or .json). Default: the embedded default experiment.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output folder: new, empty, or an earlier run's folder. Default: runs/<name>/.")
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Continue the run in this folder from its checkpoints (its saved config is used).")
@click.option("--name", help="Run name (overrides the config's `name`; names the default output folder).")
@click.option("--rounds", type=int, help="Communication rounds T (overrides run.rounds).")
@click.option("--quiet", is_flag=True, help="No progress bars; print only the summary table.")
def run(config_path, out_dir, resume_dir, name, rounds, quiet):
    """Run FIRM and its baselines on one problem; write metrics.json, a CSV per algorithm and plots.

    With no options it runs the embedded default experiment: heterogeneous quadratics with N = 20
    clients and M = 2 objectives, FIRM against Local-MGDA, FedAvg-LS, FMGDA, FSMGDA and FedCMOO.
    Ctrl-C checkpoints the algorithm in flight and prints how to continue (``--resume``).
    Every beta in a config is absolute (the regularization weight itself), as in the Python API.
    """
    from .runner import RunFolderError, prepare_out_dir, run_experiment

    echo = (lambda s: None) if quiet else click.echo
    if resume_dir is not None:
        clashes = [opt for opt, val in (("--config", config_path), ("--out", out_dir), ("--name", name),
                                        ("--rounds", rounds)) if val is not None]
        if clashes:
            raise click.UsageError(f"--resume continues a run with its saved config and folder; "
                                   f"drop {', '.join(clashes)}")
        try:
            saved = read_metrics(resume_dir)
            config = validate_config(saved["config"])
        except ValueError as exc:
            raise click.UsageError(f"cannot resume from {str(resume_dir)!r}: {exc}") from None
        out_dir = resume_dir
    else:
        out_dir = _check_out_option(out_dir)
        config = _load(config_path, name=name, rounds=rounds)
        out_dir = out_dir if out_dir is not None else RUNS_DIR / config.name
    try:
        prepare_out_dir(out_dir, config, resume=resume_dir is not None)  # every folder check before any work
    except RunFolderError as exc:
        raise click.UsageError(str(exc)) from None
    echo(f"firm run: {config.name}: problem {config.problem.name}, {len(config.algorithms)} algorithms, "
         f"{config.run.rounds} rounds -> {out_dir}")
    try:
        outcome = run_experiment(config, out_dir, progress=not quiet, resume=resume_dir is not None, echo=echo)
    except KeyboardInterrupt:
        click.echo("\n" + _interrupt_message(Path(out_dir), config), err=True)
        sys.exit(INTERRUPTED_EXIT_CODE)
    except RunFolderError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(outcome.table)
    written = [METRICS_FILE, *(f"{k}.csv" for k in outcome.histories), *(p.name for p in outcome.plots.values())]
    echo(f"wrote {out_dir}/: {', '.join(written)}")
    for key, message in outcome.diverged.items():
        click.echo(f"note: {key} diverged and stopped early: {message}", err=True)
    if outcome.failures:
        failed = ", ".join(f"{k} ({msg})" for k, msg in outcome.failures.items())
        raise click.ClickException(f"{len(outcome.failures)} algorithm(s) failed: {failed}; "
                                   f"the others are saved in {out_dir}")


@click.command(name="sweep")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Experiment config (.toml, .yaml or .json); its [sweep] section picks the algorithms.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Output folder. Default: runs/<name>-sweep/.")
@click.option("--points", type=int, help="Preference points P (overrides sweep.points).")
@click.option("--rounds", type=int, help="Communication rounds per point (overrides run.rounds).")
@click.option("--quiet", is_flag=True, help="No progress bar; print only the summary.")
def sweep(config_path, out_dir, points, rounds, quiet):
    """Preference sweep: run FIRM (and FedAvg-LS) for P preferences p on the simplex, plot the final
    points over the analytic Pareto front, and report hypervolume and IGD; writes sweep.json, pareto.png."""
    from .sweep import run_sweep

    out_dir = _check_out_option(out_dir)
    config = _load(config_path, points=points, rounds=rounds)
    out_dir = out_dir if out_dir is not None else RUNS_DIR / f"{config.name}-sweep"
    outcome = run_sweep(config, out_dir, progress=not quiet)
    click.echo(outcome.table)
    if not quiet:
        click.echo(f"wrote {out_dir}/: sweep.json, {outcome.plot.name}")
