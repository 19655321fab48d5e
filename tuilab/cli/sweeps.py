"""`tuilab sweep RUN`: a stored sweep's results by swept value."""

from __future__ import annotations

from typing import Annotated

import typer

from tuilab.cli.common import RunArgument, RunsDirOption, app, exit_with, out, runs_dir


@app.command("sweep")
def sweep_command(
    run: RunArgument,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help="Column to sort by: a swept key (lr, batch), val_accuracy, val_loss, "
            "test_accuracy, test_loss, status, epochs, seconds (default: --metric).",
        ),
    ] = None,
    metric: Annotated[
        str,
        typer.Option(
            "--metric", help="Validation metric that picks the best trial (never a test one)."
        ),
    ] = "val_accuracy",
    by: Annotated[
        str | None,
        typer.Option("--by", help="Swept key along the chart's x axis (default: the first)."),
    ] = None,
    runs: RunsDirOption = None,
) -> None:
    """Tabulate a stored sweep by its swept values, name the best trial and chart a metric."""
    from tuilab.headless.sweep_cmds import sweep_report

    exit_with(lambda: sweep_report(runs_dir(runs), run, out, sort, metric, by))
