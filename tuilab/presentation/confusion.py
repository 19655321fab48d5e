"""Where a classifier goes wrong, as table rows and cell styles for any front end.

Built from `ClassificationReport` events: the confusion matrix as labelled counts with a
background whose intensity follows the count, the per-class metrics, the most confused pairs,
the most confident mistakes, and per-class recall compared across selections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tuilab.presentation.columns import Column
from tuilab.presentation.samples import CaptionedTile
from tuilab.presentation.text import clean
from tuilab.runtime.events import ClassificationReport, Mistake
from tuilab.runtime.mistakes import MistakeImages

MAX_SHOWN_TRIALS = 4
"""`tuilab show` prints the confusion of this many trials; the others are named."""
PAIRS_SHOWN = 5
MISTAKES_SHOWN = 5


def format_share(value: float) -> str:
    """A precision, recall or accuracy: `0.944`."""
    return f"{value:.3f}"


def label_options(labels: list[str]) -> list[tuple[str, list[str], list[str], bool]]:
    """Ways to label the matrix, widest first: (corner, row labels, column headers, whether a
    legend must name the classes).

    Columns are headed by the class index; rows carry `index name`, then the index alone, then
    the corner header goes too.
    """
    indices = [str(i) for i in range(len(labels))]
    named = [clean(name) for name in labels]
    legend = named != indices
    options = [("true\\pred", indices, indices, legend), ("", indices, indices, legend)]
    if legend:
        full = [f"{i} {name}" for i, name in zip(indices, named, strict=True)]
        options.insert(0, ("true\\pred", full, indices, False))
    return options


def legend(labels: list[str]) -> str:
    """`0 T-shirt/top, 1 Trouser, ...`: the class names behind the indices."""
    return ", ".join(f"{i} {clean(name)}" for i, name in enumerate(labels))


def heat_style(count: int, diagonal: bool, peak: int) -> str:
    """A cell's style: green behind right answers, red behind mistakes, deeper with the count.

    Args:
        count: The cell's count.
        diagonal: Whether the cell counts right answers.
        peak: The largest count of its kind (the row's support for the diagonal; the largest
            mistake count off it).
    """
    if count <= 0 or peak <= 0:
        return "dim"
    share = min(count / peak, 1.0)
    level = int(50 + 150 * share)
    if diagonal:
        return f"bold white on rgb(0,{level},0)"
    return f"bold white on rgb({level},0,0)"


def matrix_cells(report: ClassificationReport) -> list[list[tuple[str, str]]]:
    """Each cell's text and style, rows true classes, columns predicted."""
    worst = max(
        (n for i, row in enumerate(report.matrix) for j, n in enumerate(row) if i != j),
        default=0,
    )
    return [
        [(str(n), heat_style(n, i == j, sum(row) if i == j else worst)) for j, n in enumerate(row)]
        for i, row in enumerate(report.matrix)
    ]


@dataclass(frozen=True)
class ClassRow:
    """One class's line of the per-class table."""

    label: str
    support: int
    precision: float
    recall: float
    f1: float


def class_rows(report: ClassificationReport) -> list[ClassRow]:
    """A row per class, in label order."""
    return [
        ClassRow(f"{i} {clean(name)}" if name != str(i) else name, *values)
        for i, (name, *values) in enumerate(
            zip(
                report.labels,
                report.support,
                report.precision,
                report.recall,
                report.f1,
                strict=True,
            )
        )
    ]


CLASS_COLUMNS: tuple[Column[ClassRow], ...] = (
    Column("class", "Class", lambda r: r.label, lambda r: (0, r.label), 0, False, fold=True),
    Column("support", "Support", lambda r: str(r.support), lambda r: (0, r.support), 2),
    Column(
        "precision", "Precision", lambda r: format_share(r.precision), lambda r: (0, r.precision), 1
    ),
    Column("recall", "Recall (acc)", lambda r: format_share(r.recall), lambda r: (0, r.recall), 0),
    Column("f1", "F1", lambda r: format_share(r.f1), lambda r: (0, r.f1), 3),
)
"""The per-class table. A class's accuracy (its right answers over its samples) is its recall."""


def _name(report: ClassificationReport, index: int) -> str:
    name = clean(report.labels[index])
    return name if name == str(index) else f"{index} {name}"


def report_summary(report: ClassificationReport) -> str:
    """`accuracy 0.944 on 360 test samples; 20 misclassified`, and when a report was asked for
    during training, when."""
    total = sum(report.support)
    during = f" (asked for at {report.during}, while training)" if report.during else ""
    return (
        f"accuracy {format_share(report.accuracy)} on {total} {report.split} samples; "
        f"{report.misclassified_total} misclassified{during}"
    )


