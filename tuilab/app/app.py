"""The tuilab App: screens, global keys, quitting safely while training runs."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from tuilab.app.screens.confirm import ConfirmScreen
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.app.screens.picker import PickerScreen
from tuilab.errors import TuilabError
from tuilab.runtime.session import RunRequest
from tuilab.runtime.stored import load_events


class TuilabApp(App[int]):
    """Scenario picker -> live dashboard; stored runs; comparisons. Exit code as return value."""

    CSS_PATH = "tuilab.tcss"
    TITLE = "tuilab"
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("q", "request_quit", "Quit", id="app.quit"),
        Binding("ctrl+c", "request_quit", "Quit", show=False, priority=True, id="app.ctrl_c"),
        Binding("question_mark", "help", "Help", id="app.help"),
    ]
    """Global keys; the footer shows each screen's own keys beside these."""

    def __init__(
        self,
        source: Path,
        runs_dir: Path,
        run: RunRequest | None = None,
        stored_run: Path | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.runs_dir = runs_dir
        self.run_request = run
        self.stored_run = stored_run
        self.exit_code_on_stop = 0
        """The exit code once a signal-requested stop has finished (143 SIGTERM, 129 SIGHUP)."""

    def on_resize(self, event: events.Resize) -> None:
        """Wider side panels on wide terminals."""
        self.set_class(event.size.width >= 120, "-wide")

    def on_mount(self) -> None:
        self._install_signal_handlers()
        self.set_class(self.size.width >= 120, "-wide")
        self.push_screen(PickerScreen(self.source, self.runs_dir))
        if self.run_request is not None:
            self.open_scenario(self.run_request, self.run_request.scenario.stem)
        elif self.stored_run is not None:
            events = load_events(self.stored_run)
            title = f"stored {self.stored_run.parent.name}/{self.stored_run.name}"
            self.push_screen(DashboardScreen(events=events, title=title))

    def open_scenario(self, request: RunRequest, title: str) -> None:
        """Run a training scenario on a dashboard, or open a descent scenario's playground."""
        from tuilab.scenario import load_scenario

        try:
            scenario = load_scenario(request.scenario, request.overrides).select(request.variants)
        except TuilabError as exc:
            self.notify(str(exc), title="Invalid scenario", severity="error", timeout=10)
            return
        if scenario.kind == "descent":
            from tuilab.app.screens.playground import PlaygroundScreen

            self.push_screen(PlaygroundScreen(scenario))
        else:
            self.push_screen(DashboardScreen(request=request, title=title))

    def _install_signal_handlers(self) -> None:
        """SIGTERM and SIGHUP (SSH dropped): stop training cleanly, keep results, then exit."""
        loop = asyncio.get_running_loop()
        for signum, code in ((signal.SIGTERM, 143), (signal.SIGHUP, 129)):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._terminate, code)

    def _terminate(self, code: int) -> None:
        running = self.training_screens()
        self.exit_code_on_stop = code
        if not running:
            self.exit(code)
        for screen in running:
            screen.stop_and_quit()

    def training_screens(self) -> list[DashboardScreen]:
        """Dashboards whose training is still running."""
        return [s for s in self.screen_stack if isinstance(s, DashboardScreen) and s.running]

    def action_request_quit(self) -> None:
        """Quit; if training runs, ask first, then stop it cleanly before exiting."""
        running = self.training_screens()
        if not running:
            self.exit(0)
            return

        def answered(stop: bool | None) -> None:
            if stop:
                for screen in running:
                    screen.stop_and_quit()
                self.notify("stopping at the end of this batch…")

        self.push_screen(ConfirmScreen("Training is running. Stop it and quit?"), answered)

    def action_help(self) -> None:
        """Show or hide the key panel."""
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Command-palette entries beside Textual's own."""
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Compare stored runs", "Pick runs and variants to overlay", self._open_compare
        )
        if isinstance(screen, DashboardScreen):
            for binding in DashboardScreen.BINDINGS:
                yield SystemCommand(
                    binding.description,
                    f"key: {binding.key}",
                    lambda action=binding.action: screen.run_action(action),
                )

    def _open_compare(self) -> None:
        from tuilab.app.screens.compare import CompareScreen

        self.push_screen(CompareScreen(self.runs_dir))


def create_app(
    source: Path,
    runs_dir: Path,
    run: RunRequest | None = None,
    stored_run: Path | None = None,
) -> TuilabApp:
    """The one factory the CLI and the tests use.

    Args:
        source: Folder (or file) of scenarios for the picker.
        runs_dir: The run store.
        run: Start this run at once (`tuilab run SCENARIO`).
        stored_run: Open this stored run's dashboard at once (`tuilab show RUN --app`).
    """
    return TuilabApp(source, runs_dir, run, stored_run)
