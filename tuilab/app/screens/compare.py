"""Compare stored runs from the keyboard: pick trials, overlay curves, see what differs."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    SelectionList,
    Static,
    TabbedContent,
    TabPane,
)

from tuilab.app.colors import plot_color
from tuilab.app.widgets.curves import CurveChart
from tuilab.app.widgets.results import fill_spec_table
from tuilab.app.widgets.toggle_list import ToggleList
from tuilab.errors import TuilabError
from tuilab.presentation.charts import ChartOptions, next_smoothing
from tuilab.presentation.columns import (
    Column,
    column,
    fit_columns,
    sort_rows,
    trial_row,
    with_deltas,
)
from tuilab.presentation.hparams import ParamRow, hparams_table
from tuilab.presentation.numbers import layer_signature
from tuilab.presentation.text import clean, plain
from tuilab.runtime.compare import Selection, differing_keys, select
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.run_listing import list_runs


def short_label(folder: Path, trial: str) -> str:
    """`1122-213407:adam` for run `<stem>/20261122-213407`, trial `adam`."""
    return f"{folder.name[4:]}:{trial}"


def stored_trials(runs_dir: Path) -> list[tuple[str, Path, str, str]]:
    """(label, run folder, trial, run id) for every readable stored trial, newest run first."""
    items = []
    for info in list_runs(runs_dir):
        if info.problem:
            continue
        try:
            trials = list(RunFolder(info.folder).results().trials) or info.variants
        except TuilabError:
            continue
        for trial in trials:
            items.append((short_label(info.folder, trial), info.folder, trial, info.run_id))
    return items


class CompareScreen(Screen):
    """Space toggles a trial; the curves, results and differences follow the selection."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("m", "next_metric", "Metric", id="compare.next_metric"),
        Binding("a", "smooth", "Smooth", id="compare.smooth"),
        Binding("o", "sort", "Sort", show=False, id="compare.sort"),
        Binding("n", "next_tab", "Next tab", id="compare.next_tab"),
        Binding("escape", "app.pop_screen", "Back", id="compare.back"),
    ]
    """Keys; ids let users remap them."""

    METRICS = ("accuracy", "loss", "learning_rate")

    def __init__(self, runs_dir: Path, preselect_runs: list[str] | None = None) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.preselect = set(preselect_runs or [])
        self.items = stored_trials(runs_dir)
        self.chosen: list[Selection] = []
        self.options = ChartOptions(legend_inside=False)
        self.sort_key = ""
        self._columns: list[Column[ParamRow]] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            yield ToggleList(
                *[
                    (plain(label), i, run_id in self.preselect)
                    for i, (label, _, _, run_id) in enumerate(self.items)
                ],
                id="compare-list",
            )
            with TabbedContent(id="compare-tabs"):
                with TabPane("Curves", id="compare-curves"):
                    yield CurveChart(id="compare-plot")
                with TabPane("Results", id="compare-results"), Vertical():
                    yield DataTable(id="compare-table", cursor_type="row")
                    yield Static(id="compare-note")
                with TabPane("Differences", id="compare-diff"):
                    yield DataTable(id="diff-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(SelectionList).focus()
        if not self.items:
            self.notify(f"no stored runs in {self.runs_dir}", severity="warning")
        self._update()

    @on(SelectionList.SelectedChanged)
    def _changed(self) -> None:
        self._update()

    def _update(self) -> None:
        chosen = [self.items[i] for i in self.query_one(SelectionList).selected]
        try:
            self.chosen = select([(folder, trial) for _, folder, trial, _ in chosen])
        except TuilabError as exc:
            self.notify(clean(exc, multiline=True), severity="error", markup=False)
            self.chosen = []
        for selection in self.chosen:
            selection.label = short_label(selection.run, selection.trial)
        self._draw_curves()
        self._fill_results()
        self._fill_diff()

    def _draw_curves(self) -> None:
        plot = self.query_one(CurveChart)
        curves = {s.label: s.curve for s in self.chosen}
        chosen_hint = ChartOptions.empty_hint  # a chosen trial has no epochs yet
        self.options.empty_hint = chosen_hint if self.chosen else "Space on a trial draws it"
        self.options.colors = {label: plot_color(i) for i, label in enumerate(curves)}
        plot.options = self.options
        plot.show_curves(curves)

    def _fill_results(self) -> None:
        rows = with_deltas([trial_row(s.result, s.label) for s in self.chosen])
        columns, shown = hparams_table(rows, [s.config for s in self.chosen])
        self.sort_key = self.sort_key if any(c.key == self.sort_key for c in columns) else ""
        if self.sort_key:
            shown = sort_rows(shown, column(columns, self.sort_key))
        table = self.query_one("#compare-table", DataTable)
        width = self.query_one("#compare-tabs").size.width
        kept, dropped = fit_columns(columns, shown, width, 2, can_fold=False)
        fill_spec_table(table, kept, shown)
        self._columns = kept
        notes = [f"too narrow for: {', '.join(c.header for c in dropped)}"] if dropped else []
        if self.sort_key:
            notes.append(f"sorted by {column(columns, self.sort_key).header}")
        self.query_one("#compare-note", Static).update(plain("; ".join(notes)))

    def action_sort(self) -> None:
        """Sort the results by the next column shown (the differing keys included)."""
        keys = [c.key for c in self._columns]
        if not keys:
            return
        index = keys.index(self.sort_key) if self.sort_key in keys else -1
        self.sort_key = keys[(index + 1) % len(keys)]
        self._fill_results()

    def _fill_diff(self) -> None:
        table = self.query_one("#diff-table", DataTable)
        table.clear(columns=True)
        table.add_column("Key")
        for selection in self.chosen:
            table.add_column(plain(selection.label))
        if len(self.chosen) < 2:
            return
        for key, values in differing_keys([s.config for s in self.chosen]).items():
            table.add_row(plain(key), *(plain("-" if v is None else v) for v in values))
        layers = [[layer_signature(r) for r in s.layers] for s in self.chosen]
        if len({tuple(rows) for rows in layers}) > 1:
            for index in range(max(len(rows) for rows in layers)):
                cells = [rows[index] if index < len(rows) else "" for rows in layers]
                if len(set(cells)) > 1:
                    table.add_row(f"layer {index}", *(plain(c) for c in cells))

    def action_next_metric(self) -> None:
        index = (
            self.METRICS.index(self.options.metric) if self.options.metric in self.METRICS else -1
        )
        self.options.metric = self.METRICS[(index + 1) % len(self.METRICS)]
        self._draw_curves()

    def action_smooth(self) -> None:
        """Cycle the curves' smoothing: off, 0.6, 0.8, 0.95 (raw values faint behind)."""
        self.options.smoothing = next_smoothing(self.options.smoothing)
        self._draw_curves()

    def action_next_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        order = ("compare-curves", "compare-results", "compare-diff")
        tabs.active = order[(order.index(tabs.active) + 1) % len(order)]
