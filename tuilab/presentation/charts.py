"""plotext line charts of curves (the notebooks' "plot all histories together").

Used on the plotext module for headless output and on a textual-plotext widget's own figure
in the app, so both draw the same picture. The repeats of one variant *within one run* are drawn
as a mean ± std band; trials of different runs are never pooled, whatever their names.
A log scale is used only where every value drawn is positive, and an empty chart says why, so
no combination of hidden curves and scales can make plotext raise.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import plotext

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


MAX_DRAWN = 8
"""At most this many variants' curves are drawn at once (more is unreadable in a terminal)."""
SMOOTHING_STEPS = (0.0, 0.6, 0.8, 0.95)
"""What the smoothing key cycles through (TensorBoard's slider defaults to 0.6)."""


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
        if not (options.train or options.validation):
            return f"{metric}: train and validation hidden (t / v show them)", False
        return f"{metric}: {options.empty_hint}", False
    smooth = f" (smoothed {options.smoothing:g})" if options.smoothing > 0 else ""
    positive = all_positive(series)
    wanted = options.log_scale or spans_decades(series)
    if options.log_scale and not positive:
        return f"{metric}{smooth} (log scale needs positive values: linear)", False
    log = wanted and positive
    return metric + smooth + (" (log scale)" if log else ""), log


def draw_curves(plt: object, curves: dict[str, Curve], options: ChartOptions) -> None:
    """Draw on `plt` (the plotext module or a widget's figure).

    A log scale is drawn as log10 values on a linear axis with labelled ticks: plotext's own
    log scale transforms the stored data in place at every build, so a second render (a
    resize) would take the log of a log and raise.
    """
    plt.clear_data()
    series = chart_series(curves, options)
    title, log = chart_title(options.metric, series, options)
    skipped = undrawn(curves, options.hidden)
    if skipped:
        variants = {(curves[t].run, curves[t].variant) for t in skipped}
        title += f" · {len(variants)} more not drawn (space hides some)"
    plt.yscale("linear")
    plt.title(title)
    plt.xlabel("epoch")
    if not series:
        return
    series = smoothed_series(series, options.smoothing)
    if log:
        series = [
            Series(s.label, s.xs, [math.log10(y) for y in s.ys], s.key, s.marker) for s in series
        ]
        ticks = log_ticks([y for s in series for y in s.ys])
        plt.yticks(ticks, [format_value(10**t) for t in ticks])
    for line in series:
        extra = {"color": options.colors[line.key]} if line.key in options.colors else {}
        plt.plot(line.xs, line.ys, label=line.label or None, marker=line.marker, **extra)
    if options.markers:
        _draw_markers(plt, curves, options)


def log_ticks(values: list[float], count: int = 5) -> list[float]:
    """Evenly spaced tick positions over log10 values (at least two)."""
    low, high = min(values), max(values)
    if high - low < 1e-12:
        return [low]
    step = (high - low) / (count - 1)
    return [low + step * index for index in range(count)]


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


def curves_text(curves: dict[str, Curve], metric: str, width: int, height: int, color: bool) -> str:
    """The chart as a string for a console (headless: no markers, automatic colours)."""
    plotext.clear_figure()
    plotext.plotsize(width, height)
    if not color:
        plotext.theme("clear")
    draw_curves(plotext, curves, ChartOptions(metric=metric, markers=False))
    text = plotext.build()
    plotext.clear_figure()
    return text
