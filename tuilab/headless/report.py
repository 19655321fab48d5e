"""`tuilab report RUN --format md|csv|json`: a shareable report of one stored run.

A stored run is untrusted input, and a report is opened by someone else: it must stay inert.
Every stored text goes through `clean` (no control characters for a file someone will `cat`);
in Markdown then through `md_text` (no HTML, entity, link or image forms, and no `|` breaks a
table; the note is a code block), in CSV through `safe_cell` (no cell is a spreadsheet
formula). The Markdown report's confusion, layer and sample sections and its figure files:
`report_md`; where reports are written (a regular file, in one rename):
`presentation.output_files`.
"""

from __future__ import annotations

import io
import json
import statistics
from pathlib import Path

from tuilab.backend import backend_text
from tuilab.headless.report_markup import md_block, md_table, md_text
from tuilab.headless.report_md import (
    FigureFiles,
    confusion_markdown,
    image,
    layers_markdown,
    samples_markdown,
    write_figure_files,
)
from tuilab.presentation.columns import RESULT_COLUMNS, column, sort_rows, trial_rows
from tuilab.presentation.describe import describe
from tuilab.presentation.numbers import format_value
from tuilab.presentation.output_files import output_target, write_output
from tuilab.presentation.text import clean
from tuilab.runtime.compare import differing_keys
from tuilab.runtime.csv_cells import safe_writer
from tuilab.runtime.events import (
    BatchNormSnapshot,
    EarlyStopped,
    Event,
    LearningRateChanged,
    RunStarted,
    VariantStarted,
    json_safe,
)
from tuilab.runtime.library import annotations
from tuilab.runtime.results import ResultsBook
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.stored import load_run


def _stat(values: list[float]) -> str:
    if len(values) <= 4:
        return ", ".join(format_value(v) for v in values)
    mean = statistics.fmean(values)
    return f"mean {format_value(mean)} [{format_value(min(values))}, {format_value(max(values))}]"


NO_CHANGES = "No learning-rate changes or early stops."
"""Said in words: a bare `None.` reads as Python's None, which the shell never shows."""
BATCHNORM_HEADER = ["Layer", "Variable", "Channels", "Initial", "Final"]


def batchnorm_first_last(
    events: list[Event],
) -> tuple[dict[str, dict], dict[str, BatchNormSnapshot]]:
    """Per trial: its BatchNorm statistics before training, and its last snapshot."""
    first: dict[str, dict] = {}
    last: dict[str, BatchNormSnapshot] = {}
    for event in events:
        if isinstance(event, VariantStarted) and event.batchnorm:
            first[event.trial] = event.batchnorm
        elif isinstance(event, BatchNormSnapshot):
            last[event.trial] = event
    return first, last


def batchnorm_rows(events: list[Event]) -> dict[str, list[list[str]]]:
    """trial -> `BATCHNORM_HEADER` rows: each variable's initial and last statistics."""
    first, last = batchnorm_first_last(events)
    tables: dict[str, list[list[str]]] = {}
    for trial, snapshot in last.items():
        rows = tables.setdefault(trial, [])
        for layer, values in snapshot.layers.items():
            for name, now in values.items():
                before = first.get(trial, {}).get(layer, {}).get(name, [])
                rows.append([layer, name, str(len(now)), _stat(before), _stat(now)])
    return tables


def _batchnorm_section(events: list[Event]) -> list[str]:
    lines = []
    for trial, rows in batchnorm_rows(events).items():
        lines.append(f"### {md_text(trial)}")
        lines.append(md_table(BATCHNORM_HEADER, rows))
    return lines or ["No BatchNormalization layers."]


def markdown_report(folder: RunFolder, figures: FigureFiles | dict[str, str] | None = None) -> str:
    """The report as Markdown (a corrupt run's readable part, with the problems listed).

    `figures`: the figure files written beside it (`figure_files`), linked; a dict maps a
    metric to its curve figure only."""
    if not isinstance(figures, FigureFiles):
        figures = FigureFiles(curves=dict(figures or {}))
    stored = load_run(folder)
    events, book = stored.events, stored.book
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    lines = [f"# {md_text(book.scenario)}: run {md_text(folder.run_id)}", ""]
    facts = []
    if started:
        device = started.device.get("device", "?")
        facts.append(f"started {started.started} on {device}, {backend_text(started.device)}")
    facts.append(f"status: {stored.status}, {book.seconds:.1f} s")
    found = annotations(folder)
    if found.tags:
        facts.append(f"tags: {', '.join(found.tags)}")
    facts += [f"corrupt: {problem}" for problem in [*stored.problems, *found.problems]]
    lines += [f"- {md_text(fact)}" for fact in facts]
    if found.note:  # a code block: shown as written, never read as Markdown (links, images)
        lines += ["", "## Note", "", *md_block(found.note)]
    lines += ["", "## Results (per trial, ranked by best validation accuracy)", ""]
    rows = sort_rows(trial_rows(book), column(RESULT_COLUMNS, "best_val_accuracy"))
    lines.append(
        md_table(
            [c.header for c in RESULT_COLUMNS], [[c.text(r) for c in RESULT_COLUMNS] for r in rows]
        )
    )
    reasons = [f"- {md_text(f'{r.label}: {r.reason}')}" for r in rows if r.reason]
    if reasons:
        lines += ["", *reasons]
    variants = folder.resolved().get("variants", {})
    variants = variants if isinstance(variants, dict) else {}
    diff = differing_keys(list(variants.values())) if len(variants) > 1 else {}
    lines += ["", "## Scenario keys that differ between variants", ""]
    if diff:
        lines.append(
            md_table(
                ["Key", *variants],
                [[k, *("-" if v is None else str(v) for v in vals)] for k, vals in diff.items()],
            )
        )
    else:
        lines.append("Only one variant, or none differ.")
    if figures.curves:
        lines += ["", "## Curves", ""]
        lines += [image(f"{m} per epoch", name) for m, name in figures.curves.items()]
    notable = [e for e in events if isinstance(e, LearningRateChanged | EarlyStopped)]
    lines += ["", "## Learning-rate changes and early stops", ""]
    lines += [f"- {md_text(line)}" for line in map(describe, notable) if line] or [NO_CHANGES]
    lines += ["", "## BatchNormalization statistics (initial and after the last epoch)", ""]
    lines += _batchnorm_section(events)
    lines += confusion_markdown(book, figures)
    lines += layers_markdown(events, figures)
    lines += samples_markdown(figures)
    return "\n".join(lines).rstrip("\n") + "\n"


