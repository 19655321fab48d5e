"""Confusion matrices, per-class tables and recall comparisons as Rich tables for the shell.

The matrix never cuts a count: it labels its rows with class names when they fit, else with
class indices and a legend, and when even that is too wide it says so instead of printing.
"""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from tuilab.headless.data_cmd import wants_color
from tuilab.headless.tables import add_caption, spec_table
from tuilab.presentation.columns import longest_word
from tuilab.presentation.confusion import (
    CLASS_COLUMNS,
    MAX_SHOWN_TRIALS,
    class_rows,
    gallery_heading,
    label_options,
    legend,
    matrix_cells,
    mistake_rows,
    mistake_tiles,
    pair_rows,
    recall_columns,
    recall_rows,
    report_summary,
)
from tuilab.presentation.samples import ASCII_LEGEND, LEGEND, gallery_grid
from tuilab.presentation.text import clean, plain
from tuilab.runtime.events import ClassificationReport
from tuilab.runtime.mistakes import read_mistakes
from tuilab.runtime.results import ResultsBook
from tuilab.runtime.run_folder import RunFolder


def matrix_table(report: ClassificationReport, width: int) -> Table | None:
    """The confusion matrix (rows true, columns predicted) in `width`, or None if too wide."""
    cells = matrix_cells(report)
    widest = max([len(text) for row in cells for text, _ in row], default=1)
    for corner, rows, headers, needs_legend in label_options(report.labels):
        table = Table(
            title=Text(f"{clean(report.trial)}: confusion on the {report.split} split"),
            title_justify="left",
            box=box.SIMPLE_HEAD,
            padding=(0, 0),
        )
        table.add_column(corner, no_wrap=True)
        for header in headers:
            table.add_column(header, justify="right", no_wrap=True, min_width=widest)
        for label, row in zip(rows, cells, strict=True):
            table.add_row(plain(label), *(Text(text, style=style) for text, style in row))
        wide = Console(width=10_000)
        if Measurement.get(wide, wide.options, table).maximum > width:
            continue  # measured before the captions, which wrap
        add_caption(table, "rows: true class, columns: predicted class", width)
        if needs_legend:
            add_caption(table, legend(report.labels), width)
        return table
    return None


def listing(
    title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]], numeric: set[int]
) -> Table:
    """A small table: numeric columns right-aligned and never wrapped, class names folding."""
    table = Table(title=Text(clean(title)), title_justify="left", box=box.SIMPLE_HEAD)
    for position, header in enumerate(headers):
        if position in numeric:
            table.add_column(header, justify="right", no_wrap=True)
        else:  # a class name wraps between its words, never inside one
            words = max([len(header), *(longest_word(row[position]) for row in rows)])
            table.add_column(header, overflow="fold", min_width=words)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def print_report(
    console: Console, report: ClassificationReport, folder: RunFolder | Path | None = None
) -> None:
    """One trial's matrix, per-class table, most confused pairs and most confident mistakes,
    and with the run's `folder` the gallery of those mistakes' images."""
    width = console.width
    matrix = matrix_table(report, width)
    if matrix is None:
        size = len(report.labels)
        console.print(
            plain(
                f"{report.trial}: the {size}×{size} confusion matrix does not fit {width} "
                "columns (widen the terminal, or read variants/<trial>/confusion.json)",
                "yellow",
            )
        )
    else:
        console.print(matrix)
    per_class = spec_table(
        f"{report.trial}: per class", CLASS_COLUMNS, class_rows(report), min(width, 100)
    )
    add_caption(per_class, report_summary(report), width)
    console.print(per_class)
    pairs = pair_rows(report)
    if pairs:
        headers = ("True", "Predicted", "Count", "Share")
        table = listing(f"{report.trial}: most confused", headers, pairs, {2, 3})
        add_caption(table, "share: of the true class's samples", width)
        console.print(table)
    mistakes = mistake_rows(report)
    if mistakes:
        headers = ("Index", "True", "Predicted", "Confidence")
        table = listing(f"{report.trial}: most confident mistakes", headers, mistakes, {0, 3})
        add_caption(
            table,
            f"{len(report.misclassified)} of {report.misclassified_total} in confusion.json; "
            f"index: position in the {report.split} split",
            width,
        )
        console.print(table)
    if folder is not None:
        print_gallery(console, report, folder)


def print_gallery(console: Console, report: ClassificationReport, folder: RunFolder | Path) -> None:
    """The stored images of the trial's most confident mistakes, captioned `true→predicted
    93%`, or why they cannot be shown (nothing when the trial stored none)."""
    found, problem = read_mistakes(folder, report.trial, report)
    if problem is not None:
        console.print(
            plain(f"{report.trial}: no mistake gallery: {problem}", "yellow"), soft_wrap=False
        )
    if found is None:
        return
    color = wants_color(console, False)
    console.print(plain(gallery_heading(report, len(found)), "bold"), soft_wrap=False)
    console.print(plain(LEGEND if color else ASCII_LEGEND, "dim"), soft_wrap=False)
    console.print(gallery_grid(mistake_tiles(report, found), console.width, color=color))


def print_confusion(
    console: Console, book: ResultsBook, folder: RunFolder | Path | None = None
) -> None:
    """The confusion reports of a run's trials (the first few, the others named); with the
    run's `folder`, each with its gallery of mistakes."""
    reports = [book.reports[t] for t in book.trials if t in book.reports]
    for report in reports[:MAX_SHOWN_TRIALS]:
        print_report(console, report, folder)
    rest = [r.trial for r in reports[MAX_SHOWN_TRIALS:]]
    if rest:
        console.print(
            plain(
                f"confusion reports not shown here: {', '.join(rest)} (see their confusion.json)"
            ),
            soft_wrap=True,
        )


def recall_table(
    labels: list[str], reports: list[ClassificationReport | None], width: int
) -> Table | None:
    """Per-class test recall of each selection, with its delta against the first (None when
    no selection has a report)."""
    rows = recall_rows(reports)
    if not rows:
        return None
    table = spec_table("Per-class recall (test)", recall_columns(labels), rows, width)
    missing = [label for label, r in zip(labels, reports, strict=True) if r is None]
    if missing:
        add_caption(table, "no confusion report: " + ", ".join(missing), width)
    add_caption(table, "after the first selection: recall and its delta against the first", width)
    return table
