"""`tuilab runs`, `show` and `compare`: stored runs in the shell, without TensorFlow."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuilab.errors import RunStoreError
from tuilab.headless.confusion import print_confusion, recall_table
from tuilab.headless.fold import heading, key_atoms, line_width, word_atoms
from tuilab.headless.layer_tables import print_layer_stats
from tuilab.headless.side_by_side import SideRow, side_by_side
from tuilab.headless.sweep_cmds import print_sweep
from tuilab.headless.tables import add_caption, results_table, spec_table
from tuilab.presentation.charts import curves_text
from tuilab.presentation.columns import (
    RUN_COLUMNS,
    column,
    sort_rows,
    trial_row,
    with_deltas,
)
from tuilab.presentation.hparams import hparams_table
from tuilab.presentation.numbers import layer_signature
from tuilab.presentation.text import clean, plain
from tuilab.runtime.compare import Selection, differing_keys, select
from tuilab.runtime.curves import CurveBook
from tuilab.runtime.library import annotations
from tuilab.runtime.run_folder import RunFolder, RunInfo
from tuilab.runtime.run_listing import find_run, list_runs
from tuilab.runtime.run_query import RunQuery, check_sort
from tuilab.runtime.stored import load_run, stored_sweep

LIBRARY_KEYS = ("tags", "note")
"""Columns shown only when some listed run has them."""


def runs_table(
    root: Path, width: int = 120, query: RunQuery | None = None, sort: str | None = None
) -> Table:
    """The stored runs that match `query`, newest first (or by `sort`); corrupt runs listed
    with their reason underneath."""
    return listing_table(f"Runs in {root}", list_runs(root), width, query, sort)


def listing_table(
    title: str,
    runs: list[RunInfo],
    width: int,
    query: RunQuery | None = None,
    sort: str | None = None,
) -> Table:
    """A table of runs: filtered, sorted, with tags and notes when any run has them."""
    shown = [info for info in runs if query is None or query.matches(info)]
    if sort is not None:
        shown = sort_rows(shown, column(RUN_COLUMNS, check_sort(sort)))
    columns = [c for c in RUN_COLUMNS if c.key not in LIBRARY_KEYS or any(c.text(r) for r in shown)]
    table = spec_table(title, columns, shown, width)
    if len(shown) < len(runs):
        add_caption(table, f"{len(shown)} of {len(runs)} runs match", width)
    corrupt = [f"{info.run_id}: {info.problem}" for info in shown if info.problem]
    if corrupt:
        corrupt_lines = "\n".join(clean(line, limit=300) for line in corrupt)
        add_caption(table, "corrupt: " + corrupt_lines, width)
    return table


def print_annotations(console: Console, folder: RunFolder) -> None:
    """A run's tags and whole note (shown as text), and what is wrong with their files."""
    found = annotations(folder)
    warn_problems(console, folder.run_id, list(found.problems))
    if found.tags:
        console.print(Text.assemble(plain("tags: ", "bold"), plain(", ".join(found.tags))))
    if found.note:
        note = plain(found.note, multiline=True)
        console.print(Text.assemble(plain("note: ", "bold"), note), soft_wrap=False)


def warn_problems(console: Console, run_id: str, problems: list[str]) -> None:
    """Say what is wrong with a corrupt run before showing what could be read."""
    for problem in problems:
        console.print(plain(f"{run_id} is corrupt: {problem}", "yellow"), soft_wrap=True)


def _charts(console: Console, curves: dict, metrics: list[str]) -> None:
    width = max(40, min(console.width, 120))
    for metric in metrics:
        if any(metric in c.values or f"val_{metric}" in c.values for c in curves.values()):
            text = curves_text(curves, metric, width, 18, console.is_terminal)
            console.print(Text.from_ansi(text))


def show(root: Path, name: str, console: Console) -> int:
    """One run's results table and curves (what could be read, for a corrupt run)."""
    stored = load_run(find_run(root, name, logdirs=True))
    curves = CurveBook()
    for event in stored.events:
        curves.handle(event)
    warn_problems(console, stored.folder.run_id, stored.problems)
    console.print(
        heading(
            stored.book.scenario or stored.folder.run_id,
            f"  {stored.folder.path}  status: {stored.status}",
            line_width(console),
        ),
        soft_wrap=True,
    )
    print_annotations(console, stored.folder)
    try:
        sweep = stored_sweep(stored.folder)
    except RunStoreError as exc:  # a bad sweep record: the plain results still show
        warn_problems(console, stored.folder.run_id, [str(exc)])
        sweep = None
    if sweep is not None:
        print_sweep(console, sweep, stored.book)
    else:
        console.print(results_table(stored.book, console.width))
    print_confusion(console, stored.book, stored.folder)
    print_layer_stats(console, stored.events)
    _charts(console, curves.curves, ["accuracy", "loss"])
    return 0


