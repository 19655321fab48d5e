"""Rich tables shared by the headless commands: layer summaries and results."""

from __future__ import annotations

from rich.table import Table

from tuilab.model.summary import ModelSummary
from tuilab.runtime.describe import format_value
from tuilab.runtime.results import ResultsBook


def format_shape(shape: tuple[int | None, ...]) -> str:
    """`(None, 28, 28, 1)` the way Keras prints it."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def summary_table(summary: ModelSummary, title: str = "") -> Table:
    """The Keras-style layer table with totals in the caption."""
    table = Table(title=title or None, title_justify="left", expand=False)
    table.add_column("Layer")
    table.add_column("Type")
    table.add_column("Output shape")
    table.add_column("Params", justify="right")
    for row in summary.rows:
        table.add_row(row.name, row.type, format_shape(row.output_shape), f"{row.params:,}")
    table.caption = (
        f"Total params: {summary.total:,}  Trainable: {summary.trainable:,}  "
        f"Non-trainable: {summary.non_trainable:,}"
    )
    table.caption_justify = "left"
    return table


def _mean_std(entry: dict[str, float] | None) -> str:
    if not entry:
        return "-"
    if entry.get("n", 1) > 1:
        return f"{format_value(entry['mean'])}±{format_value(entry['std'])}"
    return format_value(entry["mean"])


def results_table(book: ResultsBook) -> Table:
    """Per variant: status, epochs, best val accuracy, test loss/accuracy, time, final lr."""
    table = Table(title="Results", title_justify="left")
    for column in (
        "Variant",
        "Status",
        "Epochs",
        "Best val acc",
        "Test loss",
        "Test acc",
        "Time",
        "Last lr",
    ):
        table.add_column(column, justify="left" if column in ("Variant", "Status") else "right")
    variants = book.variants()
    for variant, entry in variants.items():
        trials = [book.trials[t] for t in entry["trials"]]
        statuses = sorted(set(entry["statuses"]))
        style = {"finished": "green", "failed": "red", "stopped": "yellow"}.get(statuses[0], "")
        status = "/".join(statuses) + (f" ×{len(trials)}" if len(trials) > 1 else "")
        table.add_row(
            variant,
            f"[{style}]{status}[/]" if style else status,
            "/".join(sorted({str(t.epochs) for t in trials})),
            _mean_std(entry["best"].get("val_accuracy")),
            _mean_std(entry["test"].get("loss")),
            _mean_std(entry["test"].get("accuracy")),
            f"{sum(t.seconds for t in trials):.1f}s",
            f"{trials[-1].learning_rate:.2g}" if trials[-1].learning_rate else "-",
        )
        for trial in trials:
            if trial.reason:
                table.add_row("", f"[red]{trial.reason[:70]}[/]", "", "", "", "", "", "")
    return table
