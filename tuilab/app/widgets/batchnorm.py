"""BatchNorm inspector: per channel gamma, beta, moving mean and variance, and their history."""

from __future__ import annotations

import statistics

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Label, Sparkline, Static

from tuilab.presentation.numbers import format_value
from tuilab.presentation.text import plain

VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")
SHORT = {"gamma": "gamma", "beta": "beta", "moving_mean": "mov mean", "moving_variance": "mov var"}
Snapshot = dict[str, dict[str, list[float]]]


def health_flags(values: dict[str, list[float]], channel: int) -> str:
    """Warnings for one channel: gamma collapsing to 0, variance collapsing or exploding."""
    flags = []
    gamma = values.get("gamma", [])
    if channel < len(gamma) and abs(gamma[channel]) < 0.05:
        flags.append("γ→0")
    variance = values.get("moving_variance", [])
    if channel < len(variance):
        if variance[channel] < 1e-4:
            flags.append("var→0")
        elif variance[channel] > 1e4:
            flags.append("var↑")
    return " ".join(flags)


class BatchNormView(Vertical):
    """Pick a BatchNormalization layer with < and >; initial vs now per channel; sparklines.

    The sparklines show each variable's channel mean from the initial state to the last epoch.
    The channel table shows each variable now, its initial value in the header (`gamma 1→`)
    when every channel started alike, so all four fit at 80x24; flags come last.
    """

    DEFAULT_CSS = """
    BatchNormView Horizontal { height: 1; }
    BatchNormView Horizontal Label { width: 16; }
    BatchNormView Sparkline { width: 1fr; }
    BatchNormView #bn-table { height: 1fr; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.layer_index = 0
        self._title = ""

    def compose(self) -> ComposeResult:
        yield Static(id="bn-title")
        for name in VARIABLES:
            with Horizontal(id=f"bn-row-{name}"):
                yield Label(SHORT[name], id=f"bn-label-{name}")
                yield Sparkline([], id=f"bn-spark-{name}")
        yield DataTable(id="bn-table", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_column("ch", key="ch")

    def cycle(self, step: int, layers: list[str]) -> None:
        """Move to the next or previous BatchNormalization layer."""
        if layers:
            self.layer_index = (self.layer_index + step) % len(layers)

    def show(self, trial: str | None, history: list[tuple[int, Snapshot]]) -> None:
        """Show the chosen layer of `trial`: its snapshots from epoch 0 (initial) on."""
        title = self.query_one("#bn-title", Static)
        table = self.query_one(DataTable)
        table.clear()
        layers = list(history[0][1]) if history else []
        for widget in (table, *self.query(Horizontal)):
            widget.display = bool(layers)
        if not layers:
            title.update(plain(f"{trial or 'This model'}: no BatchNormalization layers."))
            return
        self.layer_index %= len(layers)
        layer = layers[self.layer_index]
        first, (epoch, last) = history[0][1][layer], history[-1]
        last = last[layer]
        self._title = (
            f"{trial} · {layer} ({self.layer_index + 1}/{len(layers)}, < > to switch) · "
            f"initial → epoch {epoch}"
        )
        title.update(plain(self._title))
        for name in VARIABLES:
            series = [statistics.fmean(s[layer][name]) for _, s in history if s[layer].get(name)]
            self.query_one(f"#bn-spark-{name}", Sparkline).data = series
            if series:
                label = f"{SHORT[name]} {format_value(series[-1])}"
                self.query_one(f"#bn-label-{name}", Label).update(label)
        channels = len(last.get("gamma") or last.get("moving_mean") or [])
        columns: dict[str, list[str]] = {"ch": ["ch", *map(str, range(channels))]}
        for name in VARIABLES:
            now, initial = last.get(name, []), first.get(name, [])
            cells = [channel_cell(initial, now, c) for c in range(channels)]
            columns[name] = [column_header(name, initial), *cells]
        columns["flags"] = ["flags", *(health_flags(last, c) for c in range(channels))]
        kept, dropped = fit_channel_columns(columns, (self.size.width or self.app.size.width) - 1)
        if dropped:
            names = ", ".join(SHORT.get(key, key) for key in dropped)
            title.update(plain(f"{self._title} · too narrow for: {names}{flag_counts(columns)}"))
        table.clear(columns=True)
        for key in kept:
            table.add_column(columns[key][0], key=key)
        for channel in range(channels):
            table.add_row(*(columns[key][channel + 1] for key in kept), key=str(channel))


DROP_ORDER = ("flags", "beta", "moving_mean", "gamma", "moving_variance")
"""The channel table's columns dropped first when it is too narrow (`ch` stays); dropped
flags are counted in the title instead (`flags: var→0 in 7 channels`)."""


def flag_counts(columns: dict[str, list[str]]) -> str:
    """` (var→0 in 7 channels)`: the flags of a dropped flags column, counted."""
    counts: dict[str, int] = {}
    for cell in columns["flags"][1:]:
        for flag in cell.split():
            counts[flag] = counts.get(flag, 0) + 1
    if not counts:
        return " (no channel flagged)"
    return " (" + ", ".join(f"{flag} in {n} channels" for flag, n in counts.items()) + ")"


def fit_channel_columns(columns: dict[str, list[str]], width: int) -> tuple[list[str], list[str]]:
    """The columns (header first, then cells) that fit `width`, whole, and those dropped."""
    widths = {key: max(cell_len(text) for text in cells) + 2 for key, cells in columns.items()}
    kept, dropped = list(columns), []
    for key in DROP_ORDER:
        if sum(widths[k] for k in kept) <= width:
            break
        if key in kept:
            kept.remove(key)
            dropped.append(key)
    return kept, [key for key in columns if key in dropped]


def _uniform(values: list[float]) -> bool:
    return bool(values) and all(v == values[0] for v in values)


def column_header(name: str, initial: list[float]) -> str:
    """`gamma 1→` when every channel started at one value (the usual case), else `gamma`."""
    return f"{SHORT[name]} {format_value(initial[0])}→" if _uniform(initial) else SHORT[name]


def channel_cell(initial: list[float], now: list[float], channel: int) -> str:
    """The value now; `initial→now` only where channels started at different values."""
    if channel >= len(now):
        return "-"
    if _uniform(initial) or channel >= len(initial):
        return format_value(now[channel])
    return f"{format_value(initial[channel])}→{format_value(now[channel])}"
