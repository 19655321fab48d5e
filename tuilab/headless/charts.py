"""plotext line charts of curves, as text (the notebooks' "plot all histories together")."""

from __future__ import annotations

import math

import plotext

from tuilab.runtime.curves import Curve


def draw_curves(
    plt: object,
    curves: dict[str, Curve],
    metric: str,
    *,
    train: bool = True,
    validation: bool = True,
    log_scale: bool = False,
    colors: dict[str, str] | None = None,
) -> None:
    """Plot one metric of every curve on `plt` (the plotext module or a widget's figure)."""
    plt.clear_data()
    plt.title(metric)
    plt.xlabel("epoch")
    if log_scale or spans_decades(curves, metric):
        plt.yscale("log")
        plt.title(f"{metric} (log scale)")
    else:
        plt.yscale("linear")
    for trial, curve in curves.items():
        color = (colors or {}).get(trial)
        kinds = []
        if train and metric in curve.values:
            kinds.append((metric, "braille", trial))
        if validation and f"val_{metric}" in curve.values:
            kinds.append((f"val_{metric}", "dot", f"{trial} val"))
        for name, marker, label in kinds:
            values = curve.values[name]
            points = [
                (e, v) for e, v in zip(curve.epochs, values, strict=False) if math.isfinite(v)
            ]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            options = {"label": label, "marker": marker}
            if color:
                options["color"] = color
            plt.plot(list(xs), list(ys), **options)


def spans_decades(curves: dict[str, Curve], metric: str, decades: float = 3.0) -> bool:
    """True when the metric's positive values span more than `decades` orders of magnitude."""
    values = [
        v
        for c in curves.values()
        for name in (metric, f"val_{metric}")
        for v in c.values.get(name, [])
        if math.isfinite(v)
    ]
    if not values or min(values) <= 0:
        return False
    return math.log10(max(values) / min(values)) > decades


def curves_text(curves: dict[str, Curve], metric: str, width: int, height: int, color: bool) -> str:
    """The chart as a string for a console."""
    plotext.clear_figure()
    plotext.plotsize(width, height)
    if not color:
        plotext.theme("clear")
    draw_curves(plotext, curves, metric)
    text = plotext.build()
    plotext.clear_figure()
    return text
