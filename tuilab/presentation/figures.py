"""matplotlib figures to share: the notebooks' comparison plot of curves, and the report's
confusion matrices, layer gradient heatmaps and sample grids.

matplotlib is the optional `plot` extra: it is imported inside the functions here, never at
import time, and `require_matplotlib` says how to install it. Figures are drawn on the Agg
canvas (no display, no pyplot state). As in the terminal charts, each trial is one colour
(training solid, validation dashed) and the repeats of one variant *within one run* become a
mean line with a ± std band.
"""

from __future__ import annotations

import importlib.util
import io
import math
import statistics
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tuilab.errors import UsageError
from tuilab.presentation.text import clean
from tuilab.runtime.curves import Curve

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


FORMATS = ("png", "svg", "pdf")
"""The figure formats `tuilab plot` writes, chosen by the output file's suffix."""
INSTALL_HINT = 'pip install "tuilab[plot]"'
DEFAULT_SIZE = (8.0, 5.0)
"""Width and height in inches."""
DPI = 100
"""Pixels per inch of a PNG: an 8x5 figure is 800x500 pixels."""
TRAIN_STYLE, VAL_STYLE = "-", "--"


@dataclass
class Line:
    """One split of one trial (or the mean of a variant's repeats) to draw."""

    label: str
    color: int
    style: str
    xs: list[int]
    ys: list[float]
    stds: list[float] | None = None
    curve: Curve | None = None
    """The trial drawn (None for a mean of repeats: its markers are not drawn)."""


def have_matplotlib() -> bool:
    """True when the `plot` extra (matplotlib) is installed."""
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):  # a broken or blocked install counts as missing
        return False


def require_matplotlib() -> None:
    """Raises:
    UsageError: matplotlib is not installed (naming the extra to install)."""
    if not have_matplotlib():
        raise UsageError(f"figures need matplotlib, the plot extra: {INSTALL_HINT}")


def figure_format(path: Path) -> str:
    """`curves.png` -> `png`.

    Raises:
        UsageError: the suffix is not one of `FORMATS`.
    """
    suffix = path.suffix.lower().removeprefix(".")
    if suffix not in FORMATS:
        raise UsageError(
            f"cannot tell the figure format of {clean(path)}: "
            f"end the file name in {', '.join('.' + f for f in FORMATS)}"
        )
    return suffix


def parse_size(text: str | None) -> tuple[float, float]:
    """`8x5` -> (8.0, 5.0) inches; None -> `DEFAULT_SIZE`.

    Raises:
        UsageError: not two positive numbers joined by `x`, or larger than 100 inches.
    """
    if text is None:
        return DEFAULT_SIZE
    width, sep, height = text.lower().partition("x")
    try:
        size = (float(width), float(height))
    except ValueError:
        size = (0.0, 0.0)
    if not sep or not all(0 < v <= 100 and math.isfinite(v) for v in size):
        raise UsageError(f"--size {clean(text)}: give width x height in inches, e.g. 8x5")
    return size


def fitted_label(text: str, limit: int = 60) -> str:
    """Stored text as a legend label: no control characters, no mathtext, not hidden by `_`."""
    label = clean(text, limit=limit).replace("$", r"\$")
    return f" {label}" if label.startswith("_") else label


def _points(curve: Curve, name: str) -> tuple[list[int], list[float]]:
    pairs = zip(curve.epochs, curve.values.get(name, []), strict=False)
    kept = [(e, v) for e, v in pairs if isinstance(v, int | float) and math.isfinite(v)]
    return [p[0] for p in kept], [p[1] for p in kept]


def _mean_std(curves: list[Curve], name: str) -> tuple[list[int], list[float], list[float]]:
    by_epoch: dict[int, list[float]] = {}
    for curve in curves:
        for epoch, value in zip(*_points(curve, name), strict=True):
            by_epoch.setdefault(epoch, []).append(value)
    epochs = sorted(by_epoch)
    return (
        epochs,
        [statistics.fmean(by_epoch[e]) for e in epochs],
        [statistics.pstdev(by_epoch[e]) for e in epochs],
    )


