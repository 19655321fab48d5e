"""The Results tab: the results table, a note under it, and for a sweep its chart (`y`)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tuilab.app.run_state import RunState
from tuilab.app.widgets.results import ResultsTable
from tuilab.presentation.sweeps import best_line, chart_key, sweep_chart_text, sweep_rows

SWEEP_METRIC = "val_accuracy"
"""The metric a sweep's best trial is chosen by, and charted, in the app (never a test one)."""


class ResultsPane(Vertical):
    """Results table and its note; a sweep's table names its best trial, `y` shows its chart."""

    def compose(self) -> ComposeResult:
        yield ResultsTable(id="results-table")
        yield Static(id="sweep-chart")
        yield Static(id="results-note")

    def on_mount(self) -> None:
        self.chart_shown = False
        self.query_one("#sweep-chart").display = False

    def draw(self, state: RunState) -> None:
        """Redraw from the run's state: the table (or the sweep chart) and the note."""
        table = self.query_one(ResultsTable)
        chart = self.query_one("#sweep-chart", Static)
        showing_chart = self.chart_shown and state.sweep is not None
        table.display, chart.display = not showing_chart, showing_chart
        note = self.query_one("#results-note", Static)
        if showing_chart and state.sweep is not None:
            rows = sweep_rows(state.sweep, state.book, SWEEP_METRIC)
            width = max(30, self.size.width or self.app.size.width)
            height = max(8, (self.size.height or 20) - 4)
            index = chart_key(state.sweep, rows, None)
            text = sweep_chart_text(state.sweep, rows, index, SWEEP_METRIC, (width, height), True)
            chart.update(Text.from_ansi(text))
            note.update(Text(best_line(rows, SWEEP_METRIC) + "\ny: the table"))
            return
        dropped = table.update_from(state)
        parts = [f"too narrow for: {', '.join(dropped)} (o sorts)" if dropped else "o sorts"]
        if state.sweep is not None:
            rows = sweep_rows(state.sweep, state.book, SWEEP_METRIC)
            parts = [best_line(rows, SWEEP_METRIC), parts[0] + " · y: the sweep chart"]
        note.update(Text("\n".join(parts)))

    def toggle_chart(self, state: RunState) -> bool:
        """Switch between a sweep's table and its chart; False when the run is no sweep."""
        if state.sweep is None:
            return False
        self.chart_shown = not self.chart_shown
        self.draw(state)
        return True
