"""Results tables in the app, built from the presentation layer's column specs.

The same `RESULT_COLUMNS` make the shell's results table and the reports, so a header always
sits over its own values. DataTables scroll sideways, so no cell is ever cut here.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from tuilab.app.run_state import RunState
from tuilab.presentation.columns import (
    RESULT_COLUMNS,
    Column,
    ResultRow,
    Row,
    fit_columns,
    sort_rows,
    status_style,
    trial_row,
)


def fill_spec_table(table: DataTable, columns: Sequence[Column[Row]], rows: Sequence[Row]) -> None:
    """Replace a DataTable's columns and rows; column keys are the spec's keys."""
    table.clear(columns=True)
    for col in columns:
        table.add_column(col.header, key=col.key)
    for index, row in enumerate(rows):
        cells = []
        for col in columns:
            text = col.text(row)
            style = status_style(text) if col.key == "status" else ""
            cells.append(Text(text, style=style, justify="right" if col.numeric else "left"))
        table.add_row(*cells, key=str(index))


class ResultsTable(DataTable):
    """One row per trial, ranked by best validation accuracy; `o` sorts by the next column."""

    COLUMNS = RESULT_COLUMNS
    """The shared results columns, in display order."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.sort_index = next(
            i for i, c in enumerate(self.COLUMNS) if c.key == "best_val_accuracy"
        )
        self.rows_shown: list[ResultRow] = []
        fill_spec_table(self, self.COLUMNS, [])

    def update_from(self, state: RunState) -> list[str]:
        """Rebuild the rows under the chosen sort, with the columns that fit; return the rest.

        Columns are dropped whole, by priority, so no number is ever cut at 80x24.
        """
        rows = [trial_row(state.book.trials[t]) for t in state.trials if t in state.book.trials]
        self.rows_shown = sort_rows(rows, self.COLUMNS[self.sort_index])
        width = self.size.width or self.app.size.width
        kept, dropped = fit_columns(self.COLUMNS, self.rows_shown, width, 2, can_fold=False)
        fill_spec_table(self, kept, self.rows_shown)
        return [c.header for c in dropped]

    def cycle_sort(self, state: RunState) -> str:
        """Sort by the next column (shown or not); return its header."""
        self.sort_index = (self.sort_index + 1) % len(self.COLUMNS)
        self.update_from(state)
        return self.COLUMNS[self.sort_index].header

    def on_resize(self) -> None:
        """Refit the columns to the new width (the screen redraws from its state)."""
        self.post_message(self.Refit())

    class Refit(Message):
        """The table's width changed: its owner should call `update_from` again."""

    def cell_text(self, row: int, key: str) -> str:
        """The text shown in a row under the column `key` (what a user reads there)."""
        return str(self.get_cell(str(row), key))
