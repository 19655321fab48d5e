"""`tuilab report RUN --format md|csv`: a shareable report of one stored run."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

from tuilab.runtime.compare import differing_keys
from tuilab.runtime.describe import describe, format_value
from tuilab.runtime.events import (
    BatchNormSnapshot,
    EarlyStopped,
    Event,
    LearningRateChanged,
    RunStarted,
    VariantStarted,
)
from tuilab.runtime.results import ResultsBook
from tuilab.runtime.stored import load_events, load_results, resolved_scenario


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def _stat(values: list[float]) -> str:
    if len(values) <= 4:
        return ", ".join(format_value(v) for v in values)
    mean = statistics.fmean(values)
    return f"mean {format_value(mean)} [{format_value(min(values))}, {format_value(max(values))}]"


def _batchnorm_section(events: list[Event]) -> list[str]:
    first: dict[str, dict] = {}
    last: dict[str, dict] = {}
    for event in events:
        if isinstance(event, VariantStarted) and event.batchnorm:
            first[event.trial] = event.batchnorm
        elif isinstance(event, BatchNormSnapshot):
            last[event.trial] = event.layers
    lines = []
    for trial, layers in last.items():
        lines.append(f"### {trial}")
        rows = []
        for layer, values in layers.items():
            for name, now in values.items():
                before = first.get(trial, {}).get(layer, {}).get(name, [])
                rows.append([layer, name, str(len(now)), _stat(before), _stat(now)])
        lines.append(_md_table(["Layer", "Variable", "Channels", "Initial", "Final"], rows))
    return lines or ["No BatchNormalization layers."]


def markdown_report(folder: Path) -> str:
    """The report as Markdown."""
    events = load_events(folder)
    book = load_results(folder)
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    lines = [f"# {book.scenario}: run {folder.parent.name}/{folder.name}", ""]
    if started:
        lines += [
            f"- started {started.started} on {started.device.get('device', '?')}, "
            f"TensorFlow {started.device.get('tensorflow', '?')}"
        ]
    lines += [f"- status: {book.status}, {book.seconds:.1f} s", "", "## Results", ""]
    lines.append(
        _md_table(
            ["Trial", "Status", "Epochs", "Best val acc", "Test loss", "Test acc", "Seconds"],
            [
                [
                    r.trial,
                    r.status,
                    str(r.epochs),
                    format_value(r.best.get("val_accuracy")),
                    format_value(r.test.get("loss")),
                    format_value(r.test.get("accuracy")),
                    f"{r.seconds:.1f}",
                ]
                for r in book.trials.values()
            ],
        )
    )
    variants = resolved_scenario(folder).get("variants", {})
    diff = differing_keys(list(variants.values())) if len(variants) > 1 else {}
    lines += ["", "## Scenario keys that differ between variants", ""]
    if diff:
        lines.append(
            _md_table(
                ["Key", *variants], [[k, *(str(v) for v in vals)] for k, vals in diff.items()]
            )
        )
    else:
        lines.append("Only one variant, or none differ.")
    notable = [e for e in events if isinstance(e, LearningRateChanged | EarlyStopped)]
    lines += ["", "## Learning-rate changes and early stops", ""]
    lines += [f"- {describe(e)}" for e in notable] or ["None."]
    lines += ["", "## BatchNormalization statistics (initial and after the last epoch)", ""]
    lines += _batchnorm_section(events)
    return "\n".join(lines) + "\n"


def csv_report(folder: Path) -> str:
    """One row per trial: status, epochs, best validation and test metrics, time, lr."""
    book: ResultsBook = load_results(folder)
    results = list(book.trials.values())
    test_metrics = sorted({m for r in results for m in r.test})
    best_metrics = sorted({m for r in results for m in r.best if m.startswith("val_")})
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            "trial",
            "variant",
            "repeat",
            "status",
            "epochs",
            *(f"best_{m}" for m in best_metrics),
            *(f"test_{m}" for m in test_metrics),
            "seconds",
            "learning_rate",
            "reason",
        ]
    )
    for r in results:
        writer.writerow(
            [
                r.trial,
                r.variant,
                r.repeat,
                r.status,
                r.epochs,
                *(r.best.get(m, "") for m in best_metrics),
                *(r.test.get(m, "") for m in test_metrics),
                round(r.seconds, 3),
                r.learning_rate,
                r.reason,
            ]
        )
    return buffer.getvalue()
