"""Inside the highlighted trial's model, over the dashboard (the `w` key).

Every trainable layer's weight and gradient norm, first → last epoch, with its health flags
(the table `tuilab show` prints), and a heatmap of the gradient norm per layer and epoch on one
log scale. The view reads `RunState.layer_series`, which live and stored runs fill from the
same `LayerStats` events, so it grows epoch by epoch while the trial trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.binding import Binding

from tuilab.app.run_state import RunState
from tuilab.app.widgets.trial_view import TrialViewScreen
from tuilab.presentation.columns import fit_columns
from tuilab.presentation.layer_health import (
    HEAT_LEVELS,
    LAYER_HEALTH_COLUMNS,
    LAYER_HEALTH_NOTE,
    NON_FINITE,
    SPARK_BLOCKS,
    Heatmap,
    LayerHealthRow,
    gradient_heatmap,
    health_rows,
)
from tuilab.presentation.text import plain
from tuilab.runtime.layer_events import LayerStats

HEAT_COLORS = (
    "blue",
    "bright_blue",
    "cyan",
    "bright_cyan",
    "green",
    "bright_green",
    "yellow",
    "bright_yellow",
)
"""Cold to hot, one of the 16 basic colours per level (the glyph's height says it too)."""
assert len(HEAT_COLORS) == HEAT_LEVELS
NON_FINITE_STYLE = "bold white on red"
NAME_WIDTH = 20
"""The widest layer name beside the heatmap (longer ones end in `…`; the table has them whole)."""
MAX_CELL_WIDTH = 3
"""Characters per epoch when few epochs leave room."""


def flag_style(flags: str) -> str:
    """Red for non-finite or exploding gradients, yellow for vanishing, green when ok."""
    if "non-finite" in flags:
        return "bold red"
    if "exploding" in flags:
        return "red"
    if "vanishing" in flags:
        return "yellow"
    return "green"


def health_table(rows: Sequence[LayerHealthRow], width: int) -> Table:
    """The layer table in `width` columns: whole columns dropped by priority (and named in the
    caption), the layer name folded; no number is ever cut."""
    kept, dropped = fit_columns(LAYER_HEALTH_COLUMNS, rows, width)
    table = Table(box=box.SIMPLE_HEAD, expand=False)
    for col in kept:
        if col.fold:
            table.add_column(col.header, overflow="fold")
        else:
            widest = max([len(col.header), *(len(col.text(row)) for row in rows)])
            justify = "right" if col.numeric else "left"
            table.add_column(col.header, justify=justify, no_wrap=True, min_width=widest)
    for row in rows:
        table.add_row(
            *(
                Text(col.text(row), style=flag_style(row.flags) if col.key == "flags" else "")
                for col in kept
            )
        )
    caption = LAYER_HEALTH_NOTE
    if dropped:
        caption += "\ntoo narrow for: " + ", ".join(c.header for c in dropped)
    table.caption = Text(caption, style="dim")
    table.caption_justify = "left"
    return table


def _cell(level: int | None, width: int) -> Text:
    if level is None:
        return Text("·" * width, style="dim")
    if level == NON_FINITE:
        return Text("!" * width, style=NON_FINITE_STYLE)
    return Text(SPARK_BLOCKS[level] * width, style=HEAT_COLORS[level])


def heatmap_lines(series: Sequence[LayerStats], width: int) -> tuple[Heatmap, list[Text]]:
    """The gradient heatmap in `width` columns: a row per layer (name, then a cell per epoch),
    an epoch axis, the colour key with the numeric range, and which epochs are shown."""
    names = [name for event in series for name in event.layers]
    name_width = min(max([len(n) for n in names], default=1), NAME_WIDTH)
    room = max(width - name_width - 1, 2)
    heatmap = gradient_heatmap(series, room)
    cell = max(1, min(MAX_CELL_WIDTH, room // max(len(heatmap.epochs), 1)))
    lines = []
    for name, levels in zip(heatmap.layers, heatmap.levels, strict=True):
        label = name if len(name) <= name_width else name[: name_width - 1] + "…"
        line = Text(label.ljust(name_width) + " ")
        for level in levels:
            line.append_text(_cell(level, cell))
        lines.append(line)
    first, last = str(heatmap.epochs[0]), str(heatmap.epochs[-1])
    span = len(heatmap.epochs) * cell
    if len(heatmap.epochs) > 1 and len(first) + len(last) < span:
        axis = first + last.rjust(span - len(first))
        lines.append(Text(" " * (name_width + 1) + axis, style="dim"))
    key = Text()
    for level, glyph in enumerate(SPARK_BLOCKS):
        key.append(glyph, style=HEAT_COLORS[level])
    key.append(" " + heatmap.legend())
    lines.append(key)
    lines.append(Text(heatmap.epoch_note(), style="dim"))
    return heatmap, lines


def missing_reason(state: RunState, trial: str | None) -> str:
    """Why `trial` has no `LayerStats` (yet)."""
    if trial is None:
        return "no trial yet"
    status = state.status(trial)
    if status in ("running", "waiting"):
        return "no layer statistics yet: they come at each epoch end (the first as training starts)"
    if status == "finished":
        return "no layer statistics: this run was stored before tuilab measured layers"
    return (
        f"no layer statistics: the trial {status} before its first measurement "
        "(or the run was stored before tuilab measured layers)"
    )


class LayerHealthScreen(TrialViewScreen):
    """One trial's per-layer weight and gradient norms: health table and gradient heatmap."""

    PREFIX = "layer-health"
    HEADING = "Weights"
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape", "dismiss", "Close", id="layer_health.close"),
        Binding("w", "dismiss", "Close", show=False, id="layer_health.close_w"),
        Binding("less_than_sign", "trial(-1)", "Prev trial", id="layer_health.previous"),
        Binding("greater_than_sign", "trial(1)", "Next trial", id="layer_health.next"),
    ]

    def __init__(self, state: RunState, trial: str | None) -> None:
        super().__init__(state, trial)
        self.rows: list[LayerHealthRow] = []
        self.table: Table | None = None
        """The health table as drawn (tests read its cells)."""
        self.heatmap: Heatmap | None = None
        self.heat_lines: list[Text] = []

    def shown_key(self) -> object:
        series = self.state.layer_series(self.trial)
        return (self.trial, tuple(id(event) for event in series), self.body_width())

    def draw_body(self, width: int) -> None:
        series = self.state.layer_series(self.trial)
        body = self.body()
        if not series:
            self.rows, self.table, self.heatmap, self.heat_lines = [], None, None, []
            body.update(plain(missing_reason(self.state, self.trial), "yellow"))
            return
        self.rows = health_rows(series)
        self.table = health_table(self.rows, width)
        self.heatmap, self.heat_lines = heatmap_lines(series, width)
        epochs = f"epochs {series[0].epoch}-{series[-1].epoch}"
        parts: list[RenderableType] = [
            plain(f"{epochs}; gradients on one fixed training batch", "dim"),
            self.table,
            Text(),
            Text("Gradient norm per layer and epoch", style="bold"),
            *self.heat_lines,
        ]
        body.update(Group(*parts))