def csv_report(folder: RunFolder) -> str:
    """One row per trial: status, epochs, best validation and test metrics, time, lr, and the
    run's tags and note."""
    book: ResultsBook = load_run(folder).book
    found = annotations(folder)
    results = list(book.trials.values())
    test_metrics = sorted({m for r in results for m in r.test})
    best_metrics = sorted({m for r in results for m in r.best if m.startswith("val_")})
    buffer = io.StringIO()
    writer = safe_writer(buffer)  # no cell a spreadsheet formula
    writer.writerow(
        [
            "trial",
            "variant",
            "repeat",
            "status",
            "epochs",
            *(clean(f"best_{m}") for m in best_metrics),
            *(clean(f"test_{m}") for m in test_metrics),
            "seconds",
            "learning_rate",
            "reason",
            "tags",
            "note",
        ]
    )
    for r in results:
        writer.writerow(
            [
                clean(r.trial),
                clean(r.variant),
                r.repeat,
                clean(r.status),
                r.epochs,
                *(r.best.get(m, "") for m in best_metrics),
                *(r.test.get(m, "") for m in test_metrics),
                round(r.seconds, 3),
                r.learning_rate,
                clean(r.reason),
                " ".join(found.tags),
                clean(found.note),
            ]
        )
    return buffer.getvalue()


def json_report(folder: RunFolder) -> str:
    """The report as JSON: the run, its results per trial and variant, the keys that differ,
    learning-rate changes, early stops and BatchNorm statistics (first and last snapshot).

    Numbers stay numbers (NaN and infinities as null); text is as stored (JSON escapes it)."""
    stored = load_run(folder)
    events, book = stored.events, stored.book
    found = annotations(folder)
    variants = folder.resolved().get("variants", {})
    variants = variants if isinstance(variants, dict) else {}
    first, last = batchnorm_first_last(events)
    document = {
        "run": folder.run_id,
        "scenario": book.scenario,
        "status": stored.status,
        "seconds": book.seconds,
        "tags": found.tags,
        "note": found.note,
        "problems": [*stored.problems, *found.problems],
        "results": book.to_dict(),
        "differing_keys": differing_keys(list(variants.values())) if len(variants) > 1 else {},
        "events": [
            e.to_dict() for e in events if isinstance(e, LearningRateChanged | EarlyStopped)
        ],
        "batchnorm": {
            t: {"initial": first.get(t, {}), "final": {"epoch": e.epoch, "layers": e.layers}}
            for t, e in last.items()
        },
    }
    return json.dumps(json_safe(document), indent=2, default=str) + "\n"


STDOUT_HINT = "leave out -o to print the report"
REPORTS = {"md": markdown_report, "csv": csv_report, "json": json_report}
"""format -> writer (`html`: `report_html.html_report`)."""


def write_report(path: Path, text: str, fmt: str = "md") -> None:
    """Write a report file: a regular file in a regular folder, replaced in one rename.

    Raises:
        UsageError: `path` is a folder, a device, a FIFO, in no folder or the device folder, or
            cannot be written (with the reason; no half file is left).
    """
    write_output(path, text.encode("utf-8"), example=f"report.{fmt}", hint=STDOUT_HINT)


def check_output(path: Path, fmt: str = "md") -> None:
    """Refuse an output `write_report` would refuse, before anything is read or drawn.

    Raises:
        UsageError: see `write_report`.
    """
    output_target(path, example=f"report.{fmt}", hint=STDOUT_HINT)


def figure_files(folder: RunFolder, report: Path, files: FigureFiles | None = None) -> FigureFiles:
    """Write the run's figures next to a Markdown report (`report-accuracy.png`, the confusion
    matrices, layer heatmaps and sample grids), to link from it. Nothing is written when
    matplotlib is missing, or when `report` is not a regular file in a regular folder.

    Raises:
        UsageError: `report` is refused (`check_output`), or a figure file cannot be written.
    """
    check_output(report)
    return write_figure_files(folder, report, files)


def write_report_files(folder: RunFolder, path: Path, fmt: str) -> FigureFiles:
    """Write the report in `fmt` to `path` (md: its figures beside it, linked), all or none:
    when the report cannot be written, the figure files it created are removed.

    Raises:
        UsageError: `path` is refused (`check_output`) or a file cannot be written.
    """
    from tuilab.headless.report_html import html_report

    check_output(path, fmt)
    figures = FigureFiles()
    try:
        if fmt == "md":
            figure_files(folder, path, figures)
            text = markdown_report(folder, figures)
        else:
            text = REPORTS.get(fmt, html_report)(folder)
        write_report(path, text, fmt)
    except BaseException:
        figures.discard()
        raise
    return figures
