"""Commands that read stored runs: runs, show, compare, report."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from tuilab.cli.common import (
    RunArgument,
    RunsDirOption,
    app,
    err,
    out,
    report_error,
    runs_dir,
)
from tuilab.errors import TuilabError
from tuilab.presentation.text import plain


class ReportFormat(StrEnum):
    """`tuilab report --format`: a fixed choice (the shell completes it)."""

    md = "md"
    csv = "csv"
    json = "json"
    html = "html"


@app.command("runs")
def runs_command(
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Only this scenario (stem or name).")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only runs in this status: running, finished, failed, stopped, incomplete, "
            "corrupt.",
        ),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only runs with this tag (repeatable: all).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Started since a date (2026-11-20) or a time ago (3d, 12h)."),
    ] = None,
    grep: Annotated[
        str | None,
        typer.Option("--grep", help="Text in the run id, scenario, variants, tags or note."),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help="started (newest first), best_val_accuracy, test_accuracy (highest first), "
            "scenario or status.",
        ),
    ] = None,
    trash: Annotated[bool, typer.Option("--trash", help="List the deleted runs instead.")] = False,
    runs: RunsDirOption = None,
) -> None:
    """List stored runs: scenario, date, variants, status, best validation accuracy, tags."""
    from tuilab.headless.library_cmds import trash_table
    from tuilab.headless.store_cmds import runs_table
    from tuilab.runtime.run_query import RunQuery

    try:
        query = RunQuery.parse(scenario, status, tag, since, grep)
        table = trash_table if trash else runs_table
        out.print(table(runs_dir(runs), out.width, query, sort))
    except TuilabError as exc:
        report_error(exc)


@app.command()
def show(
    run: RunArgument,
    app_: Annotated[bool, typer.Option("--app", help="Open it in the app's dashboard.")] = False,
    runs: RunsDirOption = None,
) -> None:
    """Print one stored run's results and curves (or open it in the app with --app)."""
    from tuilab.headless.store_cmds import show as run_show
    from tuilab.runtime.run_listing import find_run

    try:
        if app_:
            from tuilab.app.launch import launch_app_for_stored

            folder = find_run(runs_dir(runs), run, logdirs=True)
            raise typer.Exit(launch_app_for_stored(folder.path, runs_dir(runs)))
        raise typer.Exit(run_show(runs_dir(runs), run, out))
    except TuilabError as exc:
        report_error(exc)


@app.command()
def compare(
    items: Annotated[list[str], typer.Argument(help="RUN[:VARIANT] items to compare.")],
    runs: RunsDirOption = None,
) -> None:
    """Overlay curves and tabulate results across stored runs, with scenario and layer diffs."""
    from tuilab.headless.store_cmds import compare as run_compare

    try:
        raise typer.Exit(run_compare(runs_dir(runs), items, out))
    except TuilabError as exc:
        report_error(exc)


@app.command()
def report(
    run: RunArgument,
    format_: Annotated[
        ReportFormat, typer.Option("--format", help="md, csv, json or html (one page, figures in).")
    ] = ReportFormat.md,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (md: the figures go beside it)."),
    ] = None,
    runs: RunsDirOption = None,
) -> None:
    """Write a run's results, curves, confusion matrices, layer statistics and data samples."""
    from tuilab.headless.report import REPORTS, check_output, write_report_files
    from tuilab.headless.report_html import html_report
    from tuilab.runtime.run_listing import find_run

    try:
        if output:  # a regular file in a regular folder, or nothing is read or written
            check_output(output, format_.value)
        folder = find_run(runs_dir(runs), run, logdirs=True)
        if not output:
            sys.stdout.write(REPORTS.get(format_.value, html_report)(folder))
            return
        figures = write_report_files(folder, output, format_.value)
        err.print(plain(f"wrote {output}"))
        for name in figures.names():
            err.print(plain(f"wrote {output.with_name(name)}"))
        if format_ is ReportFormat.md and not figures:
            from tuilab.presentation.figures import INSTALL_HINT, have_matplotlib

            if not have_matplotlib():
                err.print(plain(f"no figures: they need the plot extra: {INSTALL_HINT}"))
    except TuilabError as exc:
        report_error(exc)
