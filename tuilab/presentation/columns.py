"""One column spec for every results table: the app, the shell tables and the reports.

A `Column` says what a table shows (header), how a cell is read from a row (`text`, and `key`
for sorting) and which columns go first when the width runs out (`priority`: 0 always stays,
higher numbers are dropped first). Numbers are never cut: a table that does not fit drops whole
columns, by priority, and says which.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tuilab.model.summary import LayerRow, ModelSummary
from tuilab.presentation.numbers import format_delta, format_mean_std, format_rate, format_shape
from tuilab.presentation.text import clean
from tuilab.runtime.results import ResultsBook, TrialResult
from tuilab.runtime.run_folder import RunInfo

Row = TypeVar("Row")
TEXT_FOLD_WIDTH = 12
"""A text column may fold down to this width (or its header's) before it is dropped."""

STATUS_STYLE = {
    "finished": "green",
    "failed": "red",
    "stopped": "yellow",
    "incomplete": "red",
    "corrupt": "bold red",
    "running": "cyan",
}


def status_style(status: str) -> str:
    """The colour of a status (`finished/failed ×3` takes its first word's), in every front end."""
    return STATUS_STYLE.get(status.split("/")[0].split(" ")[0], "")


@dataclass(frozen=True)
class Stat:
    """A value, or the mean ± std of a value over `n` repeats."""

    mean: float
    std: float = 0.0
    n: int = 1

    def text(self) -> str:
        """`0.9612` or `0.9612±0.0031`."""
        return format_mean_std(self.mean, self.std, self.n)


@dataclass(frozen=True)
class ResultRow:
    """One line of a results table: a trial, or a variant over its repeats."""

    label: str
    status: str
    epochs: str
    best_val_accuracy: Stat | None = None
    best_val_loss: Stat | None = None
    test_accuracy: Stat | None = None
    test_loss: Stat | None = None
    seconds: float = 0.0
    learning_rate: float | None = None
    reason: str = ""
    delta_test_accuracy: float | None = None


@dataclass(frozen=True)
class Column(Generic[Row]):
    """One column: its header, its cell text, its sort key and its priority at narrow widths."""

    key: str
    header: str
    text: Callable[[Row], str]
    sort: Callable[[Row], Any]
    priority: int = 0
    numeric: bool = True
    descending: bool = False
    fold: bool = False
    """Free text that may wrap onto more lines; numbers and ids are never wrapped or cut."""
    fold_width: int = TEXT_FOLD_WIDTH
    """How narrow a folding column may get (short words, such as tags, fold narrower)."""


def _stat(row: ResultRow, name: str) -> str:
    value: Stat | None = getattr(row, name)
    return "-" if value is None else value.text()


def _stat_key(row: ResultRow, name: str) -> tuple[int, float]:
    value: Stat | None = getattr(row, name)
    return (1, 0.0) if value is None else (0, value.mean)


def _stat_column(
    key: str, header: str, name: str, priority: int, descending: bool
) -> Column[ResultRow]:
    return Column(
        key,
        header,
        lambda row: _stat(row, name),
        lambda row: _stat_key(row, name),
        priority,
        descending=descending,
    )


def _text_key(value: str) -> tuple[int, str]:
    return (0, value)


RESULT_COLUMNS: tuple[Column[ResultRow], ...] = (
    Column(
        "trial",
        "Variant",
        lambda r: clean(r.label),
        lambda r: _text_key(r.label),
        0,
        False,
        fold=True,
    ),
    Column("status", "Status", lambda r: clean(r.status), lambda r: _text_key(r.status), 1, False),
    Column("epochs", "Epochs", lambda r: r.epochs, lambda r: (0, r.epochs), 3),
    _stat_column("best_val_accuracy", "Best val acc", "best_val_accuracy", 0, True),
    _stat_column("test_accuracy", "Test acc", "test_accuracy", 1, True),
    _stat_column("best_val_loss", "Best val loss", "best_val_loss", 5, False),
    _stat_column("test_loss", "Test loss", "test_loss", 4, False),
    Column("seconds", "Time", lambda r: f"{r.seconds:.1f}s", lambda r: (0, r.seconds), 6),
    Column(
        "learning_rate",
        "Last lr",
        lambda r: format_rate(r.learning_rate),
        lambda r: (0, r.learning_rate or 0.0),
        7,
    ),
)
"""The results table, in display order. Ranked by best validation accuracy; test beside it."""

DELTA_COLUMN: Column[ResultRow] = Column(
    "delta_test_accuracy",
    "Δ test acc",
    lambda r: format_delta(r.delta_test_accuracy, 0.0),
    lambda r: (r.delta_test_accuracy is None, r.delta_test_accuracy or 0.0),
    2,
)
"""In comparisons: each trial's test accuracy minus the first selection's."""

COMPARISON_COLUMNS: tuple[Column[ResultRow], ...] = (
    *RESULT_COLUMNS[:5],
    DELTA_COLUMN,
    *RESULT_COLUMNS[5:7],
    RESULT_COLUMNS[7],
)


def column(columns: Sequence[Column[Row]], key: str) -> Column[Row]:
    """The column with this key."""
    return next(c for c in columns if c.key == key)


def _single(value: float | None) -> Stat | None:
    return None if value is None else Stat(value)


def trial_row(result: TrialResult, label: str | None = None) -> ResultRow:
    """One trial's row."""
    return ResultRow(
        label=label or result.trial,
        status=result.status,
        epochs=str(result.epochs),
        best_val_accuracy=_single(result.best.get("val_accuracy")),
        best_val_loss=_single(result.best.get("val_loss")),
        test_accuracy=_single(result.test.get("accuracy")),
        test_loss=_single(result.test.get("loss")),
        seconds=result.seconds,
        learning_rate=result.learning_rate or None,
        reason=result.reason,
    )


def trial_rows(book: ResultsBook) -> list[ResultRow]:
    """A row per trial, in training order."""
    return [trial_row(result) for result in book.trials.values()]


def _pooled(entry: dict[str, Any] | None) -> Stat | None:
    if not entry:
        return None
    return Stat(entry["mean"], entry.get("std", 0.0), int(entry.get("n", 1)))


def variant_rows(book: ResultsBook) -> list[ResultRow]:
    """A row per variant: mean ± std over its repeats (a variant's trials are of one run)."""
    rows = []
    for variant, entry in book.variants().items():
        trials = [book.trials[t] for t in entry["trials"]]
        statuses = sorted(set(entry["statuses"]))
        status = "/".join(statuses) + (f" ×{len(trials)}" if len(trials) > 1 else "")
        reasons = "; ".join(t.reason for t in trials if t.reason)
        rows.append(
            ResultRow(
                label=variant,
                status=status,
                epochs="/".join(sorted({str(t.epochs) for t in trials})),
                best_val_accuracy=_pooled(entry["best"].get("val_accuracy")),
                best_val_loss=_pooled(entry["best"].get("val_loss")),
                test_accuracy=_pooled(entry["test"].get("accuracy")),
                test_loss=_pooled(entry["test"].get("loss")),
                seconds=sum(t.seconds for t in trials),
                learning_rate=trials[-1].learning_rate or None,
                reason=reasons,
            )
        )
    return rows


def with_deltas(rows: list[ResultRow]) -> list[ResultRow]:
    """Rows with `delta_test_accuracy` against the first row's test accuracy."""
    if not rows or rows[0].test_accuracy is None:
        return rows
    reference = rows[0].test_accuracy.mean
    return [
        ResultRow(
            **{
                **row.__dict__,
                "delta_test_accuracy": None
                if row.test_accuracy is None
                else row.test_accuracy.mean - reference,
            }
        )
        for row in rows
    ]


def sort_rows(rows: list[Row], col: Column[Row]) -> list[Row]:
    """Rows sorted by a column; missing values last whichever the direction."""
    present = [r for r in rows if col.sort(r)[0] == 0]
    missing = [r for r in rows if col.sort(r)[0] != 0]
    return sorted(present, key=col.sort, reverse=col.descending) + missing


def longest_word(text: str) -> int:
    """The longest run of non-blank characters: what a wrapped cell can never split."""
    return max((len(word) for word in text.split()), default=0)


def needed_width(col: Column[Row], rows: Sequence[Row], can_fold: bool) -> int:
    """Characters `col` needs (no padding): its widest cell, or for folding free text a
    readable width, never less than its longest word (a name or number stays whole)."""
    texts = [col.text(row) for row in rows]
    widest = max([len(col.header), *(len(text) for text in texts)])
    if not (col.fold and can_fold):
        return widest
    words = max([longest_word(col.header), *(longest_word(text) for text in texts)])
    return max(words, min(widest, max(len(col.header), col.fold_width)))


def fit_columns(
    columns: Sequence[Column[Row]],
    rows: Sequence[Row],
    width: int,
    padding: int = 3,
    can_fold: bool = True,
    *,
    must_fit: bool = False,
) -> tuple[list[Column[Row]], list[Column[Row]]]:
    """The columns that fit in `width` (whole, never cut), and those dropped, by priority.

    Args:
        columns: In display order.
        rows: What the cells will hold (their widths count).
        width: Characters available.
        padding: Per column, for borders and spaces (3 for a Rich table with borders).
        can_fold: Whether free-text columns may wrap (Rich tables) or not (DataTables).
        must_fit: When even the priority-0 columns do not fit, drop those too, right to left,
            all but the first (a shell table is never wider than its terminal).
    """
    kept = list(columns)
    dropped: list[Column[Row]] = []
    while len(kept) > 1 and sum(needed_width(c, rows, can_fold) + padding for c in kept) >= width:
        worst = max(kept, key=lambda c: (c.priority, columns.index(c)))
        if worst.priority == 0:
            if not must_fit:
                break
            worst = kept[-1]
        kept.remove(worst)
        dropped.append(worst)
    return kept, dropped


def _optional(value: float | None) -> str:
    return "-" if value is None else format_mean_std(value, 0.0, 1)


NOTE_PREVIEW = 40
"""Characters of a note's first line that a listing shows."""


def note_preview(note: str, limit: int = NOTE_PREVIEW) -> str:
    """A note's first non-blank line, cleaned and cut (listings; `show` prints it whole)."""
    first = next((line for line in note.splitlines() if line.strip()), "")
    more = first != note.strip()
    return clean(first.strip() + (" …" if more else ""), limit=limit)


RUN_COLUMNS: tuple[Column[RunInfo], ...] = (
    Column("run", "Run", lambda r: clean(r.run_id), lambda r: _text_key(r.run_id), 0, False),
    Column(
        "scenario",
        "Scenario",
        lambda r: clean(r.scenario),
        lambda r: _text_key(r.scenario),
        3,
        False,
        fold=True,
    ),
    Column(
        "started",
        "Started",
        lambda r: clean(r.started.replace("T", " ")),
        lambda r: _text_key(r.started),
        5,
        False,
        descending=True,
    ),
    Column(
        "variants",
        "Variants",
        lambda r: clean(", ".join(r.variants)),
        lambda r: (0, len(r.variants)),
        4,
        False,
        fold=True,
    ),
    Column("status", "Status", lambda r: clean(r.status), lambda r: _text_key(r.status), 0, False),
    Column(
        "best_val_accuracy",
        "Best val acc",
        lambda r: _optional(r.best_val_accuracy),
        lambda r: (r.best_val_accuracy is None, r.best_val_accuracy or 0.0),
        0,
        descending=True,
    ),
    Column(
        "test_accuracy",
        "Its test acc",
        lambda r: _optional(r.test_accuracy),
        lambda r: (r.test_accuracy is None, r.test_accuracy or 0.0),
        1,
        descending=True,
    ),
    Column(
        "tags",
        "Tags",
        lambda r: clean(", ".join(r.tags)),
        lambda r: _text_key(",".join(r.tags)),
        2,
        False,
        fold=True,
        fold_width=6,
    ),
    Column(
        "note",
        "Note",
        lambda r: note_preview(r.note),
        lambda r: _text_key(r.note),
        6,
        False,
        fold=True,
    ),
)
"""`tuilab runs` and the app's stored-runs list: the best trial by validation, its test beside;
the user's tags and the first line of the note last."""


LAYER_COLUMNS: tuple[Column[LayerRow], ...] = (
    Column(
        "name", "Layer", lambda r: clean(r.name), lambda r: _text_key(r.name), 0, False, fold=True
    ),
    Column("type", "Type", lambda r: clean(r.type), lambda r: _text_key(r.type), 2, False),
    Column(
        "output_shape",
        "Output shape",
        lambda r: format_shape(r.output_shape),
        lambda r: (0, len(r.output_shape)),
        1,
    ),
    Column("params", "Params", lambda r: f"{r.params:,}", lambda r: (0, r.params), 0),
)
"""The Keras-style layer table (`tuilab summary` and the app's Layers tab)."""


def layer_totals(summary: ModelSummary) -> str:
    """`total 35,570 · trainable 35,330 · non-trainable 240`."""
    return (
        f"total {summary.total:,} · trainable {summary.trainable:,} · "
        f"non-trainable {summary.non_trainable:,}"
    )
