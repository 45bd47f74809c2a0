"""``firm check-theory [--out DIR] [--quick]``: run every theory check, write the report, exit 1 on any violation."""

from __future__ import annotations

import click


@click.command(name="check-theory")
@click.option("--out", "out_dir", default="runs/check-theory", show_default=True, type=click.Path(file_okay=False),
              help="Folder for report.md, results.json and the PNG plots.")
@click.option("--quick", is_flag=True, help="A small grid (a few seconds); the default grid takes about 1.5 CPU-minutes.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def check_theory(out_dir: str, quick: bool, no_progress: bool):
    """Check the finite-time bounds of docs/theory.md on toy problems with exactly known constants."""
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
    viol = res.violations()
    if viol:
        for v in viol:
            click.echo(f"VIOLATION {v}", err=True)
        raise SystemExit(1)
    click.echo(f"PASS: no violation ({res.seconds:.1f} s)")
