"""Figures of a model's insides and its data: confusion matrices, layer × epoch gradient
norms, sample grids and the gallery of misclassified test samples (matplotlib on Agg, the
optional `plot` extra, like the curve figures in `figures`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from tuilab.presentation.figures import canvas, fitted_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from tuilab.data.inspect import Sample
    from tuilab.runtime.events import ClassificationReport
    from tuilab.runtime.layer_events import LayerStats

CONFUSION_SIZE = (7.0, 6.0)
"""A confusion figure's inches: 700x600 pixels."""


def _heat(share: float, diagonal: bool) -> tuple[float, float, float]:
    """White to deep green (right answers) or deep red (mistakes) as `share` goes 0 to 1."""
    deep = (0.0, 0.45, 0.1) if diagonal else (0.75, 0.05, 0.05)
    return tuple(1.0 + (d - 1.0) * share for d in deep)  # type: ignore[return-value]


def confusion_figure(
    report: ClassificationReport, size: tuple[float, float] = CONFUSION_SIZE
) -> Figure:
    """The confusion matrix with its count in every cell (rows true, columns predicted): green
    on the diagonal (deeper with the class's recall), red off it (deeper towards the largest
    mistake), as `tuilab show` colours it.

    Raises:
        UsageError: matplotlib is missing.
    """
    figure = canvas(size)
    axes = figure.add_subplot()
    size_ = len(report.labels)
    worst = max(
        (n for i, row in enumerate(report.matrix) for j, n in enumerate(row) if i != j), default=0
    )
    colours = []
    for i, row in enumerate(report.matrix):
        line = []
        for j, count in enumerate(row):
            top = sum(row) if i == j else worst
            line.append(_heat(min(count / top, 1.0) if top > 0 else 0.0, i == j))
        colours.append(line)
    axes.imshow(colours, interpolation="nearest")
    font = max(6, 12 - size_ // 4)
    for i, row in enumerate(report.matrix):
        for j, count in enumerate(row):
            dark = sum(colours[i][j]) < 1.8
            colour = "white" if dark else ("0.6" if count == 0 else "black")
            axes.text(j, i, str(count), ha="center", va="center", fontsize=font, color=colour)
    names = [fitted_label(name, 16).strip() for name in report.labels]
    slanted = max(map(len, names), default=0) > 2
    axes.set_xticks(
        range(size_),
        names,
        rotation=45 if slanted else 0,
        ha="right" if slanted else "center",
        fontsize=font,
    )
    axes.set_yticks(range(size_), names, fontsize=font)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(
        fitted_label(f"{report.trial}: {report.split} split, accuracy {report.accuracy:.3f}", 100)
    )
    return figure


def layer_figure_size(layers: int) -> tuple[float, float]:
    """A layer heatmap's inches: 8 wide, taller with the number of layers (3 to 12)."""
    return (8.0, min(max(1.6 + 0.35 * layers, 3.0), 12.0))


def layer_figure(series: Sequence[LayerStats], title: str = "") -> Figure:
    """Each layer's gradient norm per epoch as a heatmap (layers as rows in model order,
    epochs as columns, log colour scale); flagged layers' names in red with their flags,
    non-finite norms marked `!`, zero norms `0`.

    Raises:
        UsageError: matplotlib is missing.
    """
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm

    from tuilab.presentation.layer_health import health

    flags = health(series)
    layers = list(flags)
    figure = canvas(layer_figure_size(len(layers)))
    axes = figure.add_subplot()
    grid = np.full((len(layers), len(series)), np.nan)
    marks: list[tuple[int, int, str]] = []
    for column, event in enumerate(series):
        for row, name in enumerate(layers):
            norms = event.layers.get(name)
            value = None if norms is None else norms["gradient_norm"]
            if norms is None:
                continue
            if value is None or not math.isfinite(value):
                marks.append((row, column, "!"))
            elif value <= 0:
                marks.append((row, column, "0"))
            else:
                grid[row, column] = value
    known = grid[np.isfinite(grid)]
    low, high = (float(known.min()), float(known.max())) if known.size else (1e-8, 1.0)
    if high <= low:
        low, high = low / 10, high * 10
    cmap = colormaps["viridis"].with_extremes(bad="0.88")
    image = axes.imshow(
        np.ma.masked_invalid(grid),
        aspect="auto",
        cmap=cmap,
        norm=LogNorm(vmin=low, vmax=high),
        interpolation="nearest",
    )
    for row, column, text in marks:
        axes.text(column, row, text, ha="center", va="center", color="red", fontweight="bold")
    figure.colorbar(image, ax=axes, label="gradient norm (log scale)")
    epochs = [event.epoch for event in series]
    step = max(1, math.ceil(len(epochs) / 20))
    axes.set_xticks(range(0, len(epochs), step), [str(e) for e in epochs[::step]])
    labels = [fitted_label(name, 40).strip() for name in layers]
    labels = [
        f"{text} [{', '.join(flags[name])}]" if flags[name] else text
        for text, name in zip(labels, layers, strict=True)
    ]
    axes.set_yticks(range(len(layers)), labels, fontsize="small")
    for tick, name in zip(axes.get_yticklabels(), layers, strict=True):
        if flags[name]:
            tick.set_color("red")
            tick.set_fontweight("bold")
    axes.set_xlabel("epoch (0: before training)")
    axes.set_title(fitted_label(title or "gradient norm per layer and epoch", 100).strip())
    return figure


SAMPLE_INCHES = 1.0
"""Each sample tile's width and height in a sample grid."""


def samples_figure_size(classes: int, per_class: int) -> tuple[float, float]:
    """A sample grid's inches: one tile a class across, one row per sample of a class, plus
    room for the class names and the title."""
    return (max(classes, 4) * SAMPLE_INCHES, per_class * SAMPLE_INCHES + 0.8)


def samples_figure(samples: Sequence[Sample], title: str = "") -> Figure:
    """Preprocessed samples, a column per class named above it, on `tuilab data`'s fixed
    scale: grey for 0..1, red above 1, blue below 0 (colour images clipped to 0..1).

    Raises:
        UsageError: matplotlib is missing.
    """
    from tuilab.presentation.samples import LEGEND, to_rgb

    labels = list(dict.fromkeys(s.label for s in samples))
    per_class = max((sum(s.label == label for s in samples) for label in labels), default=1)
    figure = canvas(samples_figure_size(len(labels), per_class))
    grid = figure.add_gridspec(per_class, max(len(labels), 1))
    for column, label in enumerate(labels):
        mine = [s for s in samples if s.label == label]
        for row, sample in enumerate(mine):
            axes = figure.add_subplot(grid[row, column])
            axes.imshow(to_rgb(sample.image), interpolation="nearest")
            axes.set_axis_off()
            if row == 0:
                axes.set_title(fitted_label(sample.name, 14).strip(), fontsize="small")
    heading = f"{title}: {LEGEND}" if title else LEGEND
    figure.suptitle(fitted_label(heading, 120).strip(), fontsize="medium")
    return figure


GALLERY_COLUMNS = 8
"""Mistake tiles per row of a gallery figure."""


def gallery_figure_size(tiles: int) -> tuple[float, float]:
    """A gallery's inches: `GALLERY_COLUMNS` tiles across, a row per eight, room for captions."""
    rows = max(math.ceil(tiles / GALLERY_COLUMNS), 1)
    return (GALLERY_COLUMNS * 1.3, rows * 1.7 + 0.6)


def gallery_figure(
    images: Sequence[Any], captions: Sequence[tuple[str, ...]], title: str = ""
) -> Figure:
    """Misclassified samples as the model got them, each captioned `true→ predicted 93%`,
    on the fixed scale of `samples_figure`.

    Raises:
        UsageError: matplotlib is missing.
    """
    from tuilab.presentation.samples import LEGEND, to_rgb

    figure = canvas(gallery_figure_size(len(images)))
    rows = max(math.ceil(len(images) / GALLERY_COLUMNS), 1)
    grid = figure.add_gridspec(rows, GALLERY_COLUMNS)
    for position, (image, caption) in enumerate(zip(images, captions, strict=True)):
        axes = figure.add_subplot(grid[position // GALLERY_COLUMNS, position % GALLERY_COLUMNS])
        axes.imshow(to_rgb(image), interpolation="nearest")
        axes.set_axis_off()
        text = "\n".join(fitted_label(part.strip(), 16).strip() for part in caption[:2])
        axes.set_title(f"{text}{caption[2] if len(caption) > 2 else ''}", fontsize="x-small")
    heading = f"{title}: {LEGEND}" if title else LEGEND
    figure.suptitle(fitted_label(heading, 120).strip(), fontsize="medium")
    return figure
