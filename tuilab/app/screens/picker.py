"""The start screen: scenarios to run and stored runs to open, with details and errors inline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from tuilab.errors import TuilabError
from tuilab.presentation.columns import RUN_COLUMNS
from tuilab.presentation.text import clean, plain
from tuilab.runtime.run_folder import RunInfo, list_runs
from tuilab.runtime.stored import load_run

RUN_LINE_KEYS = ("run", "status", "best_val_accuracy", "test_accuracy", "scenario")


def run_line(info: RunInfo) -> Text:
    """`quick/20260101-120000  finished  val 0.9612 test 0.9587  Digits quick` (or the reason)."""
    cells = {c.key: c.text(info) for c in RUN_COLUMNS if c.key in RUN_LINE_KEYS}
    style = {"corrupt": "bold red", "incomplete": "red", "running": "cyan"}.get(info.status, "")
    line = Text(f"{cells['run']}  ")
    line.append(f"{cells['status']:<10}", style=style)
    if info.problem:
        line.append(f"  {clean(info.problem, limit=120)}", style="red")
        return line
    line.append(f"  val {cells['best_val_accuracy']} test {cells['test_accuracy']}  ")
    line.append(cells["scenario"])
    return line


@dataclass
class ScenarioEntry:
    """A scenario file as the picker shows it: valid (with details) or its error."""

    path: Path
    title: str
    details: Text
    error: str = ""


def scan_scenarios(source: Path) -> list[ScenarioEntry]:
    """Every `*.toml` in a folder (or the one file), checked without importing TensorFlow."""
    from tuilab.scenario import load_scenario

    files = sorted(source.glob("*.toml")) if source.is_dir() else [source]
    entries = []
    for path in files:
        try:
            scenario = load_scenario(path)
        except TuilabError as exc:
            entries.append(
                ScenarioEntry(path, clean(path.stem), Text(), clean(exc, multiline=True))
            )
            continue
        first = next(iter(scenario.variants.values()))
        if scenario.kind == "descent":
            setting = f"playground: {first.descent.function}, optimizer {first.descent.optimizer}"
        else:
            setting = (
                f"dataset: {first.data.dataset}, normalize: {first.data.normalize}, "
                f"epochs: {first.fit.epochs}, batch: {first.fit.batch_size}"
            )
        lines = [
            scenario.meta.description or "",
            setting,
            "variants:",
            *(
                f"  • {name}: {cfg.description}".rstrip(": ")
                for name, cfg in scenario.variants.items()
            ),
        ]
        details = Text.assemble(
            plain(scenario.name, "bold"),
            plain(f"  ({path.name})\n"),
            plain("\n".join(lines), multiline=True),
        )
        entries.append(ScenarioEntry(path, clean(scenario.name), details))
    return entries


class PickerScreen(Screen):
    """Pick a scenario (Enter runs it) or a stored run (Enter opens it)."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("enter", "open", "Run / open", id="picker.open", priority=True),
        Binding("c", "compare", "Compare runs", id="picker.compare"),
        Binding("n", "next_tab", "Scenarios/runs", id="picker.next_tab"),
        Binding("f5", "reload", "Reload", id="picker.reload"),
    ]
    """Keys; ids let users remap them."""

    def __init__(self, source: Path, runs_dir: Path) -> None:
        super().__init__()
        self.source = source
        self.runs_dir = runs_dir
        self.entries: list[ScenarioEntry] = []
        self.runs: list[RunInfo] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="picker-tabs", initial="scenarios-tab"):
            with TabPane("Scenarios", id="scenarios-tab"), Horizontal():
                yield OptionList(id="scenario-list")
                with VerticalScroll(id="scenario-details-box"):
                    yield Static(id="scenario-details")
            with TabPane("Stored runs", id="runs-tab"):
                yield OptionList(id="run-list")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()
        self.query_one("#scenario-list", OptionList).focus()

    def action_reload(self) -> None:
        """Rescan scenarios and stored runs."""
        self.entries = scan_scenarios(self.source) if self.source.exists() else []
        scenarios = self.query_one("#scenario-list", OptionList)
        scenarios.clear_options()
        for index, entry in enumerate(self.entries):
            label = Text(entry.title, style="red" if entry.error else "")
            scenarios.add_option(Option(label, id=str(index)))
        if not self.entries:
            self.query_one("#scenario-details", Static).update(
                plain(
                    f"No scenarios in {self.source}. Start tuilab in a folder with scenarios/, "
                    "or give a folder or file: tuilab run SCENARIO"
                )
            )
        else:
            scenarios.highlighted = 0
        self.runs = list_runs(self.runs_dir)
        runs = self.query_one("#run-list", OptionList)
        runs.clear_options()
        for index, info in enumerate(self.runs):
            runs.add_option(Option(run_line(info), id=str(index)))
        if self.runs:
            runs.highlighted = 0

    @on(OptionList.OptionHighlighted, "#scenario-list")
    def _show_details(self, event: OptionList.OptionHighlighted) -> None:
        entry = self.entries[int(event.option.id or 0)]
        details = self.query_one("#scenario-details", Static)
        if entry.error:
            details.update(Text(entry.error, style="red"))
        else:
            details.update(entry.details)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.action_open()

    def action_open(self) -> None:
        """Run the highlighted scenario, or open the highlighted stored run."""
        from tuilab.app.screens.dashboard import DashboardScreen
        from tuilab.runtime.session import RunRequest

        tabs = self.query_one(TabbedContent)
        if tabs.active == "scenarios-tab":
            index = self.query_one("#scenario-list", OptionList).highlighted
            if index is None or not self.entries:
                return
            entry = self.entries[index]
            if entry.error:
                self.notify("fix the scenario first (its error is shown)", severity="error")
                return
            self.app.open_scenario(RunRequest(entry.path, runs_dir=self.runs_dir), entry.title)
        else:
            index = self.query_one("#run-list", OptionList).highlighted
            if index is None or not self.runs:
                return
            info = self.runs[index]
            if info.status == "running":  # trained by another process: follow it live
                self.app.attach(info.folder)
                return
            try:
                stored = load_run(info.folder)
            except TuilabError as exc:
                self.notify(clean(exc, multiline=True), severity="error", markup=False)
                return
            for problem in stored.problems:
                self.notify(clean(problem), title="Corrupt run", severity="warning", markup=False)
            title = f"stored {clean(info.run_id)}"
            self.app.push_screen(DashboardScreen(events=stored.events, title=title))

    def action_next_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = "runs-tab" if tabs.active == "scenarios-tab" else "scenarios-tab"
        target = "#run-list" if tabs.active == "runs-tab" else "#scenario-list"
        self.query_one(target, OptionList).focus()

    def action_compare(self) -> None:
        from tuilab.app.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(self.runs_dir))

    def on_screen_resume(self) -> None:
        self.action_reload()
