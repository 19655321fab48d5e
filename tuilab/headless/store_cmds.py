"""`tuilab runs`, `show`, `compare` and `report`: stored runs, without TensorFlow."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuilab.headless.charts import curves_text
from tuilab.headless.tables import results_table
from tuilab.runtime.compare import (
    COMPARISON_COLUMNS,
    Selection,
    comparison_rows,
    differing_keys,
    layer_signature,
    select,
)
from tuilab.runtime.curves import CurveBook
from tuilab.runtime.describe import format_value
from tuilab.runtime.stored import find_run, list_runs, load_events, load_results

STATUS_STYLE = {"finished": "green", "failed": "red", "stopped": "yellow", "incomplete": "red"}


def runs_table(root: Path) -> Table:
    """Every stored run, newest first."""
    table = Table(title=f"Runs in {root}", title_justify="left")
    table.add_column("Run", no_wrap=True)
    table.add_column("Scenario")
    table.add_column("Started")
    table.add_column("Variants")
    table.add_column("Status", no_wrap=True)
    table.add_column("Best test acc", justify="right", no_wrap=True)
    for info in list_runs(root):
        style = STATUS_STYLE.get(info.status, "")
        table.add_row(
            info.run_id,
            info.scenario,
            info.started.replace("T", " "),
            ", ".join(info.variants),
            f"[{style}]{info.status}[/]",
            format_value(info.best_test_accuracy) if info.best_test_accuracy is not None else "-",
        )
    return table


def _charts(console: Console, curves: dict, metrics: list[str]) -> None:
    width = max(40, min(console.width, 120))
    for metric in metrics:
        if any(metric in c.values or f"val_{metric}" in c.values for c in curves.values()):
            text = curves_text(curves, metric, width, 18, console.is_terminal)
            console.print(Text.from_ansi(text))


def show(root: Path, name: str, console: Console) -> int:
    """One run's results table and curves."""
    folder = find_run(root, name)
    book = load_results(folder)
    curves = CurveBook()
    for event in load_events(folder):
        curves.handle(event)
    console.print(f"[bold]{book.scenario}[/]  {folder}  status: {book.status}")
    console.print(results_table(book))
    _charts(console, curves.curves, ["accuracy", "loss"])
    return 0


def parse_items(root: Path, items: list[str]) -> list[tuple[Path, str | None]]:
    """`RUN[:VARIANT]` items -> (run folder, variant or None)."""
    parsed = []
    for item in items:
        run, _, variant = item.partition(":")
        parsed.append((find_run(root, run), variant or None))
    return parsed


def compare(root: Path, items: list[str], console: Console) -> int:
    """Overlay curves, tabulate results with deltas, diff scenarios and layer tables."""
    selections = select(parse_items(root, items))
    console.print(comparison_table(selections))
    console.print(scenario_diff_table(selections))
    console.print(layer_diff_table(selections))
    _charts(console, {s.label: s.curve for s in selections}, ["accuracy", "loss"])
    return 0


def comparison_table(selections: list[Selection]) -> Table:
    """Results of each selection, with the test-accuracy delta against the first."""
    table = Table(title="Comparison", title_justify="left")
    table.add_column(COMPARISON_COLUMNS[0], no_wrap=True)
    for column in COMPARISON_COLUMNS[1:]:
        table.add_column(column, justify="left" if column == "Status" else "right")
    for row in comparison_rows(selections):
        table.add_row(*row)
    return table


def scenario_diff_table(selections: list[Selection]) -> Table:
    """Only the resolved-scenario keys that differ between the selections."""
    diff = differing_keys([s.config for s in selections])
    table = Table(title="Scenario keys that differ", title_justify="left")
    table.add_column("Key")
    for selection in selections:
        table.add_column(selection.label)
    for key, values in diff.items():
        table.add_row(key, *("-" if v is None else str(v) for v in values))
    if not diff:
        table.caption = "the resolved scenarios are identical"
    return table


def layer_diff_table(selections: list[Selection]) -> Table:
    """Layer rows side by side, when the layer tables differ."""
    columns = [[layer_signature(row) for row in s.layers] for s in selections]
    table = Table(title="Layer tables", title_justify="left")
    if len({tuple(c) for c in columns}) <= 1:
        table.add_column("")
        table.add_row("identical in every selection")
        return table
    table.add_column("#", justify="right")
    for selection in selections:
        table.add_column(selection.label)
    for index in range(max(len(c) for c in columns)):
        cells = [c[index] if index < len(c) else "" for c in columns]
        style = "" if len(set(cells)) == 1 else "yellow"
        table.add_row(str(index), *cells, style=style)
    return table
