"""Compare stored trials: what differs in their resolved scenarios and their layer tables."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuilab.errors import RunStoreError
from tuilab.runtime.curves import Curve, CurveBook
from tuilab.runtime.results import ResultsBook, TrialResult
from tuilab.runtime.stored import load_events, resolved_scenario


@dataclass
class Selection:
    """One trial of one stored run, with everything needed to compare it."""

    run: Path
    trial: str
    label: str
    result: TrialResult
    curve: Curve
    config: dict[str, Any] = field(default_factory=dict)
    layers: list[dict[str, Any]] = field(default_factory=list)


def flatten(document: Any, prefix: str = "") -> dict[str, Any]:
    """`{"fit": {"epochs": 3}}` -> `{"fit.epochs": 3}`; lists of tables get `[i]`."""
    flat: dict[str, Any] = {}
    if isinstance(document, dict):
        for key, value in document.items():
            flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(document, list) and any(isinstance(v, dict) for v in document):
        for index, value in enumerate(document):
            flat.update(flatten(value, f"{prefix}[{index}]"))
    else:
        flat[prefix] = document
    return flat


def differing_keys(documents: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Only the keys whose values differ between the documents (missing shows as None)."""
    flats = [flatten(d) for d in documents]
    keys = sorted({k for f in flats for k in f})
    return {
        key: [f.get(key) for f in flats]
        for key in keys
        if len({json.dumps(f.get(key), sort_keys=True, default=str) for f in flats}) > 1
    }


def layer_signature(row: dict[str, Any]) -> str:
    """A layer row as one comparable string: `Dense (None, 40) 31,400`."""
    shape = "(" + ", ".join("None" if d is None else str(d) for d in row["output_shape"]) + ")"
    return f"{row['type']} {shape} {row['params']:,}"


COMPARISON_COLUMNS = (
    "Trial",
    "Status",
    "Epochs",
    "Best val acc",
    "Test acc",
    "Δ test acc",
    "Test loss",
)


def comparison_rows(selections: list[Selection]) -> list[list[str]]:
    """Rows of COMPARISON_COLUMNS; Δ is each trial's test accuracy minus the first's."""
    from tuilab.runtime.describe import format_value

    def shown(value: float | None) -> str:
        return "-" if value is None else format_value(value)

    first = selections[0].result.test.get("accuracy") if selections else None
    rows = []
    for selection in selections:
        result = selection.result
        accuracy = result.test.get("accuracy")
        delta = "-" if accuracy is None or first is None else f"{accuracy - first:+.4f}"
        rows.append(
            [
                selection.label,
                result.status,
                str(result.epochs),
                shown(result.best.get("val_accuracy")),
                shown(accuracy),
                delta,
                shown(result.test.get("loss")),
            ]
        )
    return rows


def select(root_runs: list[tuple[Path, str | None]]) -> list[Selection]:
    """Load the chosen trials (every trial of a run when no variant is named).

    Raises:
        RunStoreError: a named variant is not in its run.
    """
    selections = []
    many_runs = len({run for run, _ in root_runs}) > 1
    for run, wanted in root_runs:
        events = load_events(run)
        book, curves = ResultsBook(), CurveBook()
        summaries: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            book.handle(event)
            curves.handle(event)
            if event.kind == "variant_started":
                summaries[event.trial] = event.summary.get("rows", [])
        trials = [t for t in book.trials if wanted in (None, t, book.trials[t].variant)]
        if wanted and not trials:
            raise RunStoreError(
                f"run {run} has no variant {wanted!r} (it has: {', '.join(book.trials)})"
            )
        resolved = resolved_scenario(run).get("variants", {})
        for trial in trials:
            variant = book.trials[trial].variant
            label = f"{run.name}:{trial}" if many_runs else trial
            selections.append(
                Selection(
                    run,
                    trial,
                    label,
                    book.trials[trial],
                    curves.curves[trial],
                    resolved.get(variant, {}),
                    summaries.get(trial, []),
                )
            )
    return selections