def parse_items(root: Path, items: list[str]) -> list[tuple[Path, str | None]]:
    """`RUN[:VARIANT]` items -> (run folder, variant or None)."""
    parsed = []
    for item in items:
        run, _, variant = item.partition(":")
        parsed.append((find_run(root, run, logdirs=True).path, variant or None))
    return parsed


def compare(root: Path, items: list[str], console: Console) -> int:
    """Overlay curves, tabulate results with deltas, diff scenarios and layer tables."""
    selections = select(parse_items(root, items))
    for run in dict.fromkeys(s.run for s in selections):
        problems = next(s.problems for s in selections if s.run == run)
        warn_problems(console, f"{run.parent.name}/{run.name}", problems)
    library = library_table(list(dict.fromkeys(s.run for s in selections)))
    if library is not None:
        console.print(library)
    width = console.width
    console.print(comparison_table(selections, width))
    recall = recall_table([s.label for s in selections], [s.report for s in selections], width)
    if recall is not None:
        console.print(recall)
    for table in (*scenario_diff_table(selections, width), *layer_diff_table(selections, width)):
        console.print(table)
    _charts(console, {s.label: s.curve for s in selections}, ["accuracy", "loss"])
    return 0


def library_table(runs: list[Path]) -> Table | None:
    """The compared runs' tags and notes (None when none has any)."""
    found = {RunFolder(run).run_id: annotations(RunFolder(run)) for run in runs}
    if not any(a.tags or a.note or a.problems for a in found.values()):
        return None
    table = Table(title="Tags and notes", title_justify="left")
    table.add_column("Run", no_wrap=True)
    table.add_column("Tags", overflow="fold")
    table.add_column("Note", overflow="fold")
    for run_id, found_here in found.items():
        note = found_here.note or "; ".join(found_here.problems)
        style = "" if found_here.note else "yellow"
        table.add_row(plain(run_id), plain(", ".join(found_here.tags)), plain(note, style))
    return table


def comparison_table(selections: list[Selection], width: int = 120) -> Table:
    """Results of each selection, the scenario keys that differ as columns (as TensorBoard's
    HParams table), with the test-accuracy delta against the first."""
    rows = with_deltas([trial_row(s.result, s.label) for s in selections])
    columns, shown = hparams_table(rows, [s.config for s in selections])
    return spec_table("Comparison", columns, shown, width)


def scenario_diff_table(selections: list[Selection], width: int = 120) -> list[Table]:
    """Only the resolved-scenario keys that differ between the selections (several tables
    when the selections do not fit side by side; a key breaks only after a dot)."""
    diff = differing_keys([s.config for s in selections])
    labels = [s.label for s in selections]
    title = "Scenario keys that differ"
    if not diff:
        table = Table(title=title, title_justify="left")
        table.add_column("Key")
        add_caption(table, "the resolved scenarios are identical")
        return [table]
    rows = [
        SideRow(key_atoms(clean(key)), [word_atoms(clean("-" if v is None else v)) for v in values])
        for key, values in diff.items()
    ]
    return side_by_side(title, "Key", labels, rows, width)


def layer_diff_table(selections: list[Selection], width: int = 120) -> list[Table]:
    """Layer rows side by side, when the layer tables differ: each layer's type, output shape
    and parameters, wrapped between them, never inside one."""
    columns = [[layer_signature(row) for row in s.layers] for s in selections]
    if len({tuple(c) for c in columns}) <= 1:
        table = Table(title="Layer tables", title_justify="left")
        table.add_column("")
        table.add_row("identical in every selection")
        return [table]
    parts = [[layer_parts(row) for row in s.layers] for s in selections]
    rows = []
    for index in range(max(len(c) for c in columns)):
        cells = [c[index] if index < len(c) else "" for c in columns]
        atoms = [p[index] if index < len(p) else [""] for p in parts]
        style = "" if len(set(cells)) == 1 else "yellow"
        rows.append(SideRow([str(index)], atoms, style))
    labels = [s.label for s in selections]
    return side_by_side("Layer tables", "#", labels, rows, width, justify_first="right")


def layer_parts(row: dict) -> list[str]:
    """A stored layer row's type, output shape and parameter count: the atoms of its cell."""
    signature = layer_signature(row)
    kind, _, rest = signature.partition(" (")
    shape, _, params = rest.rpartition(") ")
    if not (kind and shape):
        return word_atoms(clean(signature))
    return [clean(kind) + " ", f"({shape}) ", params]