def pair_rows(report: ClassificationReport, limit: int = PAIRS_SHOWN) -> list[tuple[str, ...]]:
    """The most confused pairs: true, predicted, count and the share of the true class."""
    rows = []
    for pair in report.confused_pairs[:limit]:
        support = report.support[pair["true"]] or 1
        rows.append(
            (
                _name(report, pair["true"]),
                _name(report, pair["predicted"]),
                str(pair["count"]),
                format_share(pair["count"] / support),
            )
        )
    return rows


def mistake_rows(
    report: ClassificationReport, limit: int = MISTAKES_SHOWN
) -> list[tuple[str, ...]]:
    """The most confident mistakes: test index, true, predicted, confidence."""
    return [
        (
            str(m["index"]),
            _name(report, m["true"]),
            _name(report, m["predicted"]),
            format_share(m["confidence"]),
        )
        for m in report.misclassified[:limit]
    ]


def confidence_percent(confidence: float) -> str:
    """`93%`, rounded as the table's `0.930` is (a 0.996 mistake shows `>99%`, never a
    certain `100%`)."""
    percent = math.floor(confidence * 100 + 0.5)
    return ">99%" if percent >= 100 and confidence < 1.0 else f"{percent}%"


def mistake_caption(report: ClassificationReport, mistake: Mistake) -> tuple[str, ...]:
    """A gallery tile's caption `true→predicted 93%` (class names where the dataset has
    them), in the parts a narrow tile breaks between."""
    true, predicted = (clean(report.labels[mistake[k]]) for k in ("true", "predicted"))
    return (f"{true}→", predicted, f" {confidence_percent(mistake['confidence'])}")


def mistake_tiles(report: ClassificationReport, found: MistakeImages) -> list[CaptionedTile]:
    """The stored mistake images with their captions, most confident first (the table's
    order); `found` is checked against `report` by `runtime.mistakes.read_mistakes`."""
    return [
        CaptionedTile(image, mistake_caption(report, mistake))
        for image, mistake in zip(found.images, report.misclassified, strict=False)
    ]


def gallery_heading(report: ClassificationReport, shown: int) -> str:
    """What the gallery shows, in one line."""
    return (
        f"{report.trial}: the {shown} most confident mistakes as the model saw them "
        f"({report.split} split, after preprocessing), true→predicted confidence"
    )


def report_line(report: ClassificationReport) -> str:
    """One line for event logs: misclassified count and the most confused pair."""
    line = f"{report.trial}: confusion: {report_summary(report)}"
    if report.confused_pairs:
        top = report.confused_pairs[0]
        line += (
            f"; most confused {_name(report, top['true'])} -> "
            f"{_name(report, top['predicted'])} ({top['count']}×)"
        )
    return line


@dataclass(frozen=True)
class RecallRow:
    """One class across the compared selections: its recall in each (None: no report)."""

    label: str
    recalls: tuple[float | None, ...]


def recall_rows(reports: list[ClassificationReport | None]) -> list[RecallRow]:
    """Per class (those of the first report that has any), each selection's recall."""
    first = next((r for r in reports if r is not None), None)
    if first is None:
        return []
    rows = []
    for index in range(len(first.labels)):
        recalls = tuple(
            r.recall[index] if r is not None and r.labels == first.labels else None for r in reports
        )
        rows.append(RecallRow(_name(first, index), recalls))
    return rows


def _recall_cell(row: RecallRow, position: int) -> str:
    value = row.recalls[position]
    if value is None:
        return "-"
    if position == 0:
        return format_share(value)
    reference = row.recalls[0]
    delta = "-" if reference is None else f"{value - reference:+.3f}"
    return f"{format_share(value)} {delta}"


def recall_columns(labels: list[str]) -> list[Column[RecallRow]]:
    """Class, then each selection's recall; after the first, with the delta against it."""
    columns: list[Column[RecallRow]] = [
        Column("class", "Class", lambda r: r.label, lambda r: (0, r.label), 0, False, fold=True)
    ]
    for position, label in enumerate(labels):
        columns.append(
            Column(
                f"recall{position}",
                clean(label),
                lambda r, p=position: _recall_cell(r, p),
                lambda r, p=position: (0, r.recalls[p] or 0.0),
                0 if position == 0 else position,
            )
        )
    return columns
