"""`tuilab show`: per trial, every trainable layer's weight and gradient norms and health flags."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console

from tuilab.headless.tables import add_caption, spec_table
from tuilab.presentation.layer_health import (
    LAYER_HEALTH_COLUMNS,
    LAYER_HEALTH_NOTE,
    health_rows,
    layer_series,
)
from tuilab.presentation.text import clean, plain
from tuilab.runtime.events import Event

MAX_LAYER_TRIALS = 3
"""`tuilab show` prints the layer table of this many trials; the others are named."""


def print_layer_stats(console: Console, events: Sequence[Event]) -> None:
    """The layer tables of the first trials with `LayerStats` (nothing for older runs)."""
    series = layer_series(events)
    for trial, stats in list(series.items())[:MAX_LAYER_TRIALS]:
        epochs = f"epochs {stats[0].epoch}-{stats[-1].epoch}"
        title = f"{trial}: layers, {epochs}, gradients on one fixed training batch"
        rows = health_rows(stats)
        table = spec_table(title, LAYER_HEALTH_COLUMNS, rows, console.width)
        add_caption(table, LAYER_HEALTH_NOTE, console.width)
        flagged = [row.layer for row in rows if row.flags != "ok"]
        if flagged:
            add_caption(table, "flagged: " + ", ".join(flagged), console.width)
        console.print(table)
    rest = list(series)[MAX_LAYER_TRIALS:]
    if rest:
        names = ", ".join(clean(name) for name in rest)
        console.print(plain(f"Layer norms also stored for: {names}"), soft_wrap=True)
