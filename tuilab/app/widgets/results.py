"""Results tables in the app, built from the presentation layer's column specs.

The same `RESULT_COLUMNS` make the shell's results table and the reports, so a header always
sits over its own values. DataTables scroll sideways, so no cell is ever cut here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from tuilab.app.run_state import RunState
from tuilab.presentation.columns import (
    RESULT_COLUMNS,
    Column,
    Row,
    fit_columns,
    sort_rows,
    status_style,
    trial_row,
)
from tuilab.presentation.sweeps import sweep_columns, sweep_rows
from tuilab.presentation.text import plain


def fill_spec_table(table: DataTable, columns: Sequence[Column[Row]], rows: Sequence[Row]) -> None:
    """Replace a DataTable's columns and rows; column keys are the spec's keys."""
    table.clear(columns=True)
    for col in columns:
        table.add_column(plain(col.header), key=col.key)
    for index, row in enumerate(rows):
        cells = []
        for col in columns:
            text = col.text(row)
            style = status_style(text) if col.key == "status" else ""
            cells.append(Text(text, style=style, justify="right" if col.numeric else "left"))
        table.add_row(*cells, key=str(index))


class ResultsTable(DataTable):
    """One row per trial, ranked by best validation accuracy; `o` sorts by the next column.

    For a sweep, one row per expanded variant under the sweep's columns (its swept values
    first, `*` on the best by validation accuracy), as `tuilab sweep` prints it.
    """

    COLUMNS = RESULT_COLUMNS
    """The shared results columns, in display order."""
    DEFAULT_SORT: ClassVar[dict[bool, str]] = {False: "best_val_accuracy", True: "val_accuracy"}
    """The column a table starts sorted by: plain results, or a sweep's."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.sort_key = ""
        self.rows_shown: list[Any] = []
        fill_spec_table(self, self.COLUMNS, [])

    def _spec(self, state: RunState) -> tuple[list[Column[Any]], list[Any]]:
        """The columns and rows this run shows: a sweep's or the plain results."""
        if state.sweep is not None:
            rows = sweep_rows(state.sweep, state.book)
            return sweep_columns(state.sweep, rows), rows
        rows = [trial_row(state.book.trials[t]) for t in state.trials if t in state.book.trials]
        return list(self.COLUMNS), rows

    def _sort_column(self, columns: list[Column[Any]], sweep: bool) -> Column[Any]:
        by_key = {c.key: c for c in columns}
        return by_key.get(self.sort_key) or by_key[self.DEFAULT_SORT[sweep]]

    def update_from(self, state: RunState) -> list[str]:
        """Rebuild the rows under the chosen sort, with the columns that fit; return the rest.

        Columns are dropped whole, by priority, so no number is ever cut at 80x24.
        """
        columns, rows = self._spec(state)
        self.rows_shown = sort_rows(rows, self._sort_column(columns, state.sweep is not None))
        width = self.size.width or self.app.size.width
        kept, dropped = fit_columns(columns, self.rows_shown, width, 2, can_fold=False)
        fill_spec_table(self, kept, self.rows_shown)
        return [c.header for c in dropped]

    def cycle_sort(self, state: RunState) -> str:
        """Sort by the next column (shown or not); return its header."""
        columns = [c for c in self._spec(state)[0] if c.key != "best"]
        current = self._sort_column(columns, state.sweep is not None)
        column = columns[(columns.index(current) + 1) % len(columns)]
        self.sort_key = column.key
        self.update_from(state)
        return column.header

    def on_resize(self) -> None:
        """Refit the columns to the new width (the screen redraws from its state)."""
        self.post_message(self.Refit())

    class Refit(Message):
        """The table's width changed: its owner should call `update_from` again."""

    def cell_text(self, row: int, key: str) -> str:
        """The text shown in a row under the column `key` (what a user reads there)."""
        return str(self.get_cell(str(row), key))
