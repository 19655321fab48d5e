"""Rich tables for the shell, built from the presentation layer's column specs.

Every cell is a `Text` (never parsed as markup). Numeric columns never wrap or shrink; when the
console is too narrow, whole columns are dropped by priority and the caption names them.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from tuilab.model.summary import ModelSummary
from tuilab.presentation.columns import (
    LAYER_COLUMNS,
    RESULT_COLUMNS,
    Column,
    ResultRow,
    Row,
    fit_columns,
    sort_rows,
    variant_rows,
)
from tuilab.presentation.text import clean
from tuilab.runtime.results import ResultsBook

STATUS_STYLE = {
    "finished": "green",
    "failed": "red",
    "stopped": "yellow",
    "incomplete": "red",
    "corrupt": "bold red",
    "running": "cyan",
}


def status_style(status: str) -> str:
    """The colour of a status word (`finished/failed ×3` takes its first word's)."""
    return STATUS_STYLE.get(status.split("/")[0].split(" ")[0], "")


def spec_table(
    title: str,
    columns: Sequence[Column[Row]],
    rows: Sequence[Row],
    width: int,
) -> Table:
    """A Rich table of `rows` under the columns that fit `width`; the caption names the rest."""
    kept, dropped = fit_columns(columns, rows, width)
    table = Table(title=clean(title) or None, title_justify="left")
    for col in kept:
        cells = [len(col.text(row)) for row in rows]
        widest = max([len(col.header), *cells])
        if col.numeric:
            table.add_column(col.header, justify="right", no_wrap=True, min_width=widest)
        else:
            table.add_column(col.header, overflow="fold")
    for row in rows:
        cells = []
        for col in kept:
            text = col.text(row)
            cells.append(Text(text, style=status_style(text) if col.key == "status" else ""))
        table.add_row(*cells)
    if dropped:
        table.caption = "too narrow for: " + ", ".join(c.header for c in dropped)
        table.caption_justify = "left"
    return table


def results_table(book: ResultsBook, width: int = 120) -> Table:
    """Per variant (mean ± std over repeats), best validation accuracy first; failures below."""
    rows = sort_rows(variant_rows(book), RESULT_COLUMNS[3])
    table = spec_table("Results", RESULT_COLUMNS, rows, width)
    reasons = [f"{row.label}: {row.reason}" for row in rows if row.reason]
    if reasons:
        note = "\n".join(clean(reason, limit=300) for reason in reasons)
        table.caption = "\n".join(filter(None, [note, table.caption or ""]))
        table.caption_justify = "left"
        table.caption_style = "red"
    return table


def summary_table(summary: ModelSummary, title: str = "", width: int = 120) -> Table:
    """The Keras-style layer table with totals in the caption."""
    table = spec_table(title, LAYER_COLUMNS, summary.rows, width)
    totals = f"Total params: {summary.total:,}  Trainable: {summary.trainable:,}  " + (
        f"Non-trainable: {summary.non_trainable:,}"
    )
    table.caption = "\n".join(filter(None, [totals, table.caption or ""]))
    table.caption_justify = "left"
    return table


__all__ = ["ResultRow", "results_table", "spec_table", "status_style", "summary_table"]
