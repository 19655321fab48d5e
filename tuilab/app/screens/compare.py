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
from tuilab.presentation.text import clean, compact_trial, plain
from tuilab.runtime.compare import Selection, differing_keys, select
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.run_listing import list_runs

LABEL_WIDTH = 16
"""Characters of a trial's label in the list and the Differences headers (80x24: the list's
24 columns less its frame and check box)."""


def short_label(folder: Path, trial: str, width: int | None = None) -> str:
    """`1122-213407:adam` for run `<stem>/20261122-213407`, trial `adam`; with `width`, the time
    of day and a sweep trial's values only (`213407:0.01,32`), so that trials stay apart (the
    Results tab names each in full)."""
    if width is None:
        return f"{folder.name[4:]}:{trial}"
    stamp = folder.name[9:] or folder.name
    return f"{stamp}:{compact_trial(trial, max(width - len(stamp) - 1, 4))}"


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
            label = short_label(info.folder, trial, LABEL_WIDTH)
            items.append((label, info.folder, trial, info.run_id))
    return items


class CompareScreen(Screen):
    """Space toggles a trial; the curves, results and differences follow the selection."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("m", "next_metric", "Metric", id="compare.next_metric"),
        Binding("a", "smooth", "Smooth", id="compare.smooth"),
        Binding("o", "sort", "Sort", show=False, id="compare.sort"),
        Binding("n", "next_tab", "Next tab", id="compare.next_tab"),
        Binding("p", "previous_tab", "Prev tab", show=False, id="compare.previous_tab"),
        Binding("left", "scroll_table(-1)", "Scroll", show=False, id="compare.scroll_left"),
        Binding("right", "scroll_table(1)", "←→ Scroll", id="compare.scroll_right"),
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
                    yield DataTable(id="diff-table", cursor_type="row", fixed_columns=1)
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
            table.add_column(plain(short_label(selection.run, selection.trial, LABEL_WIDTH)))
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

    TABS = ("compare-curves", "compare-results", "compare-diff")

    def action_next_tab(self, step: int = 1) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = self.TABS[(self.TABS.index(tabs.active) + step) % len(self.TABS)]

    def action_previous_tab(self) -> None:
        self.action_next_tab(-1)

    def action_scroll_table(self, direction: int) -> None:
        """Left and right scroll the visible table by a column's width, wherever focus is:
        a Differences tab of many trials, or results wider than the screen."""
        tabs = self.query_one(TabbedContent)
        table_id = {"compare-results": "#compare-table", "compare-diff": "#diff-table"}
        if tabs.active not in table_id:
            return
        table = self.query_one(table_id[tabs.active], DataTable)
        widths = [c.get_render_width(table) for c in table.columns.values()]
        starts = [
            sum(widths[table.fixed_columns : i]) for i in range(table.fixed_columns, len(widths))
        ]
        if direction > 0:
            target = next((x for x in starts if x > table.scroll_x), table.scroll_x)
        else:
            target = max((x for x in starts if x < table.scroll_x), default=0)
        table.scroll_to(x=target, animate=False)
