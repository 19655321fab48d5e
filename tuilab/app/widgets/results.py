"""The results table across trials, sortable from the keyboard."""

from __future__ import annotations

from textual.widgets import DataTable

from tuilab.app.run_state import RunState
from tuilab.runtime.describe import format_value

COLUMNS = ("Variant", "Test acc", "Best val acc", "Status", "Test loss", "Epochs", "Time", "lr")


class ResultsTable(DataTable):
    """One row per trial; `o` cycles the sort column."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        for column in COLUMNS:
            self.add_column(column, key=column)
        self.sort_column = 0

    def update_from(self, state: RunState) -> None:
        """Rebuild the rows (a few dozen at most) and keep the chosen sort."""
        self.clear()
        for trial in state.trials:
            result = state.book.trials.get(trial)
            if result is None:
                continue
            self.add_row(
                trial,
                result.status,
                result.epochs,
                _number(result.best.get("val_accuracy")),
                _number(result.test.get("loss")),
                _number(result.test.get("accuracy")),
                round(result.seconds, 1),
                _number(result.learning_rate or None),
                key=trial,
            )
        self._sort()

    def cycle_sort(self) -> str:
        """Sort by the next column; return its name."""
        self.sort_column = (self.sort_column + 1) % len(COLUMNS)
        self._sort()
        return COLUMNS[self.sort_column]

    def _sort(self) -> None:
        column = COLUMNS[self.sort_column]
        descending = column in ("Best val acc", "Test acc")
        self.sort(column, key=_sort_key, reverse=descending)


def _number(value: float | None) -> str:
    return "-" if value is None else format_value(value)


def _sort_key(value: object) -> tuple[int, object]:
    try:
        return (0, float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return (1, str(value))
