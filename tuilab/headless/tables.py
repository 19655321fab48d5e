"""Rich tables for the shell, built from the presentation layer's column specs.

Every cell is a `Text` (never parsed as markup). Numeric columns never wrap or shrink; when the
console is too narrow, whole columns are dropped by priority and the caption names them.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from tuilab.headless.fold import column_widths, fold_line
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


def add_caption(table: Table, line: str, width: int | None = None) -> None:
    """Add a line under a table (as plain text: Rich reads a `str` caption as markup), with
    `width` folded between its items (the shell prints captions unwrapped)."""
    if width is not None:
        line = "\n".join(fold_line(part, width) for part in line.split("\n"))
    previous = str(table.caption) if table.caption else ""
    table.caption = Text(clean("\n".join(filter(None, [previous, line])), multiline=True))
    table.caption_justify = "left"


def spec_table(
    title: str,
    columns: Sequence[Column[Row]],
    rows: Sequence[Row],
    width: int,
) -> Table:
    """A Rich table of `rows` under the columns that fit `width`; the caption names the rest.

    No cell is ever split inside a word: numbers and ids keep their widest width, free text
    gets at least its longest word and wraps between words only.
    """
    kept, dropped = fit_columns(columns, rows, width, must_fit=True)
    widths = column_widths(kept, rows, width)
    shown = Text(fold_line(clean(title), width)) if title else None
    table = Table(title=shown, title_justify="left")
    for col, size in zip(kept, widths, strict=True):
        header = Text(clean(col.header))  # never read as markup: `default[lr=0.01]` stays
        if col.fold:
            table.add_column(header, width=size, overflow="fold")
        else:
            justify = "right" if col.numeric else "left"
            table.add_column(header, justify=justify, no_wrap=True, min_width=size)
    for row in rows:
        cells = []
        for col in kept:
            text = col.text(row)
            cells.append(Text(text, style=status_style(text) if col.key == "status" else ""))
        table.add_row(*cells)
    if dropped:
        add_caption(table, "too narrow for: " + ", ".join(c.header for c in dropped), width)
    return table


def results_table(book: ResultsBook, width: int = 120) -> Table:
    """Per variant (mean ± std over repeats), best validation accuracy first; failures below."""
    rows = sort_rows(variant_rows(book), RESULT_COLUMNS[3])
    table = spec_table("Results", RESULT_COLUMNS, rows, width)
    reasons = [f"{row.label}: {row.reason}" for row in rows if row.reason]
    if reasons:
        add_caption(table, "\n".join(clean(reason, limit=300) for reason in reasons), width)
    return table


def summary_table(summary: ModelSummary, title: str = "", width: int = 120) -> Table:
    """The Keras-style layer table with totals in the caption."""
    table = spec_table(title, LAYER_COLUMNS, summary.rows, width)
    totals = f"Total params: {summary.total:,}  Trainable: {summary.trainable:,}  " + (
        f"Non-trainable: {summary.non_trainable:,}"
    )
    add_caption(table, totals, width)
    return table
