"""The Keras-style layer table of the selected trial."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from tuilab.model.summary import ModelSummary
from tuilab.presentation.numbers import format_shape


class LayersView(Vertical):
    """Layer, type, output shape, parameters; totals underneath."""

    def compose(self) -> ComposeResult:
        yield DataTable(id="layers-table", cursor_type="row")
        yield Static(id="layers-totals")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in ("Layer", "Type", "Output shape", "Params"):
            table.add_column(column, key=column)

    def show(self, trial: str | None, summary: ModelSummary | None) -> None:
        """Show one trial's table (or a hint when nothing is selected yet)."""
        table = self.query_one(DataTable)
        table.clear()
        totals = self.query_one("#layers-totals", Static)
        if summary is None:
            totals.update("No variant selected yet.")
            return
        for row in summary.rows:
            table.add_row(row.name, row.type, format_shape(row.output_shape), f"{row.params:,}")
        totals.update(
            f"{trial}: total {summary.total:,} · trainable {summary.trainable:,} · "
            f"non-trainable {summary.non_trainable:,}"
        )
