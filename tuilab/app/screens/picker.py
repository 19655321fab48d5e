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

from tuilab.app.screens.confirm import Choice, ChoiceScreen, PromptScreen
from tuilab.app.widgets.run_library import RunLibrary
from tuilab.app.widgets.samples import SamplesView
from tuilab.errors import TuilabError
from tuilab.presentation.text import clean, plain
from tuilab.runtime import library
from tuilab.runtime.run_folder import RunFolder, RunInfo
from tuilab.runtime.run_listing import list_runs
from tuilab.runtime.stored import load_run
from tuilab.scenario.schema import DataConfig


@dataclass
class ScenarioEntry:
    """A scenario file as the picker shows it: valid (with details) or its error."""

    path: Path
    title: str
    details: Text
    error: str = ""
    data: DataConfig | None = None
    seed: int = 0


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
        data = None if scenario.kind == "descent" else first.data
        entries.append(
            ScenarioEntry(path, clean(scenario.name), details, data=data, seed=scenario.meta.seed)
        )
    return entries


RUNS_REFRESH_S = 3.0
"""How often the stored-runs list is read again while the picker is shown."""


class PickerScreen(Screen):
    """Pick a scenario (Enter runs it) or a stored run (Enter opens it)."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("enter", "open", "Run / open", id="picker.open", priority=True),
        Binding("c", "compare", "Compare runs", id="picker.compare"),
        Binding("n", "next_tab", "Scenarios/runs", id="picker.next_tab"),
        Binding("f5", "reload", "Reload", id="picker.reload"),
        Binding("slash", "filter", "Filter", id="picker.filter"),
        Binding("o", "sort", "Sort", id="picker.sort"),
        Binding("t", "tag", "Tag", show=False, id="picker.tag"),
        Binding("w", "note", "Note", show=False, id="picker.note"),
        Binding("d", "delete", "Delete", show=False, id="picker.delete"),
    ]
    """Keys; ids let users remap them."""

    def __init__(self, source: Path, runs_dir: Path) -> None:
        super().__init__()
        self.source = source
        self.runs_dir = runs_dir
        self.entries: list[ScenarioEntry] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="picker-tabs", initial="scenarios-tab"):
            with TabPane("Scenarios", id="scenarios-tab"), Horizontal():
                yield OptionList(id="scenario-list")
                with VerticalScroll(id="scenario-details-box"):
                    yield Static(id="scenario-details")
                    yield SamplesView(id="scenario-samples")
            with TabPane("Stored runs", id="runs-tab"):
                yield RunLibrary(id="run-library")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()
        self.query_one("#scenario-list", OptionList).focus()
        self.set_interval(RUNS_REFRESH_S, self._refresh_runs)

    def _refresh_runs(self) -> None:
        """While this screen is shown, re-list the stored runs (a run trained elsewhere
        appears, a live one shows its epochs and its end), off the event loop."""
        if self.is_current:
            self.run_worker(self._list_runs, thread=True, exclusive=True, group="runs")

    def _list_runs(self) -> None:
        runs = list_runs(self.runs_dir)
        self.app.call_from_thread(self._show_runs, runs)

    def _show_runs(self, runs: list[RunInfo]) -> None:
        library = self.query_one(RunLibrary)
        if runs != library.runs:
            library.show(runs)

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
        self.query_one(RunLibrary).show(list_runs(self.runs_dir))

    @on(OptionList.OptionHighlighted, "#scenario-list")
    def _show_details(self, event: OptionList.OptionHighlighted) -> None:
        entry = self.entries[int(event.option.id or 0)]
        details = self.query_one("#scenario-details", Static)
        samples = self.query_one("#scenario-samples", SamplesView)
        if entry.error:
            details.update(Text(entry.error, style="red"))
            samples.clear()
        else:
            details.update(entry.details)
            samples.show(entry.data, entry.seed, str(entry.path))

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
            info = self.query_one(RunLibrary).highlighted_run()
            if info is None:
                return
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
        self.refresh_bindings()

    def action_compare(self) -> None:
        from tuilab.app.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(self.runs_dir))

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()  # the library's keys show on the stored-runs tab only

    def on_screen_resume(self) -> None:
        self.action_reload()

    # -- the run library -------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Library keys only on the stored-runs tab."""
        if action in ("filter", "sort", "tag", "note", "delete"):
            return self.query_one(TabbedContent).active == "runs-tab"
        return True

    def action_filter(self) -> None:
        """Type to filter the stored runs."""
        self.query_one(RunLibrary).focus_filter()

    def action_sort(self) -> None:
        """Sort the stored runs by the next column."""
        self.notify(f"sorted: {self.query_one(RunLibrary).cycle_sort()}", timeout=2)

    def _run(self) -> RunInfo | None:
        info = self.query_one(RunLibrary).highlighted_run()
        if info is None:
            self.notify("no run highlighted", severity="warning")
        return info

    def action_tag(self) -> None:
        """Add tags to the highlighted run (`-tag` removes one)."""
        info = self._run()
        if info is None:
            return

        def answered(text: str | None) -> None:
            if not text:
                return
            words = text.split()
            folder = RunFolder(info.folder)
            try:
                library.add_tags(folder, [w for w in words if not w.startswith("-")])
                library.remove_tags(folder, [w[1:] for w in words if w.startswith("-")])
            except TuilabError as exc:
                self.notify(clean(exc), title="Not a tag", severity="error", markup=False)
            self.action_reload()

        question = f"Tags for {clean(info.run_id)} (now: {' '.join(info.tags) or 'none'})"
        self.app.push_screen(PromptScreen(question, placeholder="best adam -old"), answered)

    def action_note(self) -> None:
        """Write the highlighted run's note (empty removes it)."""
        info = self._run()
        if info is None:
            return

        def answered(text: str | None) -> None:
            if text is None:
                return
            try:
                library.set_note(RunFolder(info.folder), text)
            except TuilabError as exc:
                self.notify(clean(exc), title="Note not saved", severity="error", markup=False)
            self.action_reload()

        question = f"Note on {clean(info.run_id)} (empty removes it)"
        self.app.push_screen(PromptScreen(question, value=info.note), answered)

    def action_delete(self) -> None:
        """Move the highlighted run to the trash, after asking."""
        info = self._run()
        if info is None:
            return

        def answered(choice: str | None) -> None:
            if choice != "delete":
                return
            try:
                library.move_to_trash(self.runs_dir, [RunFolder(info.folder)])
            except TuilabError as exc:
                self.notify(clean(exc), title="Not deleted", severity="error", markup=False)
                return
            self.notify(f"moved to the trash: tuilab restore {clean(info.run_id)}", timeout=6)
            self.action_reload()

        question = f"Delete {clean(info.run_id)}?"
        choices = [Choice("y", "move it to the trash (tuilab restore brings it back)", "delete")]
        self.app.push_screen(ChoiceScreen(question, choices, cancel="keep it"), answered)
