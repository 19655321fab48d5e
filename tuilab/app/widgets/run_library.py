"""The stored-runs list: filter as you type, sort by a column, one line per run with its tags."""

from __future__ import annotations

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tuilab.errors import TuilabError
from tuilab.presentation.columns import RUN_COLUMNS, column, sort_rows
from tuilab.presentation.text import clean
from tuilab.runtime.run_folder import RunInfo
from tuilab.runtime.run_query import SORT_KEYS, RunQuery

RUN_LINE_KEYS = ("run", "status", "best_val_accuracy", "test_accuracy", "scenario", "tags")
SORT_NAMES = {
    "started": "newest first",
    "best_val_accuracy": "best val acc",
    "test_accuracy": "test acc",
    "scenario": "scenario",
    "status": "status",
}


def run_line(info: RunInfo) -> Text:
    """`quick/20260101-120000  finished  val 0.9612 test 0.9587  Digits quick  #best` (or why
    the run is corrupt)."""
    cells = {c.key: c.text(info) for c in RUN_COLUMNS if c.key in RUN_LINE_KEYS}
    style = {"corrupt": "bold red", "incomplete": "red", "running": "cyan"}.get(info.status, "")
    line = Text(f"{cells['run']}  ")
    line.append(f"{cells['status']:<10}", style=style)
    if info.problem:
        line.append(f"  {clean(info.problem, limit=120)}", style="red")
        return line
    line.append(f"  val {cells['best_val_accuracy']} test {cells['test_accuracy']}  ")
    line.append(cells["scenario"])
    if info.tags:
        line.append("  " + " ".join(f"#{tag}" for tag in info.tags), style="green")
    return line


class RunLibrary(Vertical):
    """A filter box over the list of stored runs; `/` focuses it, Escape or Down leaves it."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.runs: list[RunInfo] = []
        self.shown: list[RunInfo] = []
        self.sort_key = "started"
        self.problem = ""

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="/ filter: words, tag:T, status:S, since:3d",
            id="run-filter",
            compact=True,
        )
        yield OptionList(id="run-list")
        yield Static(id="run-list-note")

    def show(self, runs: list[RunInfo]) -> None:
        """Show these runs, filtered and sorted as the box and the sort key say."""
        self.runs = runs
        self.refresh_list()

    @on(Input.Changed, "#run-filter")
    def _filter_changed(self) -> None:
        self.refresh_list()

    def cycle_sort(self) -> str:
        """Sort by the next column; returns its name."""
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self.refresh_list()
        return SORT_NAMES[self.sort_key]

    def refresh_list(self) -> None:
        """Rebuild the list, keeping the highlighted run when it is still shown."""
        keep = self.highlighted_run()
        text = self.query_one("#run-filter", Input).value
        try:
            query = RunQuery.from_text(text)
            self.problem = ""
        except TuilabError as exc:
            query, self.problem = RunQuery(), clean(exc)
        shown = [info for info in self.runs if query.matches(info)]
        if self.sort_key != "started":
            shown = sort_rows(shown, column(RUN_COLUMNS, self.sort_key))
        self.shown = shown
        options = self.query_one("#run-list", OptionList)
        options.clear_options()
        for index, info in enumerate(shown):
            options.add_option(Option(run_line(info), id=str(index)))
        if shown:
            folders = [info.folder for info in shown]
            kept = keep is not None and keep.folder in folders
            options.highlighted = folders.index(keep.folder) if kept else 0
        note = f"{len(shown)} of {len(self.runs)} runs · sorted: {SORT_NAMES[self.sort_key]}"
        note += f" · {self.problem}" if self.problem else ""
        note += "   t tag  w note  d delete  o sort"
        self.query_one("#run-list-note", Static).update(Text(note, style="dim"))

    def highlighted_run(self) -> RunInfo | None:
        """The run under the cursor, if any."""
        index = self.query_one("#run-list", OptionList).highlighted
        if index is None or index >= len(self.shown):
            return None
        return self.shown[index]

    def focus_filter(self) -> None:
        """Put the cursor in the filter box."""
        self.query_one("#run-filter", Input).focus()

    def on_key(self, event: events.Key) -> None:
        """Escape or Down in the filter box goes to the list."""
        box = self.query_one("#run-filter", Input)
        if box.has_focus and event.key in ("escape", "down"):
            event.stop()
            self.query_one("#run-list", OptionList).focus()
