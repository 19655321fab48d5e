"""The variant list: status, epoch progress and the colour each trial keeps everywhere."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

from tuilab.app.colors import text_color
from tuilab.app.run_state import RunState
from tuilab.presentation.columns import status_style
from tuilab.presentation.numbers import format_log_parts
from tuilab.presentation.text import compact_trial

STATUS_GLYPH = {
    "finished": "✓",
    "failed": "✗",
    "stopped": "■",
    "incomplete": "◌",
    "running": "▶",
    "waiting": "…",
}
"""One character per state, so the epoch column always fits a 28-column sidebar at 80x24."""
FIXED_WIDTH = 10
"""Dot and state columns (1 + 2 padding each) and the name's and epoch's padding."""


def epochs_done(state: RunState, trial: str) -> int:
    """The epoch in progress while the trial trains; once it has ended, the epochs it stored
    (a trial stopped in epoch 10 kept 9, as `results.json` and `history.csv` say)."""
    progress = state.progress[trial]
    result = state.book.trials.get(trial)
    if result is None or state.status(trial) == "running":
        return progress.epoch
    return result.epochs


def epoch_text(done: int, total: int) -> str:
    """`43/300`: epochs finished (or in progress) over the planned total, never shortened."""
    return f"{done}/{total}"


class VariantList(DataTable):
    """One row per trial; the highlighted row selects the trial other tabs show.

    States: ▶ training, ✓ finished, ■ stopped, ✗ failed, … waiting. The dot is the trial's
    colour in every chart (· when its curves are hidden).
    """

    DEFAULT_CSS = """
    VariantList { height: auto; max-height: 12; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("pagedown", "screen.page(1)", "Page down", show=False),
        Binding("pageup", "screen.page(-1)", "Page up", show=False),
    ]
    """PgDn/PgUp page the open tab (the arrows move in this list), so every table on the
    dashboard can be scrolled without leaving the trial list."""

    _shown: tuple[RunState, set[str]] | None = None

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = False
        self.add_column("", key="dot", width=1)
        self.add_column("Variant", key="name")
        self.add_column("", key="state", width=1)
        self.add_column("Epoch", key="epoch")

    def name_width(self, epoch_width: int) -> int:
        """Characters left for a name once the other columns have what they need."""
        return max(6, self.size.width - FIXED_WIDTH - epoch_width)

    def on_resize(self) -> None:
        """Names were fitted to the old width (or to none, before the first layout): refit."""
        if self._shown is not None:
            self.update_from(*self._shown)

    def update_from(self, state: RunState, hidden: set[str]) -> None:
        """Add new trials and refresh every row's cells (names shortened, numbers never)."""
        self._shown = (state, set(hidden))
        widths = [len(epoch_text(p.epochs, p.epochs)) for p in state.progress.values()]
        name_width = self.name_width(max(widths, default=5))
        for trial in state.trials:
            color = text_color(state.color_index(trial))
            progress = state.progress.get(trial)
            status = state.status(trial)
            epoch = epoch_text(epochs_done(state, trial), progress.epochs) if progress else ""
            cells = {
                "dot": Text("·" if trial in hidden else "●", style=color),
                "name": Text(compact_trial(trial, name_width), style=color),
                "state": Text(STATUS_GLYPH.get(status, "?"), style=status_style(status)),
                "epoch": Text(epoch, justify="right"),
            }
            if trial not in self.rows:
                self.add_row(*cells.values(), key=trial)
            else:
                for column, value in cells.items():
                    self.update_cell(trial, column, value, update_width=True)

    @property
    def selected_trial(self) -> str | None:
        """The highlighted trial, if any."""
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)


def progress_line(state: RunState, trial: str | None) -> str:
    """`batch 12/36 · loss 0.31 acc 0.9` for the selected trial while it trains, else nothing."""
    if not trial or trial not in state.progress or state.status(trial) != "running":
        return ""
    progress = state.progress[trial]
    head = f"{trial}: batch {progress.batch}/{progress.steps}"
    return "\n".join([head, *format_log_parts(progress.logs)])
