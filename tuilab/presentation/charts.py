"""plotext line charts of curves (the notebooks' "plot all histories together").

Drawn on the plotext module (the shell) and on a textual-plotext widget's figure (the app).
Repeats of one variant *within one run* are a mean ± std band; trials of different runs are
never pooled. A log scale needs every value positive and an empty chart says why, so nothing
makes plotext raise; every draw sets every axis property it uses, so nothing of an earlier draw
survives. The shell and the dashboard draw the title and legend above the plot (`header_rows`),
where they never cover a data point.
"""

from __future__ import annotations

import math
import statistics
import textwrap
from dataclasses import dataclass, field

import plotext
from rich.cells import cell_len, set_cell_size

from tuilab.presentation.chart_axes import epoch_ticks, linear_ticks, log_ticks, tick_labels
from tuilab.presentation.numbers import format_value
from tuilab.presentation.text import clean
from tuilab.runtime.curves import Curve


@dataclass
class Series:
    """One line to draw."""

    label: str
    xs: list[float]
    ys: list[float]
    key: str
    marker: str = "braille"


@dataclass
class ChartOptions:
    """What to draw: metric, which splits, scale, colours, hidden trials, markers."""

    metric: str = "accuracy"
    train: bool = True
    validation: bool = True
    log_scale: bool = False
    colors: dict[str, str] = field(default_factory=dict)
    hidden: set[str] = field(default_factory=set)
    markers: bool = True
    smoothing: float = 0.0
    """TensorBoard's exponential moving average weight: 0 draws the raw values."""
    empty_hint: str = "nothing to draw yet"
    """The title's words when there is no curve (a view can say how to get one)."""
    legend_inside: bool = True
    """plotext's own title and legend, inside the plot; off: `header_rows` draws them above."""


@dataclass
class Drawn:
    """What `draw_curves` drew: the title and the legend, for a caller drawing them outside."""

    title: str
    legend: list[tuple[str, str | None]] = field(default_factory=list)
    """Each labelled line's marker and name, and its colour (None: plotext's choice)."""


MAX_DRAWN = 8
"""At most this many variants' curves are drawn at once (more is unreadable in a terminal)."""
SMOOTHING_STEPS = (0.0, 0.6, 0.8, 0.95)
"""What the smoothing key cycles through (TensorBoard's slider defaults to 0.6)."""
GLYPHS = {"braille": "⢕⢕", "dot": "••"}
"""The legend's sample of each marker (plotext's own legend draws the same)."""
SHELL_COLORS = ("cyan", "magenta", "yellow", "green", "red", "blue")
"""The shell's trial colours, in the app's order (tuilab.app.colors)."""
SHELL_THEME = ("black", "white")
"""The text and background colours of plotext's default theme, which the shell draws in."""


