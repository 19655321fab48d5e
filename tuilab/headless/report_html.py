"""`tuilab report RUN --format html`: one self-contained page to share (figures inside it).

A stored run is untrusted input: every stored text goes through `clean` (no control
characters) and then `html.escape`, so a name like `<script>` shows as text. Figures are PNGs
embedded as `data:` URLs, and the page's Content-Security-Policy allows nothing else: it loads
no script, style sheet, font or image from anywhere.
"""

from __future__ import annotations

from tuilab.backend import backend_text
from tuilab.headless.report import BATCHNORM_HEADER, NO_CHANGES, batchnorm_rows
from tuilab.headless.report_markup import esc, html_items, html_png, html_table, warn
from tuilab.headless.report_sections import (
    SECTION_STYLE,
    confusion_section,
    layers_section,
    samples_section,
)
from tuilab.presentation.columns import RESULT_COLUMNS, column, sort_rows, trial_rows
from tuilab.presentation.describe import describe
from tuilab.presentation.text import clean
from tuilab.runtime.compare import differing_keys
from tuilab.runtime.curves import CurveBook
from tuilab.runtime.events import EarlyStopped, LearningRateChanged, RunStarted
from tuilab.runtime.library import annotations
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.stored import StoredRun, load_run

STYLE = (
    """
body { font: 15px/1.45 system-ui, sans-serif; max-width: 64rem; margin: 2rem auto;
       padding: 0 1rem; color: #1d1d1f; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: 13px; }
th, td { border: 1px solid #d0d0d5; padding: .25rem .5rem; text-align: left;
         vertical-align: top; }
th { background: #f2f2f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f6f6f8; padding: .5rem; white-space: pre-wrap; }
figure { margin: 1rem 0; } img { max-width: 100%; height: auto; }
.warn { color: #a15c00; }
"""
    + SECTION_STYLE
)
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
NO_MATPLOTLIB = (
    'Figures need matplotlib, the plot extra: pip install "tuilab[plot]" (then run the '
    "report again)."
)


def _facts(stored: StoredRun) -> list[str]:
    started = next((e for e in stored.events if isinstance(e, RunStarted)), None)
    lines = []
    if started:
        lines.append(
            f"started {started.started} on {started.device.get('device', '?')}, "
            f"{backend_text(started.device)}"
        )
    lines.append(f"status: {stored.status}, {stored.book.seconds:.1f} s")
    found = annotations(stored.folder)
    if found.tags:
        lines.append(f"tags: {', '.join(found.tags)}")
    return lines


def _results(stored: StoredRun) -> list[str]:
    rows = sort_rows(trial_rows(stored.book), column(RESULT_COLUMNS, "best_val_accuracy"))
    numeric = {i for i, c in enumerate(RESULT_COLUMNS) if c.key not in ("trial", "status")}
    parts = [
        "<h2>Results (per trial, ranked by best validation accuracy)</h2>",
        html_table(
            [c.header for c in RESULT_COLUMNS],
            [[c.text(r) for c in RESULT_COLUMNS] for r in rows],
            numeric,
        ),
    ]
    reasons = [f"{r.label}: {r.reason}" for r in rows if r.reason]
    if reasons:
        parts.append(html_items(reasons, "warn"))
    return parts


def _scenario_diff(folder: RunFolder) -> list[str]:
    variants = folder.resolved().get("variants", {})
    variants = variants if isinstance(variants, dict) else {}
    diff = differing_keys(list(variants.values())) if len(variants) > 1 else {}
    parts = ["<h2>Scenario keys that differ between variants</h2>"]
    if not diff:
        return [*parts, "<p>Only one variant, or none differ.</p>"]
    rows = [[key, *("-" if v is None else str(v) for v in values)] for key, values in diff.items()]
    return [*parts, html_table(["Key", *variants], rows)]


def _figures(stored: StoredRun, figures_: bool) -> list[str]:
    """The curves as embedded PNGs, or a line saying how to get them."""
    from tuilab.presentation.figures import figure_bytes, report_figures

    parts = ["<h2>Curves</h2>"]
    if not figures_:
        return [*parts, warn(NO_MATPLOTLIB)]
    curves = CurveBook()
    for event in stored.events:
        curves.handle(event)
    title = clean(stored.book.scenario or stored.folder.run_id)
    figures = report_figures(curves.curves, title)
    if not figures:
        return [*parts, "<p>No curves were logged.</p>"]
    for metric, figure in figures.items():
        caption = f"{metric} per epoch: training solid, validation dashed"
        parts.append(html_png(figure_bytes(figure, "png"), caption))
    return parts


def _batchnorm(stored: StoredRun) -> list[str]:
    parts = ["<h2>BatchNormalization statistics (initial and after the last epoch)</h2>"]
    tables = batchnorm_rows(stored.events)
    if not tables:
        return [*parts, "<p>No BatchNormalization layers.</p>"]
    for trial, rows in tables.items():
        parts += [f"<h3>{esc(trial)}</h3>", html_table(BATCHNORM_HEADER, rows, {2, 3, 4})]
    return parts


def html_report(folder: RunFolder) -> str:
    """The report as one HTML page: what the Markdown report says, with the curves, confusion
    matrices, layer gradients and data samples drawn (a corrupt run's readable part, with the
    problems listed)."""
    from tuilab.presentation.figures import have_matplotlib

    figures = have_matplotlib()
    stored = load_run(folder)
    found = annotations(folder)
    title = f"{stored.book.scenario}: run {folder.run_id}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{POLICY}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        html_items(_facts(stored)),
    ]
    problems = [*stored.problems, *found.problems]
    if problems:
        parts.append(html_items([f"corrupt: {p}" for p in problems], "warn"))
    if found.note:
        parts += ["<h2>Note</h2>", f"<pre>{esc(found.note, multiline=True)}</pre>"]
    parts += _results(stored)
    parts += _scenario_diff(folder)
    parts += _figures(stored, figures)
    notable = [e for e in stored.events if isinstance(e, LearningRateChanged | EarlyStopped)]
    parts.append("<h2>Learning-rate changes and early stops</h2>")
    lines = [line for line in (describe(e) for e in notable) if line]
    parts.append(html_items(lines) if lines else f"<p>{NO_CHANGES}</p>")
    parts += confusion_section(stored)
    parts += layers_section(stored, figures)
    parts += _batchnorm(stored)
    parts += samples_section(folder, figures, NO_MATPLOTLIB)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
