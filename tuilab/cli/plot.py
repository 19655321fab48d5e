"""`tuilab plot`: stored curves as a PNG, SVG or PDF figure (the optional `plot` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuilab.cli.common import RunsDirOption, app, err, report_error, runs_dir
from tuilab.errors import TuilabError
from tuilab.presentation.text import plain


@app.command()
def plot(
    items: Annotated[list[str], typer.Argument(help="RUN[:VARIANT] items to draw.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Figure file: .png, .svg or .pdf.")
    ],
    metric: Annotated[
        str, typer.Option("--metric", "-m", help="Any logged metric: loss, accuracy, ...")
    ] = "accuracy",
    size: Annotated[
        str | None, typer.Option("--size", help="Width x height in inches (default 8x5).")
    ] = None,
    runs: RunsDirOption = None,
) -> None:
    """Draw stored curves into a PNG, SVG or PDF figure: a colour per trial, training solid,
    validation dashed, a variant's repeats as mean ± std (needs the plot extra)."""
    from tuilab.headless.store_cmds import parse_items
    from tuilab.presentation.figures import (
        figure_format,
        parse_size,
        require_matplotlib,
        save_figure,
        stored_figure,
    )
    from tuilab.presentation.output_files import output_target

    try:
        output_target(output, example="curves.png")  # a regular file in a regular folder
        figure_format(output)
        inches = parse_size(size)
        require_matplotlib()
        save_figure(stored_figure(parse_items(runs_dir(runs), items), metric, inches), output)
        err.print(plain(f"wrote {output}"))
    except TuilabError as exc:
        report_error(exc)
