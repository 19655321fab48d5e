"""Rich tables shared by the headless commands: layer summaries and results."""

from __future__ import annotations

from rich.table import Table

from tuilab.model.summary import ModelSummary


def format_shape(shape: tuple[int | None, ...]) -> str:
    """`(None, 28, 28, 1)` the way Keras prints it."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def summary_table(summary: ModelSummary, title: str = "") -> Table:
    """The Keras-style layer table with totals in the caption."""
    table = Table(title=title or None, title_justify="left", expand=False)
    table.add_column("Layer")
    table.add_column("Type")
    table.add_column("Output shape")
    table.add_column("Params", justify="right")
    for row in summary.rows:
        table.add_row(row.name, row.type, format_shape(row.output_shape), f"{row.params:,}")
    table.caption = (
        f"Total params: {summary.total:,}  Trainable: {summary.trainable:,}  "
        f"Non-trainable: {summary.non_trainable:,}"
    )
    table.caption_justify = "left"
    return table