def curve_lines(curves: dict[str, Curve], metric: str) -> list[Line]:
    """The lines of `metric`: per trial (or per variant with repeats), training then validation.

    `curves` maps a label to its curve; repeats are pooled only within one run."""
    groups: dict[tuple[str, str], list[str]] = {}
    for label, curve in curves.items():
        groups.setdefault((curve.run, curve.variant), []).append(label)
    many_runs = len({run for run, _ in groups}) > 1
    lines: list[Line] = []
    for color, ((run, variant), labels) in enumerate(groups.items()):
        for name, style in ((metric, TRAIN_STYLE), (f"val_{metric}", VAL_STYLE)):
            if len(labels) == 1:
                curve = curves[labels[0]]
                xs, ys = _points(curve, name)
                lines.append(Line(fitted_label(labels[0]), color, style, xs, ys, None, curve))
                continue
            xs, means, stds = _mean_std([curves[label] for label in labels], name)
            where = f"{Path(run).name}:" if many_runs else ""
            text = f"{where}{variant} (mean ± std, n={len(labels)})"
            lines.append(Line(fitted_label(text), color, style, xs, means, stds))
    return [line for line in lines if line.xs]


def curves_figure(
    curves: dict[str, Curve],
    metric: str,
    title: str = "",
    size: tuple[float, float] = DEFAULT_SIZE,
) -> Figure:
    """A figure of `metric` per epoch for each curve, with legend, title and axis labels.

    Raises:
        UsageError: matplotlib is missing, or no curve logged `metric` (the logged ones named).
    """
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    lines = curve_lines(curves, metric)
    if not lines:
        logged = sorted({n.removeprefix("val_") for c in curves.values() for n in c.values})
        raise UsageError(
            f"no trial logged {clean(metric)!r} (logged: {', '.join(logged) or 'nothing'})"
        )
    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    palette = _palette(max(line.color for line in lines) + 1)
    for line in lines:
        color = palette[line.color]
        marker = "o" if len(line.xs) < 30 else None
        axes.plot(line.xs, line.ys, line.style, color=color, marker=marker, ms=3)
        if line.stds is not None:
            low = [m - s for m, s in zip(line.ys, line.stds, strict=True)]
            high = [m + s for m, s in zip(line.ys, line.stds, strict=True)]
            axes.fill_between(line.xs, low, high, color=color, alpha=0.2, linewidth=0)
    marks = _draw_markers(axes, lines, palette)
    values = [v for line in lines for v in line.ys]
    if metric == "learning_rate" and min(values) > 0 and max(values) / min(values) > 10:
        axes.set_yscale("log")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(fitted_label(metric))
    axes.set_title(fitted_label(title or metric, 100).strip())
    axes.grid(True, alpha=0.3)
    handles = [*_legend_entries(lines, palette), *marks]
    if len(handles) <= 8:
        axes.legend(handles=handles, fontsize="small")
    else:  # beside the plot, so it hides no line (the plot narrows, the file keeps its size)
        columns = math.ceil(len(handles) / 30)
        axes.legend(
            handles=handles,
            fontsize="x-small",
            ncols=columns,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
        )
    return figure


