"""Compare stored trials: what differs in their resolved scenarios and their layer tables."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuilab.errors import RunStoreError
from tuilab.runtime.curves import Curve, CurveBook
from tuilab.runtime.events import ClassificationReport, VariantStarted
from tuilab.runtime.results import TrialResult
from tuilab.runtime.stored import load_run


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
    problems: list[str] = field(default_factory=list)
    """Why the run it comes from is corrupt (its readable part is still compared)."""
    report: ClassificationReport | None = None
    """Its confusion on the test split (None: not a classifier, not evaluated, or older)."""


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


def select(root_runs: list[tuple[Path, str | None]]) -> list[Selection]:
    """Load the chosen trials (every trial of a run when no variant is named).

    Trials of different runs stay apart, whatever their names: each curve carries its run, so
    only the repeats of one variant within one run are ever pooled into a mean ± std band.

    Raises:
        RunStoreError: a run cannot be read, or a named variant is not in it.
    """
    selections = []
    many_runs = len({run for run, _ in root_runs}) > 1
    for run, wanted in root_runs:
        stored = load_run(run)
        book, curves = stored.book, CurveBook()
        summaries: dict[str, list[dict[str, Any]]] = {}
        for event in stored.events:
            curves.handle(event)
            if isinstance(event, VariantStarted):
                summaries[event.trial] = event.summary.get("rows", [])
        trials = [t for t in book.trials if wanted in (None, t, book.trials[t].variant)]
        if wanted and not trials:
            raise RunStoreError(
                f"run {run} has no variant {wanted!r} (it has: {', '.join(book.trials)})"
            )
        resolved = stored.folder.resolved().get("variants", {})
        resolved = resolved if isinstance(resolved, dict) else {}
        for trial in trials:
            variant = book.trials[trial].variant
            label = f"{run.name}:{trial}" if many_runs else trial
            curve = curves.curves.get(trial) or Curve(variant)
            curve.run = str(run)
            selections.append(
                Selection(
                    run,
                    trial,
                    label,
                    book.trials[trial],
                    curve,
                    resolved.get(variant, {}),
                    summaries.get(trial, []),
                    stored.problems,
                    book.reports.get(trial),
                )
            )
    return selections
