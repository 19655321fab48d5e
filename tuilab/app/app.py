"""The tuilab App: screens, global keys, quitting safely while training runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from rich.console import RenderableType
from textual import constants, events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.notifications import SeverityLevel
from textual.screen import Screen

from tuilab.app.screens.confirm import Choice, ChoiceScreen
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.app.screens.keys import KeysScreen, palette_entries
from tuilab.app.screens.picker import PickerScreen
from tuilab.errors import TuilabError
from tuilab.presentation.text import clean
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.session import RunRequest
from tuilab.runtime.stored import load_run

EXIT_GRACE_S = 300.0
"""At most this long to wait for training to stop after a signal before leaving anyway."""
EXIT_AFTER_STORED_S = 5.0
"""Time Textual gets to exit by itself once the run is stored."""


class TuilabApp(App[int]):
    """Scenario picker -> live dashboard; stored runs; comparisons. Exit code as return value."""

    CSS_PATH = "tuilab.tcss"
    TITLE = "tuilab"
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("q", "request_quit", "Quit", id="app.quit"),
        Binding("ctrl+c", "request_quit", "Quit", show=False, priority=True, id="app.ctrl_c"),
        Binding("question_mark", "help", "Keys", id="app.help"),
    ]
    """Global keys; the footer shows each screen's own keys beside these."""

    def __init__(
        self,
        source: Path,
        runs_dir: Path,
        run: RunRequest | None = None,
        stored_run: Path | None = None,
        attach: Path | None = None,
    ) -> None:
        super().__init__()
        self.attach_to = attach
        self.source = source
        self.runs_dir = runs_dir
        self.run_request = run
        self.stored_run = stored_run
        self._terminating = False
        self.exit_code_on_stop = 0
        self._starting = True
        """Until the first frame after Textual's start-up batch (`_display`)."""
        self.farewell: list[str] = []
        """Lines to print once the app has closed the screen (how to resume a run)."""
        """The exit code once a signal-requested stop has finished (143 SIGTERM, 129 SIGHUP)."""

    def get_driver_class(self) -> type[Driver]:
        """Textual's terminal driver, writing through a descriptor of its own (`own_output`)."""
        driver = super().get_driver_class()
        if constants.DRIVER is not None or sys.platform == "win32":
            return driver
        from textual.drivers.linux_driver import LinuxDriver

        from tuilab.app.launch import own_output

        return own_output(driver) if issubclass(driver, LinuxDriver) else driver

    def _display(self, screen: Screen, renderable: RenderableType | None) -> None:
        """Write the frames composed in Textual's start-up batch (it holds `on_mount`) too:
        on busy CPUs the screens pushed there are laid out within it, and Textual dropped that
        first full frame and forgot it was due, so the title bar, tabs and sidebar divider
        waited for a resize. Other batches are left alone."""
        if not self._batch_count:
            self._starting = False  # the start-up batch is over
        if not (self._starting and self._batch_count) or self._exit:
            super()._display(screen, renderable)
            return
        batch, self._batch_count = self._batch_count, 0
        try:
            super()._display(screen, renderable)
        finally:
            self._batch_count = batch

    def notify(  # type: ignore[override]
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification, from any screen: user text is cleaned and never read as markup."""
        super().notify(
            clean(message, multiline=True),
            title=clean(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def on_resize(self, event: events.Resize) -> None:
        """Wider side panels on wide terminals."""
        self.set_class(event.size.width >= 120, "-wide")

    def on_mount(self) -> None:
        self._install_signal_handlers()
        self.set_class(self.size.width >= 120, "-wide")
        self.push_screen(PickerScreen(self.source, self.runs_dir))
        if self.run_request is not None and self.run_request.resume is not None:
            title = f"resuming {clean(RunFolder(self.run_request.resume).run_id)}"
            self.open_dashboard(self.run_request, title)
        elif self.run_request is not None:
            self.open_scenario(self.run_request, self.run_request.scenario.stem)
        elif self.stored_run is not None:
            self.open_stored(self.stored_run)
        elif self.attach_to is not None:
            self.attach(self.attach_to)

    def attach(self, folder: Path) -> None:
        """Watch a run another process trains, live; a finished run shows its final state."""
        title = f"attached {clean(RunFolder(folder).run_id)}"
        self.push_screen(DashboardScreen(title=title, follow=folder))

    def open_stored(self, folder: Path) -> None:
        """Replay a stored run on a dashboard; a corrupt run shows what could be read."""
        try:
            stored = load_run(folder)
        except TuilabError as exc:
            self.notify(clean(exc, multiline=True), title="Cannot open", severity="error")
            return
        for problem in stored.problems:
            self.notify(clean(problem), title="Corrupt run", severity="warning", timeout=10)
        title = f"stored {clean(stored.folder.run_id)}"
        self.push_screen(
            DashboardScreen(events=stored.events, title=title, stored_status=stored.status)
        )

    def open_scenario(self, request: RunRequest, title: str) -> None:
        """Run a training scenario on a dashboard, or open a descent scenario's playground."""
        from tuilab.scenario import load_scenario

        try:
            scenario = load_scenario(request.scenario, request.overrides).select(request.variants)
        except TuilabError as exc:
            self.notify(
                clean(exc, multiline=True), title="Invalid scenario", severity="error", timeout=10
            )
            return
        if scenario.kind == "descent":
            from tuilab.app.screens.playground import PlaygroundScreen

            self.push_screen(PlaygroundScreen(scenario))
        else:
            self.open_dashboard(request, title)

    def open_dashboard(self, request: RunRequest, title: str) -> None:
        """A live dashboard; training (and its seconds of TensorFlow import, which compete with
        the UI thread for the interpreter) starts once the dashboard has been drawn."""
        screen = DashboardScreen(title=title)
        self.push_screen(screen)

        def start() -> None:
            if screen.is_attached and screen.request is None:
                screen.request = request
                screen.start_training(request)

        screen.call_after_refresh(start)

    def _install_signal_handlers(self) -> None:
        """SIGINT, SIGTERM and SIGHUP (SSH or tmux gone): stop training cleanly, then exit."""
        loop = asyncio.get_running_loop()
        for signum, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self._terminate, code)

    def _terminate(self, code: int) -> None:
        """First signal: stop at the end of the batch and exit once stored; second: exit now."""
        if self._terminating:
            os._exit(code)
        self._terminating = True
        running = self.training_screens()
        self.exit_code_on_stop = code
        for screen in running:
            screen.stop_and_quit()
        _exit_when_stored(running, code)
        if not running:
            self.exit(code)

    def training_screens(self) -> list[DashboardScreen]:
        """Dashboards whose training is still running."""
        return [
            s
            for s in self.screen_stack
            if isinstance(s, DashboardScreen) and s.running and s.attached is None
        ]

    def action_request_quit(self) -> None:
        """Quit; if training runs, ask: keep the run resumable, or stop it for good."""
        running = self.training_screens()
        if not running:
            self.exit(0)
            return

        def answered(choice: str | None) -> None:
            if choice is None:
                return
            for screen in running:
                screen.stop_and_quit(for_good=choice == "for_good")
                if choice == "resumable" and screen.state.run_dirs:
                    self.farewell.append(
                        f"continue it with: tuilab resume {screen.state.run_dirs[-1]}"
                    )
            self.notify("stopping at the end of this batch…")

        question = "Training is running. Quit and…"
        choices = [
            Choice("k", "keep it resumable: `tuilab resume RUN` goes on later", "resumable"),
            Choice("s", "stop it for good (its resume state is deleted)", "for_good"),
        ]
        self.push_screen(ChoiceScreen(question, choices, cancel="keep training"), answered)

    def action_help(self) -> None:
        """Show the current screen's own keys, described, on one screen (Esc or ? closes)."""
        if not isinstance(self.screen, KeysScreen):
            self.push_screen(KeysScreen(self.screen))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Command-palette entries beside Textual's own."""
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Compare stored runs", "Pick runs and variants to overlay", self._open_compare
        )
        if isinstance(screen, DashboardScreen):
            yield from palette_entries(screen)

    def _open_compare(self) -> None:
        from tuilab.app.screens.compare import CompareScreen

        self.push_screen(CompareScreen(self.runs_dir))


def _exit_when_stored(screens: list[DashboardScreen], code: int) -> None:
    """Leave the process for sure once training has stopped and the run is stored.

    With its terminal gone (tmux killed, SSH dropped) Textual may never finish exiting; the
    run store is complete once every worker has ended, so a guard thread then ends the process
    if the app has not already done so.
    """

    def guard() -> None:
        deadline = time.monotonic() + EXIT_GRACE_S
        while any(screen.running for screen in screens) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(EXIT_AFTER_STORED_S)
        os._exit(code)

    threading.Thread(target=guard, name="tuilab-exit-guard", daemon=True).start()


def create_app(
    source: Path,
    runs_dir: Path,
    run: RunRequest | None = None,
    stored_run: Path | None = None,
    attach: Path | None = None,
) -> TuilabApp:
    """The one factory the CLI and the tests use.

    Args:
        source: Folder (or file) of scenarios for the picker.
        runs_dir: The run store.
        run: Start this run at once (`tuilab run SCENARIO`).
        stored_run: Open this stored run's dashboard at once (`tuilab show RUN --app`).
        attach: Follow this run, trained by another process (`tuilab attach RUN`).
    """
    return TuilabApp(source, runs_dir, run, stored_run, attach)
