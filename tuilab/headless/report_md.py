"""The Markdown report's figures and its sections on where the classifier goes wrong, the
layers and the data: tables as `tuilab show` prints them, figures as PNG files beside the
report, linked with alt text. Every stored text through `md_text`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from tuilab.errors import TuilabError
from tuilab.headless.report_markup import md_table, md_text
from tuilab.headless.report_parts import (
    MATRIX_CORNER,
    MATRIX_NOTE,
    MAX_FIGURE_TRIALS,
    PAIR_HEADER,
    PAIR_NOTE,
    class_names,
    class_reports,
    class_table,
    figure_path,
    layer_table,
    layer_title,
    matrix_rows,
    pair_table,
    sample_grids,
)
from tuilab.presentation.confusion import report_summary
from tuilab.presentation.layer_health import LAYER_HEALTH_NOTE, layer_series
from tuilab.presentation.text import clean
from tuilab.runtime.curves import CurveBook
from tuilab.runtime.events import Event
from tuilab.runtime.results import ResultsBook
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.stored import load_run

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class FigureFiles:
    """The figures written beside a Markdown report (file names, relative to it)."""

    curves: dict[str, str] = field(default_factory=dict)
    """metric -> file."""
    confusion: dict[str, str] = field(default_factory=dict)
    """trial -> file."""
    layers: dict[str, str] = field(default_factory=dict)
    """trial -> file."""
    samples: list[tuple[str, str]] = field(default_factory=list)
    """(title, file) per distinct `[data]` table that could be loaded."""
    samples_note: list[str] = field(default_factory=list)
    """Why samples are missing (the whole run, or one `[data]` table), a line each."""
    created: list[Path] = field(default_factory=list)
    """The files written that did not exist before (`discard` removes them again)."""

    def names(self) -> list[str]:
        """Every file written, in report order."""
        return [
            *self.curves.values(),
            *self.confusion.values(),
            *self.layers.values(),
            *(name for _, name in self.samples),
        ]

    def __bool__(self) -> bool:
        return bool(self.names())

    def discard(self) -> None:
        """Remove the files this report created (its text could not be written); files it
        replaced stay, whole."""
        for path in self.created:
            path.unlink(missing_ok=True)
        self.created.clear()


def image(alt: str, name: str) -> str:
    """A Markdown image link: alt text through `md_text` (cut to 200 characters), file quoted."""
    return f"![{md_text(clean(alt, limit=200))}]({quote(name)})"


def write_figure_files(
    folder: RunFolder, report: Path, files: FigureFiles | None = None
) -> FigureFiles:
    """Write the run's figures next to a Markdown report: `report-accuracy.png`, ...,
    `report-confusion-<trial>.png`, `report-layers-<trial>.png`, `report-samples.png`.
    Nothing is written when matplotlib is missing. Every file stays in the report's folder,
    each a regular file written in one rename; on an error the ones created are removed.

    `files` is filled as they are written (a caller can `discard` them later).

    Raises:
        UsageError: a figure file cannot be written (its name is a folder or a device, a
            full disk).
    """
    files = FigureFiles() if files is None else files
    try:
        _write_figures(folder, report, files)
    except (TuilabError, OSError):
        files.discard()
        raise
    return files


def _save(figure: Figure, path: Path, files: FigureFiles) -> None:
    from tuilab.presentation.figures import save_figure

    existed = os.path.lexists(path)
    save_figure(figure, path)
    if not existed:
        files.created.append(path)


def _write_figures(folder: RunFolder, report: Path, files: FigureFiles) -> None:
    from tuilab.presentation import diagnostic_figures as inside
    from tuilab.presentation import figures as draw

    if not draw.have_matplotlib():
        return
    stored = load_run(folder)
    curves = CurveBook()
    for event in stored.events:
        curves.handle(event)
    taken: set[str] = {report.name}
    title = clean(stored.book.scenario or folder.run_id)
    for metric, figure in draw.report_figures(curves.curves, title).items():
        path = figure_path(report, metric, "", taken)
        _save(figure, path, files)
        files.curves[metric] = path.name
    for report_ in class_reports(stored.book)[:MAX_FIGURE_TRIALS]:
        path = figure_path(report, "confusion", report_.trial, taken)
        _save(inside.confusion_figure(report_), path, files)
        files.confusion[report_.trial] = path.name
    for trial, series in list(layer_series(stored.events).items())[:MAX_FIGURE_TRIALS]:
        path = figure_path(report, "layers", trial, taken)
        figure = inside.layer_figure(series, f"{clean(trial)}: gradient norm per layer and epoch")
        _save(figure, path, files)
        files.layers[trial] = path.name
    grids, reason = sample_grids(folder)
    files.samples_note += [reason] if reason else []
    for grid in grids:
        if grid.view is None:
            files.samples_note.append(f"{grid.title}: {grid.reason}")
            continue
        path = figure_path(report, "samples", grid.variants[0] if len(grids) > 1 else "", taken)
        _save(inside.samples_figure(grid.view.samples, grid.title), path, files)
        files.samples.append((grid.title, path.name))


def confusion_markdown(book: ResultsBook, figures: FigureFiles) -> list[str]:
    """Per classifier trial: matrix, per-class table, confused pairs (and the figure)."""
    lines = ["", "## Where the classifier goes wrong (test split)", ""]
    reports = class_reports(book)
    if not reports:
        return [*lines, "No confusion reports (not a classifier, or not evaluated)."]
    for report in reports:
        header, rows = class_table(report)
        lines += [f"### {md_text(report.trial)}", "", md_text(report_summary(report)), ""]
        if report.trial in figures.confusion:
            name = figures.confusion[report.trial]
            lines += [image(f"confusion matrix of {report.trial}", name), ""]
        lines += [md_table([MATRIX_CORNER, *class_names(report)], matrix_rows(report))]
        lines += ["", MATRIX_NOTE, "", md_table(header, rows)]
        pairs = pair_table(report)
        if pairs:
            lines += ["", "Most confused pairs:", "", md_table(PAIR_HEADER, pairs), "", PAIR_NOTE]
        lines.append("")
    return lines


def layers_markdown(events: list[Event], figures: FigureFiles) -> list[str]:
    """Per trial: the layer health table, its flagged layers (and the gradient heatmap)."""
    lines = ["", "## Inside the model: weight and gradient norms per layer", ""]
    series = layer_series(events)
    if not series:
        return [*lines, "No layer statistics were stored."]
    for trial, stats in series.items():
        header, rows, flagged = layer_table(stats)
        lines += [f"### {md_text(layer_title(trial, stats))}", "", md_table(header, rows)]
        lines += ["", LAYER_HEALTH_NOTE]
        if flagged:
            lines += ["", f"**flagged:** {md_text(', '.join(flagged))}"]
        if trial in figures.layers:
            alt = f"gradient norm of each layer of {trial} per epoch, log scale"
            lines += ["", image(alt, figures.layers[trial])]
        lines.append("")
    return lines


def samples_markdown(figures: FigureFiles) -> list[str]:
    """The sample grids written, and why any is missing (nothing without figure files)."""
    if not figures.samples and not figures.samples_note:
        return []
    lines = ["", "## The data: training samples after preprocessing", ""]
    for title, name in figures.samples:
        lines += [image(f"training samples of {title} after preprocessing", name), ""]
    lines += [f"- {md_text(note)}" for note in figures.samples_note]
    if figures.samples:
        lines += ["", "Grey 0..1, red above 1, blue below 0."]
    return lines
