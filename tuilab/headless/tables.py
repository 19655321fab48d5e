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
    Row,
    fit_columns,
    sort_rows,
    status_style,
    variant_rows,
)
from tuilab.presentation.text import clean
from tuilab.runtime.results import ResultsBook


def add_caption(table: Table, line: str) -> None:
    """Add a line under a table (as plain text: Rich reads a `str` caption as markup)."""
    previous = str(table.caption) if table.caption else ""
    table.caption = Text(clean("\n".join(filter(None, [previous, line])), multiline=True))
    table.caption_justify = "left"


def spec_table(
    title: str,
    columns: Sequence[Column[Row]],
    rows: Sequence[Row],
    width: int,
) -> Table:
    """A Rich table of `rows` under the columns that fit `width`; the caption names the rest."""
    kept, dropped = fit_columns(columns, rows, width)
    table = Table(title=Text(clean(title)) if title else None, title_justify="left")
    for col in kept:
        cells = [len(col.text(row)) for row in rows]
        widest = max([len(col.header), *cells])
        if col.fold:
            table.add_column(col.header, overflow="fold")
        else:
            justify = "right" if col.numeric else "left"
            table.add_column(col.header, justify=justify, no_wrap=True, min_width=widest)
    for row in rows:
        cells = []
        for col in kept:
            text = col.text(row)
            cells.append(Text(text, style=status_style(text) if col.key == "status" else ""))
        table.add_row(*cells)
    if dropped:
        add_caption(table, "too narrow for: " + ", ".join(c.header for c in dropped))
    return table


def results_table(book: ResultsBook, width: int = 120) -> Table:
    """Per variant (mean ± std over repeats), best validation accuracy first; failures below."""
    rows = sort_rows(variant_rows(book), RESULT_COLUMNS[3])
    table = spec_table("Results", RESULT_COLUMNS, rows, width)
    reasons = [f"{row.label}: {row.reason}" for row in rows if row.reason]
    if reasons:
        add_caption(table, "\n".join(clean(reason, limit=300) for reason in reasons))
    return table


def summary_table(summary: ModelSummary, title: str = "", width: int = 120) -> Table:
    """The Keras-style layer table with totals in the caption."""
    table = spec_table(title, LAYER_COLUMNS, summary.rows, width)
    totals = f"Total params: {summary.total:,}  Trainable: {summary.trainable:,}  " + (
        f"Non-trainable: {summary.non_trainable:,}"
    )
    add_caption(table, totals)
    return table
