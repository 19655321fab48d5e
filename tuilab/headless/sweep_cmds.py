"""`tuilab sweep RUN`: a stored sweep's table (sortable), its best trial and a chart."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuilab.errors import RunStoreError
from tuilab.headless.fold import heading, line_width
from tuilab.headless.tables import add_caption, spec_table
from tuilab.presentation.sweeps import (
    best_line,
    chart_key,
    check_metric,
    lower_is_better,
    sort_sweep,
    sweep_chart_text,
    sweep_columns,
    sweep_rows,
)
from tuilab.presentation.text import clean, plain
from tuilab.runtime.results import ResultsBook
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.run_listing import find_run, list_runs
from tuilab.runtime.stored import load_run, stored_sweep
from tuilab.scenario.sweep_record import SweepInfo


def sweep_table(
    sweep: SweepInfo,
    book: ResultsBook,
    width: int,
    metric: str = "val_accuracy",
    sort: str | None = None,
) -> Table:
    """The sweep's rows under the columns that fit; the best trial and dropped columns below."""
    metric = check_metric(metric)
    rows = sweep_rows(sweep, book, metric)
    columns = sweep_columns(sweep, rows, metric)
    if sort is not None:
        index = sweep.key_index(sort)
        rows = sort_sweep(rows, columns, sweep.short[index] if index is not None else sort)
    else:
        rows = sort_sweep(rows, columns, metric)
    how = "random" if sweep.method == "random" else "grid"
    title = f"Sweep ({how}): " + ", ".join(sweep.short)
    if sweep.method == "random":
        title += f" ({sweep.samples} samples, seed {sweep.seed})"
    table = spec_table(title, columns, rows, width)
    named = [f"{s} = {k}" for s, k in zip(sweep.short, sweep.keys, strict=True) if s != k]
    caption = best_line(rows, metric) + ("\nkeys: " + ", ".join(named) if named else "")
    reasons = [f"{row.trial}: {row.reason}" for row in rows if row.reason]
    add_caption(table, "\n".join([caption, *(clean(r, limit=300) for r in reasons)]), width)
    return table


def sweep_output(
    console: Console,
    sweep: SweepInfo,
    book: ResultsBook,
    metric: str = "val_accuracy",
    sort: str | None = None,
    by: str | None = None,
) -> tuple[Table, Text]:
    """The table, and the metric against one swept key, for `console`.

    Raises:
        UsageError: a metric that is not a validation one, an unknown column or key.
    """
    table = sweep_table(sweep, book, console.width, metric, sort)
    rows = sweep_rows(sweep, book, metric)
    index = chart_key(sweep, rows, by)
    width = max(40, min(console.width, 120))
    chart = sweep_chart_text(sweep, rows, index, metric, (width, 18), console.is_terminal)
    return table, Text.from_ansi(chart)


def print_sweep(console: Console, sweep: SweepInfo, book: ResultsBook) -> None:
    """The sweep table (best by validation accuracy) and its chart along the first key."""
    for item in sweep_output(console, sweep, book):
        console.print(item)


def find_sweep(root: Path, name: str) -> tuple[RunFolder, SweepInfo]:
    """The run `name` names and its sweep; `latest` and a scenario stem mean the newest run
    that is a sweep (a plain run trained since does not hide it).

    Raises:
        RunStoreError: no such run, or the run named (or every run `latest` could mean) is not
            a sweep.
    """
    folder = find_run(root, name)
    sweep = stored_sweep(folder)
    if sweep is not None:
        return folder, sweep
    if name in ("latest", folder.path.parent.name) and not Path(name).is_dir():
        for info in list_runs(root):
            if name in ("latest", info.stem) and info.folder != folder.path:
                try:
                    found = stored_sweep(RunFolder(info.folder))
                except RunStoreError:
                    continue  # a damaged sweep record: `tuilab sweep RUN` on it says so
                if found is not None:
                    return RunFolder(info.folder), found
        which = "no stored run" if name == "latest" else f"no run of {name}"
        raise RunStoreError(
            f"{folder.run_id} is not a sweep, and {which} under {root} is one "
            "(a scenario with a [sweep] table trains one)"
        )
    raise RunStoreError(f"{folder.run_id} is not a sweep (its scenario has no [sweep])")


def sweep_report(
    root: Path,
    name: str,
    console: Console,
    sort: str | None = None,
    metric: str = "val_accuracy",
    by: str | None = None,
) -> int:
    """`tuilab sweep RUN`: exit 0, or 2 (with a message) when the run is not a sweep."""
    check_metric(metric)
    folder, sweep = find_sweep(root, name)
    stored = load_run(folder)
    output = sweep_output(console, sweep, stored.book, metric, sort, by)
    for problem in stored.problems:
        console.print(plain(f"{folder.run_id} is corrupt: {problem}", "yellow"), soft_wrap=True)
    direction = "lowest" if lower_is_better(metric) else "highest"
    console.print(
        heading(
            stored.book.scenario or folder.run_id,
            f"  {folder.run_id}  status: {stored.status}  best: {direction} {metric}",
            line_width(console),
        ),
        soft_wrap=True,
    )
    for item in output:
        console.print(item)
    return 0
