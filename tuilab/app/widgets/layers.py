"""The Keras-style layer table of the selected trial (the shared `LAYER_COLUMNS`)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from tuilab.app.widgets.results import fill_spec_table
from tuilab.model.summary import ModelSummary
from tuilab.presentation.columns import LAYER_COLUMNS, fit_columns, layer_totals
from tuilab.presentation.layer_health import health
from tuilab.presentation.text import clean, plain
from tuilab.runtime.layer_events import LayerStats

MAX_FLAGGED = 3
"""Flagged layers named under the totals; the weights view (`w`) lists them all."""


def flagged_note(series: Sequence[LayerStats]) -> str:
    """`conv2d_3: vanishing — press w for weights` when layers are flagged, else ''."""
    flagged = [f"{clean(name)}: {', '.join(f)}" for name, f in health(series).items() if f]
    if not flagged:
        return ""
    more = f" and {len(flagged) - MAX_FLAGGED} more" if len(flagged) > MAX_FLAGGED else ""
    return f"\n{'; '.join(flagged[:MAX_FLAGGED])}{more} — press w for weights"


class LayersView(Vertical):
    """Layer, type, output shape, parameters; totals and flagged layers underneath (wrapped,
    never cut)."""

    DEFAULT_CSS = """
    LayersView #layers-table { height: auto; }
    LayersView #layers-totals { height: auto; }
    """

    _shown: tuple[str | None, ModelSummary | None, Sequence[LayerStats]] = (None, None, ())

    def compose(self) -> ComposeResult:
        yield DataTable(id="layers-table", cursor_type="row")
        yield Static(id="layers-totals")

    def _fit_table(self) -> None:
        """The table as tall as its rows, at most what the totals leave: it scrolls (PgDn from
        the trial list) and the totals stay in view right beneath it."""
        totals = self.query_one("#layers-totals", Static)
        room = self.size.height - totals.outer_size.height
        self.query_one(DataTable).styles.max_height = max(room, 3)

    def show(
        self, trial: str | None, summary: ModelSummary | None, series: Sequence[LayerStats] = ()
    ) -> None:
        """Show one trial's table (or a hint when nothing is selected yet); under the totals,
        the layers whose gradients `series` (its `LayerStats`) flags.

        Columns are fitted to this view's width, and fitted again when it is resized (before
        its first layout the view has no width yet)."""
        self._shown = (trial, summary, series)
        table = self.query_one(DataTable)
        totals = self.query_one("#layers-totals", Static)
        if summary is None:
            fill_spec_table(table, LAYER_COLUMNS, [])
            totals.update("No variant selected yet.")
            return
        width = self.size.width or self.app.size.width  # refitted on_resize once laid out
        kept, dropped = fit_columns(LAYER_COLUMNS, summary.rows, width, 2, can_fold=False)
        fill_spec_table(table, kept, summary.rows)
        note = f"\ntoo narrow for: {', '.join(c.header for c in dropped)}" if dropped else ""
        text = plain(f"{trial}: {layer_totals(summary)}{note}", multiline=True)
        flagged = flagged_note(series)
        if flagged:
            text.append(flagged, style="yellow")
        totals.update(text)
        self.call_after_refresh(self._fit_table)  # once the totals have their height

    def on_resize(self) -> None:
        """Refit the columns to the width the view now has."""
        if self._shown[1] is not None:
            self.show(*self._shown)
        self._fit_table()