def _palette(count: int) -> list[str]:
    """Distinct colours: matplotlib's ten, or tab20's twenty for more trials (then repeated)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if count <= 10:
        return [f"C{i}" for i in range(count)]
    return [to_hex(colormaps["tab20"](i % 20)) for i in range(count)]


def _legend_entries(lines: list[Line], palette: list[str]) -> list[Artist]:
    """One entry per trial (its colour), then what solid and dashed mean when both are drawn."""
    from matplotlib.lines import Line2D

    entries: list[Artist] = []
    for color, label in dict((line.color, line.label) for line in lines).items():
        entries.append(Line2D([], [], color=palette[color], label=label))
    styles = {line.style for line in lines}
    if styles == {TRAIN_STYLE, VAL_STYLE}:
        entries.append(Line2D([], [], color="0.3", ls=TRAIN_STYLE, label="training"))
        entries.append(Line2D([], [], color="0.3", ls=VAL_STYLE, label="validation"))
    return entries


def _draw_markers(axes: Axes, lines: list[Line], palette: list[str]) -> list[Artist]:
    """As the terminal charts mark them: learning-rate changes (▼ along the epoch axis, one row
    per trial) and early stopping's best epoch (★ on the validation line, else the training
    line). Returns legend entries for the kinds of marks drawn."""
    from matplotlib.lines import Line2D

    marked: dict[int, Line] = {}
    for line in lines:
        if line.curve is not None and (id(line.curve) not in marked or line.style == VAL_STYLE):
            marked[id(line.curve)] = line
    kinds: dict[str, Artist] = {}
    for row, line in enumerate(marked.values()):
        curve, color = line.curve, palette[line.color]
        if curve is None:
            continue
        if curve.lr_changes:
            heights = [0.02 + 0.03 * row] * len(curve.lr_changes)
            where = axes.get_xaxis_transform()  # x in epochs, y in axes fractions
            axes.plot(curve.lr_changes, heights, "v", color=color, ms=6, transform=where)
            kinds["lr"] = Line2D([], [], ls="none", marker="v", color="0.4", label="lr changed")
        if curve.early_stop and curve.early_stop[1] in line.xs:
            best = curve.early_stop[1]
            axes.plot([best], [line.ys[line.xs.index(best)]], "*", color=color, ms=14, mec="k")
            kinds["stop"] = Line2D(
                [], [], ls="none", marker="*", color="0.4", ms=10, label="early stop: best epoch"
            )
    return list(kinds.values())


def figure_bytes(figure: Figure, fmt: str) -> bytes:
    """The figure as a PNG, SVG or PDF file's bytes (a PNG is size × `DPI` pixels).

    A character the font lacks (an emoji or CJK in a scenario's name) is drawn as a box, and
    matplotlib's warning for each one, with its source path, is not passed on to the user."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"Glyph \d+ .* missing from font", UserWarning)
        figure.savefig(buffer, format=fmt, dpi=DPI, metadata=_metadata(fmt))
    return buffer.getvalue()


def _metadata(fmt: str) -> dict[str, str | None]:
    """Reproducible files: no creation dates in SVG or PDF."""
    if fmt == "svg":
        return {"Date": None}
    if fmt == "pdf":
        return {"CreationDate": None}
    return {}


def save_figure(figure: Figure, path: Path) -> None:
    """Write the figure in the format its suffix names: a regular file in a regular folder,
    replaced in one rename (`output_files.write_output`; never a device, FIFO or folder).

    Raises:
        UsageError: an unknown suffix, an output `output_target` refuses, or the file cannot
            be written (with the reason; no half file is left).
    """
    from tuilab.presentation.output_files import output_target, write_output

    fmt = figure_format(path)
    output_target(path, example=f"curves.{fmt}")  # refused before drawing a byte
    write_output(path, figure_bytes(figure, fmt), example=f"curves.{fmt}")


def stored_figure(
    runs: list[tuple[Path, str | None]], metric: str, size: tuple[float, float] = DEFAULT_SIZE
) -> Figure:
    """The comparison figure of chosen trials of stored runs (`(run folder, variant or None)`).

    Raises:
        UsageError: matplotlib is missing, or no chosen trial logged `metric`.
        RunStoreError: a run cannot be read, or a named variant is not in it.
    """
    require_matplotlib()
    from tuilab.runtime.compare import select

    selections = select(runs)
    names = list(dict.fromkeys(f"{s.run.parent.name}/{s.run.name}" for s in selections))
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    curves = {s.label: s.curve for s in selections}
    return curves_figure(curves, metric, f"{metric}: {shown}", size)


REPORT_METRICS = ("accuracy", "loss")
"""The figures a report shows, when the run logged them."""


def report_figures(
    curves: dict[str, Curve], title: str, size: tuple[float, float] = DEFAULT_SIZE
) -> dict[str, Figure]:
    """metric -> figure for each of `REPORT_METRICS` the curves logged (matplotlib needed)."""
    logged = {n.removeprefix("val_") for c in curves.values() for n in c.values}
    return {
        metric: curves_figure(curves, metric, f"{title}: {metric}", size)
        for metric in REPORT_METRICS
        if metric in logged
    }


def canvas(size: tuple[float, float]) -> Figure:
    """An empty figure on the Agg canvas (no pyplot state)."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure
