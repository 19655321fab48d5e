"""The HTML report's sections on where the classifier goes wrong, inside the model and the
data: confusion heatmaps as tables, per-class metrics, layer health with gradient heatmaps,
and sample grids. Every text through `esc`; figures as embedded PNGs.
"""

from __future__ import annotations

import re

from tuilab.headless.report_markup import esc, html_png, html_table, warn
from tuilab.headless.report_parts import (
    MATRIX_CORNER,
    MATRIX_NOTE,
    MAX_FIGURE_TRIALS,
    PAIR_HEADER,
    PAIR_NOTE,
    class_names,
    class_reports,
    class_table,
    layer_table,
    layer_title,
    pair_table,
    sample_grids,
)
from tuilab.presentation.confusion import matrix_cells, mistake_rows, report_summary
from tuilab.presentation.layer_health import LAYER_HEALTH_NOTE, layer_series
from tuilab.presentation.text import clean
from tuilab.runtime.events import ClassificationReport
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.stored import StoredRun

SECTION_STYLE = """
table.heat td { text-align: right; min-width: 2.4em; font-variant-numeric: tabular-nums; }
table.heat td.zero { color: #9a9aa0; }
table.heat th.true { text-align: left; }
tr.flagged td { background: #fde8e8; color: #8a1010; font-weight: 600; }
p.note { font-size: 13px; color: #55555a; margin: 0 0 1rem; }
"""
_BACKGROUND = re.compile(r"on (rgb\(\d{1,3},\d{1,3},\d{1,3}\))")
MISTAKE_HEADER = ["Index", "True", "Predicted", "Confidence"]


def _heat_cell(text: str, style: str) -> str:
    """A matrix cell with `tuilab show`'s background (green right, red wrong, deeper with the
    count); empty cells grey."""
    found = _BACKGROUND.search(style)
    if not found:
        return f'<td class="zero">{esc(text)}</td>'
    return (
        f'<td style="background: {esc(found.group(1))}; color: #fff; font-weight: 600">'
        f"{esc(text)}</td>"
    )


def heatmap_table(report: ClassificationReport) -> str:
    """The confusion matrix as an HTML table: class names head rows and columns, every count
    shown on a background whose intensity follows it."""
    names = class_names(report)
    head = f"<th>{esc(MATRIX_CORNER)}</th>" + "".join(f"<th>{esc(n)}</th>" for n in names)
    body = "".join(
        f'<tr><th class="true">{esc(name)}</th>'
        + "".join(_heat_cell(text, style) for text, style in row)
        + "</tr>"
        for name, row in zip(names, matrix_cells(report), strict=True)
    )
    return f'<table class="heat"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def mistakes_gallery(folder: RunFolder, report: ClassificationReport) -> list[str]:
    """The trial's most confident mistakes as images (`mistakes.npz`, checked against the
    report), or a line saying why there are none to show."""
    from tuilab.presentation.confusion import mistake_caption
    from tuilab.presentation.figures import figure_bytes, have_matplotlib
    from tuilab.runtime.mistakes import read_mistakes

    found, problem = read_mistakes(folder, report.trial, report)
    if problem:
        return [warn(f"{report.trial}: no mistake gallery: {problem}")]
    if found is None or not len(found) or not have_matplotlib():
        return []
    from tuilab.presentation.diagnostic_figures import gallery_figure

    mistakes = report.misclassified[: len(found)]
    captions = [mistake_caption(report, mistake) for mistake in mistakes]
    title = f"{clean(report.trial)}: the most confident mistakes, true→predicted confidence"
    figure = gallery_figure(list(found.images), captions, title)
    return [html_png(figure_bytes(figure, "png"), title)]


def _confusion_trial(stored: StoredRun, report: ClassificationReport) -> list[str]:
    header, rows = class_table(report)
    parts = [
        f"<h3>{esc(report.trial)}</h3>",
        f"<p>{esc(report_summary(report))}</p>",
        heatmap_table(report),
        f'<p class="note">{esc(MATRIX_NOTE)}</p>',
        html_table(header, rows, {1, 2, 3, 4}),
    ]
    pairs = pair_table(report)
    if pairs:
        parts += [
            "<h4>Most confused pairs</h4>",
            html_table(PAIR_HEADER, pairs, {2, 3}),
            f'<p class="note">{esc(PAIR_NOTE)}</p>',
        ]
    mistakes = mistake_rows(report)
    if mistakes:
        parts += [
            "<h4>Most confident mistakes</h4>",
            html_table(MISTAKE_HEADER, [list(m) for m in mistakes], {0, 3}),
            f'<p class="note">{esc(report.misclassified_total)} misclassified in all; '
            f"index: position in the {esc(report.split)} split</p>",
        ]
    return parts + mistakes_gallery(stored.folder, report)


def confusion_section(stored: StoredRun) -> list[str]:
    """Per classifier trial: heatmap, per-class metrics, confused pairs and mistakes."""
    parts = ["<h2>Where the classifier goes wrong (test split)</h2>"]
    reports = class_reports(stored.book)
    if not reports:
        return [*parts, "<p>No confusion reports (not a classifier, or not evaluated).</p>"]
    for report in reports:
        parts += _confusion_trial(stored, report)
    return parts


def layers_section(stored: StoredRun, figures: bool) -> list[str]:
    """Per trial: the layer health table (flagged rows highlighted) and, with `figures`, the
    heatmap of gradient norms per layer and epoch."""
    parts = ["<h2>Inside the model: weight and gradient norms per layer</h2>"]
    series = layer_series(stored.events)
    if not series:
        return [*parts, "<p>No layer statistics were stored.</p>"]
    for position, (trial, stats) in enumerate(series.items()):
        header, rows, flagged = layer_table(stats)
        marks = ["flagged" if row[-1] != "ok" else "" for row in rows]
        parts += [
            f"<h3>{esc(layer_title(trial, stats))}</h3>",
            html_table(header, rows, {1, 2, 3}, row_class=marks),
            f'<p class="note">{esc(LAYER_HEALTH_NOTE)}</p>',
        ]
        if flagged:
            parts.append(warn("flagged: " + ", ".join(flagged)))
        if figures and position < MAX_FIGURE_TRIALS:
            from tuilab.presentation.diagnostic_figures import layer_figure
            from tuilab.presentation.figures import figure_bytes

            figure = layer_figure(stats, f"{clean(trial)}: gradient norm per layer and epoch")
            caption = f"{trial}: gradient norm per layer (rows) and epoch (columns), log scale"
            parts.append(html_png(figure_bytes(figure, "png"), caption))
    rest = list(series)[MAX_FIGURE_TRIALS:]
    if figures and rest:
        parts.append(f"<p>Heatmaps drawn for the first {MAX_FIGURE_TRIALS} trials only.</p>")
    return parts


def samples_section(folder: RunFolder, figures: bool, no_figures: str) -> list[str]:
    """The training samples of each distinct `[data]` table after preprocessing, on a fixed
    scale; or one line saying why there are none (`no_figures` without matplotlib)."""
    parts = ["<h2>The data: training samples after preprocessing</h2>"]
    if not figures:
        return [*parts, warn(no_figures)]
    grids, reason = sample_grids(folder)
    if reason:
        return [*parts, warn(reason)]
    from tuilab.presentation.diagnostic_figures import samples_figure
    from tuilab.presentation.figures import figure_bytes

    for grid in grids:
        parts.append(f"<h3>{esc(grid.title)}</h3>")
        if grid.view is None:
            parts.append(warn(f"no samples: {grid.reason}"))
            continue
        steps = "; ".join(grid.view.preprocessing)
        parts.append(f"<p>{esc(f'preprocessing: {steps}')}</p>")
        figure = samples_figure(grid.view.samples, grid.title)
        caption = (
            f"{grid.title}: training samples per class after preprocessing "
            "(grey 0..1, red above 1, blue below 0)"
        )
        parts.append(html_png(figure_bytes(figure, "png"), caption))
    return parts