def ema(values: list[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: an exponential moving average, debiased at the start."""
    smoothed, last = [], 0.0
    for count, value in enumerate(values, start=1):
        last = last * weight + (1 - weight) * value
        smoothed.append(last / (1 - weight**count))
    return smoothed


def smoothed_series(series: list[Series], weight: float) -> list[Series]:
    """Each labelled line smoothed, with its raw values drawn faint (sparse dots) behind it."""
    if weight <= 0:
        return series
    drawn = []
    for line in series:
        drawn.append(Series("", line.xs, line.ys, line.key, "·"))
        drawn.append(Series(line.label, line.xs, ema(line.ys, weight), line.key, line.marker))
    return drawn


def _points(epochs: list[int], values: list[float]) -> tuple[list[float], list[float]]:
    pairs = [(e, v) for e, v in zip(epochs, values, strict=False) if math.isfinite(v)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def next_smoothing(weight: float) -> float:
    """The next step of `SMOOTHING_STEPS` after `weight`."""
    later = [step for step in SMOOTHING_STEPS if step > weight]
    return later[0] if later else SMOOTHING_STEPS[0]


def undrawn(curves: dict[str, Curve], hidden: set[str]) -> set[str]:
    """Visible trials beyond the first `MAX_DRAWN` variants (repeats of one count once)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for trial, curve in curves.items():
        if trial not in hidden:
            groups.setdefault((curve.run, curve.variant), []).append(trial)
    return {trial for trials in list(groups.values())[MAX_DRAWN:] for trial in trials}


def chart_series(curves: dict[str, Curve], options: ChartOptions) -> list[Series]:
    """The lines to draw; trials of one variant with several repeats become mean and ±std.

    Only the first `MAX_DRAWN` visible variants are drawn (`undrawn` names the others)."""
    skipped = undrawn(curves, options.hidden)
    names = []
    if options.train:
        names.append((options.metric, "braille", ""))
    if options.validation:
        names.append((f"val_{options.metric}", "dot", " val"))
    groups: dict[tuple[str, str], list[str]] = {}
    for trial, curve in curves.items():
        if trial not in options.hidden and trial not in skipped:
            groups.setdefault((curve.run, curve.variant), []).append(trial)
    series: list[Series] = []
    for (_, variant), trials in groups.items():
        for name, marker, suffix in names:
            if len(trials) == 1:
                curve = curves[trials[0]]
                if name in curve.values:
                    xs, ys = _points(curve.epochs, curve.values[name])
                    label = f"{clean(trials[0], limit=40)}{suffix}"
                    series.append(Series(label, xs, ys, trials[0], marker))
                continue
            label = f"{clean(variant, limit=40)}{suffix} (n={len(trials)})"
            series += _band(curves, trials, name, label, marker)
    return [s for s in series if s.xs]


def _band(
    curves: dict[str, Curve], trials: list[str], name: str, label: str, marker: str
) -> list[Series]:
    by_epoch: dict[int, list[float]] = {}
    for trial in trials:
        curve = curves[trial]
        for epoch, value in zip(curve.epochs, curve.values.get(name, []), strict=False):
            if math.isfinite(value):
                by_epoch.setdefault(epoch, []).append(value)
    epochs = sorted(e for e, v in by_epoch.items() if v)
    means = [statistics.fmean(by_epoch[e]) for e in epochs]
    stds = [statistics.pstdev(by_epoch[e]) for e in epochs]
    key = trials[0]
    return [
        Series(label, epochs, means, key, marker),
        Series("", epochs, [m + s for m, s in zip(means, stds, strict=True)], key, "·"),
        Series("", epochs, [m - s for m, s in zip(means, stds, strict=True)], key, "·"),
    ]


def spans_decades(series: list[Series], decades: float = 3.0) -> bool:
    """True when the positive values span more than `decades` orders of magnitude."""
    values = [v for s in series for v in s.ys]
    if not values or min(values) <= 0:
        return False
    return math.log10(max(values) / min(values)) > decades


def all_positive(series: list[Series]) -> bool:
    """True when there is something to draw and every value is above zero (a log scale works)."""
    values = [v for s in series for v in s.ys]
    return bool(values) and min(values) > 0


def chart_title(metric: str, series: list[Series], options: ChartOptions) -> tuple[str, bool]:
    """The title and whether to use a log scale (only where every value is positive)."""
    if not series:
        return f"{metric}: {options.empty_hint}", False
    smooth = f" (smoothed {options.smoothing:g})" if options.smoothing > 0 else ""
    positive = all_positive(series)
    wanted = options.log_scale or spans_decades(series)
    if options.log_scale and not positive:
        return f"{metric}{smooth} (log scale needs positive values: linear)", False
    log = wanted and positive
    return metric + smooth + (" (log scale)" if log else ""), log


def empty_hint(curves: dict[str, Curve], options: ChartOptions) -> tuple[str, str]:
    """Why nothing is drawn and, where a key brings curves back, what to press."""
    recorded = {name for curve in curves.values() for name in curve.values}
    if not (options.train or options.validation):
        return "train and validation hidden", "press t or v to show them"
    if curves and all(trial in options.hidden for trial in curves):
        return "every trial hidden", "press space on a trial to show it"
    if not options.train and options.metric in recorded:
        return "train hidden", "press t to show it"
    if not options.validation and f"val_{options.metric}" in recorded:
        return "validation hidden", "press v to show it"
    return options.empty_hint, ""


def draw_curves(
    plt: object,
    curves: dict[str, Curve],
    options: ChartOptions,
    size: tuple[int, int] | None = None,
) -> Drawn:
    """Draw on `plt` (the plotext module or a widget's figure) for `size` (default: its own).

    A log scale is log10 values on a linear axis with labelled ticks: plotext's own log scale
    transforms the stored data in place at every build, so a second render (a resize) would
    take the log of a log and raise. Ticks and limits are set at every draw: plotext keeps them
    across `clear_data` (a log chart's ticks hid every later chart's y labels)."""
    plt.clear_data()
    width, height = size or plt.plot_size()  # plotext caps its own at the terminal's size
    series = chart_series(curves, options)
    title, log = chart_title(options.metric, series, options)
    what, press = empty_hint(curves, options) if not series else ("", "")
    if not series:  # the keys to press are in the plot; in the title too where it is plotext's
        title = f"{options.metric}: {what}" + (
            f" ({press})" if press and options.legend_inside else ""
        )
    skipped = undrawn(curves, options.hidden)
    if skipped:
        variants = {(curves[t].run, curves[t].variant) for t in skipped}
        title += f" · {len(variants)} more not drawn (space hides some)"
    plt.xscale("linear")
    plt.yscale("linear")
    plt.title(fit(clean(title), width) if options.legend_inside else None)
    plt.xlabel("epoch")
    drawn = Drawn(clean(title))  # a stored metric's name may hold escapes: never ANSI
    rows = height - 3 - bool(series) - options.legend_inside  # less frame, ticks, label, title
    if not series:
        _draw_hint(plt, [what, press], width - 2, rows)
        return drawn
    series = smoothed_series(series, options.smoothing)
    if log:
        series = [
            Series(s.label, s.xs, [math.log10(y) for y in s.ys], s.key, s.marker) for s in series
        ]
    _set_axes(plt, series, log, width, rows)
    for line in series:
        color = options.colors.get(line.key)
        extra = {"color": color} if color else {}
        label = line.label if options.legend_inside else ""
        plt.plot(line.xs, line.ys, label=label or None, marker=line.marker, **extra)
        if line.label:
            glyph = GLYPHS.get(line.marker, line.marker * 2)
            drawn.legend.append((f"{glyph} {line.label}", color))
    if options.markers:
        _draw_markers(plt, curves, options)
    return drawn


def _set_axes(plt: object, series: list[Series], log: bool, width: int, rows: int) -> None:
    """Whole-epoch x ticks, y ticks (log10 positions named by their values) and both limits."""
    xs = [x for s in series for x in s.xs]
    ys = [y for s in series for y in s.ys]
    first, last = min(xs), max(xs)
    epochs = epoch_ticks(first, last, max(2, (width - 8) // 8))
    plt.xticks(epochs, [str(e) for e in epochs])
    plt.xlim(*((first, last) if last > first else (first - 1, last + 1)))
    low, high = min(ys), max(ys)
    if log:
        ticks = log_ticks(ys)
        labels = [format_value(10**t) for t in ticks]
    else:
        ticks = linear_ticks(low, high, max(3, min(7, rows // 2)))
        labels = tick_labels(ticks)
    plt.yticks(ticks, labels)
    pad = 0.0 if high > low else abs(high) * 0.1 or 0.1
    plt.ylim(low - pad, high + pad)


def _draw_hint(plt: object, lines: list[str], width: int, rows: int) -> None:
    """`lines` centred in an empty plot, wrapped to its `width`, without ticks."""
    plt.xticks([], [])
    plt.yticks([], [])
    plt.xlim(0, 1)
    plt.ylim(0, 1)
    wrapped = [part for line in lines for part in textwrap.wrap(line, max(width - 2, 8))]
    rows = max(rows, len(wrapped), 2)
    for index, text in enumerate(wrapped):
        y = 0.5 + ((len(wrapped) - 1) / 2 - index) / (rows - 1)
        plt.text(text, 0.5, y, color="default", alignment="center")


def _draw_markers(plt: object, curves: dict[str, Curve], options: ChartOptions) -> None:
    """Vertical marks: learning-rate reductions, early stopping's best epoch, stops."""
    skipped = undrawn(curves, options.hidden)
    for trial, curve in curves.items():
        if trial in options.hidden or trial in skipped:
            continue
        color = options.colors.get(trial)
        extra = {"color": color} if color else {}
        for epoch in curve.lr_changes:
            plt.vline(epoch, **extra)
        if curve.early_stop:
            plt.vline(curve.early_stop[1], **extra)
        if curve.stopped_at:
            plt.vline(curve.stopped_at, **extra)


def fit(text: str, width: int) -> str:
    """`text` cut to `width` terminal cells, with an ellipsis where it was cut."""
    return text if cell_len(text) <= width else set_cell_size(text, max(width - 1, 0)) + "…"


def header_rows(
    drawn: Drawn, width: int, height: int, colors: tuple[object, object] | None = None
) -> list[str]:
    """The title and legend rows above a plot in `height` rows (none under 8), each entry in its
    curve's colour on `colors` (the plot's text and background; None: no colour at all)."""
    if height < 8 or width < 12:
        return []

    def paint(words: str, color: object = None) -> str:
        return (
            plotext.colorize(words, color or colors[0], background=colors[1]) if colors else words
        )

    rows = [paint(fit(drawn.title, width).center(width))]
    for row in legend_rows(drawn.legend, width, max(1, height // 6)):
        pad = " " * (width - sum(cell_len(f" {words} ") for words, _ in row))
        rows.append("".join(paint(f" {words} ", color) for words, color in row) + paint(pad))
    return rows


def legend_rows(
    entries: list[tuple[str, str | None]], width: int, limit: int
) -> list[list[tuple[str, str | None]]]:
    """The entries packed in at most `limit` rows of `width`, the last saying how many are not."""

    def fits(row: list[tuple[str, str | None]]) -> bool:
        return sum(cell_len(words) + 2 for words, _ in row) <= width

    rows: list[list[tuple[str, str | None]]] = []
    for words, color in entries:
        piece = (fit(words, width - 2), color)
        if rows and fits([*rows[-1], piece]):
            rows[-1].append(piece)
        else:
            rows.append([piece])
    if len(rows) > limit:
        rows = rows[:limit]
        while True:
            note = (f"+{len(entries) - sum(len(row) for row in rows)} more", None)
            if fits([*rows[-1], note]):
                rows[-1].append(note)
                return rows
            if len(rows[-1]) == 1:  # the one entry left, cut to leave room for the note
                words, color = rows[-1][0]
                rows[-1] = [(fit(words, width - cell_len(note[0]) - 4), color), note]
                return rows
            rows[-1].pop()
    return rows


def draw_sized(
    plt: object, curves: dict[str, Curve], options: ChartOptions, width: int, height: int
) -> Drawn:
    """`draw_curves` for the plot left in `width` x `height` under `header_rows`."""
    drawn = draw_curves(plt, curves, options, (width, height))
    rows = len(header_rows(drawn, width, height))
    if rows:
        drawn = draw_curves(plt, curves, options, (width, height - rows))
    plt.plotsize(width, height - rows)
    return drawn


def curves_text(curves: dict[str, Curve], metric: str, width: int, height: int, color: bool) -> str:
    """The chart as a string for a console (no markers), each trial in its own colour."""
    plotext.clear_figure()
    plotext.theme("default" if color else "clear")
    palette = {trial: SHELL_COLORS[i % len(SHELL_COLORS)] for i, trial in enumerate(curves)}
    options = ChartOptions(
        metric=metric, markers=False, legend_inside=False, colors=palette if color else {}
    )
    drawn = draw_sized(plotext, curves, options, width, height)
    rows = header_rows(drawn, width, height, SHELL_THEME if color else None)
    text = plotext.build()
    plotext.clear_figure()
    return "\n".join([*rows, text])
