"""``firm check-theory [--out DIR] [--quick] [--problem FILE]``: run every theory check (or, with
``--problem``, Theorem 1 and the federated bound on your own problem), write the report, exit 1 on any violation."""

from __future__ import annotations

import click


@click.command(name="check-theory")
@click.option("--out", "out_dir", default="runs/check-theory", show_default=True, type=click.Path(file_okay=False),
              help="Folder for report.md, results.json and the PNG plots.")
@click.option("--quick", is_flag=True, help="A small grid (a few seconds); the default grid takes about 1.5 CPU-minutes.")
@click.option("--problem", "problem_file", default=None, type=click.Path(dir_okay=False),
              help="A TOML/YAML/JSON file with a [problem] table (as in `firm run` configs), optional [constants] and "
                   "[check] tables: check Theorem 1 and the federated bound on that problem instead of the toy grid.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def check_theory(out_dir: str, quick: bool, problem_file: str | None, no_progress: bool):
    """Check the finite-time bounds of docs/theory.md on toy problems with exactly known constants, or on your own problem."""
    if problem_file is not None:
        if quick:
            raise click.UsageError("--quick applies to the toy grid only; it cannot be given with --problem")
        _check_user_problem(problem_file, out_dir)
        return
    from .report import classify, summary_counts, write_report
    from .suite import run_suite

    res = run_suite(quick=quick, progress=not no_progress)
    path = write_report(res, out_dir)
    ratios = ", ".join(f"{c.spec.name}: {c.ratio:.3g} ({classify(c)})" for c in res.cells)
    click.echo(f"measured / bound per cell: {ratios}")
    n = summary_counts(res)
    click.echo(f"informative: Theorem 1 {n['informative_theorem1']}/{n['theorem1']}; federated a-priori {n['informative_apriori']}/"
               f"{n['federated']}, with the run's own constants {n['informative_local']}/{n['federated']}, a-posteriori chain "
               f"{n['informative_a_posteriori']}/{n['federated']}; certificates {n['certificates']}, sanity checks {n['sanity']}, "
               f"not informative {n['not_informative']}")
    click.echo(f"report: {path}")
    _finish(res.violations(), f"PASS: no violation ({res.seconds:.1f} s)")


def _check_user_problem(problem_file: str, out_dir: str) -> None:
    from .user_problem import UserCheckError, load_check_file, run_user_check, write_user_report

    try:
        problem, label, stated, settings = load_check_file(problem_file)
        res = run_user_check(problem, label, stated, settings)
    except UserCheckError as exc:
        raise click.UsageError(f"--problem {problem_file}: {' '.join(str(exc).split())}") from None
    path = write_user_report(res, out_dir)
    sources = ", ".join(f"{k} = {v:.4g} ({res.sources[k]})" for k, v in res.constants.items())
    click.echo(f"constants: {sources}")
    t1, fd = res.theorem1, res.federated
    if t1.get("applicable"):
        click.echo(f"Theorem 1: measured / bound {t1['ratio']:.3g}, informative {t1['informative']}: {t1['verdict']}")
    else:
        click.echo(f"Theorem 1: not applicable (gamma L_phi = {t1['gamma_L_phi']:.3g} >= 2)")
    click.echo(f"federated ({fd['active']}): measured / bound {fd['ratio']:.3g}, informative {fd['informative']}: {fd['verdict']}")
    click.echo(f"report: {path}")
    _finish(res.violations(), f"PASS: {res.verdict(True)} ({res.seconds:.1f} s)")


def _finish(violations: list[str], ok_line: str) -> None:
    if violations:
        for v in violations:
            click.echo(f"VIOLATION {v}", err=True)
        raise SystemExit(1)
    click.echo(ok_line)
