"""``firm report``: the claims suite, written to DIR/report.md (figures, results.json) and docs/results.md."""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_DOCS_PAGE = Path("docs") / "results.md"


@click.command(name="report")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="runs/report", show_default=True,
              help="Folder for report.md, results.json and figures/ (an interrupted suite resumes from it).")
@click.option("--quick", is_flag=True, help="The small suite (2 seeds, 12 rounds; under a minute).")
@click.option("--docs-page", type=click.Path(dir_okay=False), default=None,
              help=f"Page to refresh with the report [default: {DEFAULT_DOCS_PAGE} when ./docs exists].")
@click.option("--no-docs", is_flag=True, help="Do not refresh the docs page.")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
def report(out_dir, quick, docs_page, no_docs, progress):
    """Measure FIRM's claims against every baseline; one section and one computed verdict per claim."""
    from .suite import run_report

    if no_docs and docs_page is not None:
        raise click.UsageError("pass either --docs-page or --no-docs, not both")
    if no_docs:
        page = None
    elif docs_page is not None:
        page = Path(docs_page)
    else:
        page = DEFAULT_DOCS_PAGE if DEFAULT_DOCS_PAGE.parent.is_dir() else None
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise click.UsageError(f"--out: {str(out)!r} exists and is not a folder")
    outcome = run_report(out, quick=quick, progress=progress, docs_page=page, log=click.echo)
    for key in ("dynamics", "drift", "tradeoffs", "communication", "convergence", "preference", "llm"):
        sec = outcome.results["sections"].get(key)
        if sec is not None:
            click.echo(f"{key:<14} {sec['verdict']['verdict']}")
    click.echo(f"report: {outcome.report_path} ({outcome.seconds:.1f} s)" + (f"; docs page: {page}" if page else ""))
