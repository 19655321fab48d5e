"""What the Markdown and HTML reports both show, as plain rows: each classifier trial's
confusion matrix, per-class metrics and confused pairs, each trial's layer health, and the
scenario's training samples after preprocessing.

Numbers come from the same `presentation` functions as `tuilab show`, so a report and the
terminal say the same thing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tuilab.data.inspect import DataView
from tuilab.presentation.confusion import CLASS_COLUMNS, class_rows, pair_rows
from tuilab.presentation.layer_health import LAYER_HEALTH_COLUMNS, health_rows
from tuilab.presentation.text import clean
from tuilab.runtime.events import ClassificationReport
from tuilab.runtime.layer_events import LayerStats
from tuilab.runtime.results import ResultsBook
from tuilab.runtime.run_folder import RunFolder

MAX_FIGURE_TRIALS = 24
"""Layer heatmaps (and Markdown confusion figures) are drawn for this many trials; the tables
cover all of them."""
SAMPLES_PER_CLASS = 2
"""Training samples of each class in a report's sample grid."""
MATRIX_CORNER = "true \\ predicted"
PAIR_HEADER = ["True", "Predicted", "Count", "Share"]
PAIR_NOTE = "share: of the true class's samples"
MATRIX_NOTE = "rows: true class, columns: predicted class"


def class_reports(book: ResultsBook) -> list[ClassificationReport]:
    """The classification reports of a run's trials, in trial order (consistent ones only)."""
    reports = [book.reports[t] for t in book.trials if t in book.reports]
    reports += [r for t, r in book.reports.items() if t not in book.trials]
    return [r for r in reports if r.problem() is None]


def class_names(report: ClassificationReport) -> list[str]:
    """The matrix's row and column headers: the class names (as stored, cleaned)."""
    return [clean(name) for name in report.labels]


def matrix_rows(report: ClassificationReport) -> list[list[str]]:
    """The confusion matrix as text rows: the true class, then its count per predicted class."""
    return [
        [name, *(str(n) for n in row)]
        for name, row in zip(class_names(report), report.matrix, strict=True)
    ]


def class_table(report: ClassificationReport) -> tuple[list[str], list[list[str]]]:
    """The per-class table (header, rows) exactly as `tuilab show` prints it."""
    rows = class_rows(report)
    return [c.header for c in CLASS_COLUMNS], [[c.text(r) for c in CLASS_COLUMNS] for r in rows]


def pair_table(report: ClassificationReport) -> list[list[str]]:
    """The most confused pairs: true, predicted, count, share of the true class."""
    return [list(row) for row in pair_rows(report)]


def layer_table(series: Sequence[LayerStats]) -> tuple[list[str], list[list[str]], list[str]]:
    """One trial's layer health table (header, rows) as `tuilab show` prints it, and the names
    of its flagged layers."""
    rows = health_rows(series)
    header = [c.header for c in LAYER_HEALTH_COLUMNS]
    table = [[c.text(r) for c in LAYER_HEALTH_COLUMNS] for r in rows]
    return header, table, [r.layer for r in rows if r.flags != "ok"]


def layer_title(trial: str, series: Sequence[LayerStats]) -> str:
    """`adam: layers, epochs 0-15, gradients on one fixed training batch`."""
    return (
        f"{trial}: layers, epochs {series[0].epoch}-{series[-1].epoch}, "
        "gradients on one fixed training batch"
    )


@dataclass(frozen=True)
class SampleGrid:
    """One distinct `[data]` table of a run: the variants using it, and its data (or why not)."""

    variants: list[str]
    view: DataView | None
    reason: str = ""

    @property
    def title(self) -> str:
        """`digits, variants adam, sgd`."""
        dataset = self.view.dataset if self.view is not None else "data"
        return f"{dataset}, variants {', '.join(self.variants)}"


def one_line(error: object, limit: int = 300) -> str:
    """An error message on one line (whitespace runs collapsed), cleaned and capped."""
    return clean(" ".join(str(error).split()), limit=limit)


def sample_grids(folder: RunFolder) -> tuple[list[SampleGrid], str]:
    """Each distinct `[data]` table of the run's resolved scenario with its training samples
    after preprocessing (local copies only, never a download), or one line saying why the
    run has none (a script's run, a TensorBoard log directory, no `resolved.json`)."""
    from tuilab.data.inspect import distinct_data, inspect_data
    from tuilab.errors import TuilabError
    from tuilab.scenario.resolved import scenario_from_resolved

    if not folder.looks_like_run():
        return [], "no samples: a TensorBoard log directory records no dataset"
    document = folder.resolved()
    if document.get("source") == "script":
        return [], "no samples: a run recorded from a script, whose data tuilab does not know"
    try:
        scenario = scenario_from_resolved(document, folder.resolved_json)
    except TuilabError as exc:
        return [], one_line(f"no samples: resolved.json cannot be read: {exc}")
    grids = []
    for config, names in distinct_data(scenario.variants):
        try:
            view = inspect_data(
                config, scenario.meta.seed, per_class=SAMPLES_PER_CLASS, download=False
            )
        except TuilabError as exc:
            grids.append(SampleGrid(names, None, one_line(f"{config.dataset}: {exc}")))
        except Exception as exc:  # a reader bug must not take the report down
            grids.append(SampleGrid(names, None, one_line(f"{type(exc).__name__}: {exc}")))
        else:
            grids.append(SampleGrid(names, view))
    if not grids:
        return [], "no samples: the scenario has no dataset"
    return grids, ""


def safe_name(text: str) -> str:
    """`text` as part of a file name: letters, digits, `.`, `_` and `-` only, never a dot
    first (trial names are already this; a stored name someone edited may not be)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", clean(text, limit=80)).lstrip(".") or "_"


def figure_path(report: Path, kind: str, name: str, taken: set[str]) -> Path:
    """`report-<kind>-<name>.png` beside the report, unique among `taken`, never elsewhere."""
    stem = f"{report.stem}-{kind}" + (f"-{safe_name(name)}" if name else "")
    candidate, count = f"{stem}.png", 1
    while candidate in taken:
        count += 1
        candidate = f"{stem}-{count}.png"
    taken.add(candidate)
    path = report.with_name(candidate)
    if path.parent != report.parent:  # cannot happen with a safe name; checked anyway
        raise ValueError(f"figure {candidate!r} would leave the report's folder")
    return path
