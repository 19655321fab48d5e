"""The run dashboard: a live run (training in a worker thread) or a stored run, same widgets."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, RichLog, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from tuilab.app.messages import TrainingDone, TrainingEvent
from tuilab.app.run_state import RunState
from tuilab.app.screens.dashboard_keys import DASHBOARD_BINDINGS, DashboardKeys
from tuilab.app.screens.steering import SteeringActions
from tuilab.app.screens.view_actions import TABS, ViewActions
from tuilab.app.widgets.batchnorm import BatchNormView
from tuilab.app.widgets.curves import CurvesPlot
from tuilab.app.widgets.layers import LayersView
from tuilab.app.widgets.results import ResultsTable
from tuilab.app.widgets.results_pane import ResultsPane
from tuilab.app.widgets.variants import VariantList, progress_line
from tuilab.errors import TuilabError
from tuilab.presentation.charts import undrawn
from tuilab.presentation.text import clean, plain
from tuilab.runtime.control import RunControl
from tuilab.runtime.events import Event, RunResumed
from tuilab.runtime.follow import EventFollower
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.session import RunRequest

LINE_STYLES = {
    "learning_rate_changed": "yellow",
    "early_stopped": "magenta",
    "variant_failed": "bold red",
    "variant_finished": "green",
    "control_applied": "cyan",
    "control_refused": "bold yellow",
}
REDRAW_INTERVAL_S = 0.25
FOLLOW_INTERVAL_S = 0.25
"""How often an attached dashboard looks for new lines (in its own process: free for training)."""


class DashboardScreen(DashboardKeys, SteeringActions, ViewActions, Screen):
    """Variant list on the left; curves, layers, BatchNorm, events and results tabs."""

    BINDINGS: ClassVar[list[Binding]] = DASHBOARD_BINDINGS
    """Keys (`dashboard_keys`); the footer shows those of the run's state, `?` lists all."""

    def __init__(
        self,
        request: RunRequest | None = None,
        events: list[Event] | None = None,
        title: str = "",
        follow: Path | None = None,
        stored_status: str = "",
    ) -> None:
        super().__init__()
        self.request = request
        self.stored_events = events or []
        self.stored_status = stored_status
        """A stored run's status from its folder (`incomplete` once its process is gone)."""
        self.attached = RunFolder(follow) if follow is not None else None
        """A run another process trains, followed from its files and steered through them."""
        self.state = RunState()
        self.hidden: set[str] = set()
        self.control = RunControl()
        self.running = False
        self.session = 0
        self.quit_when_done = False
        self.for_good = False
        self._dirty: set[str] = set()
        self._selected: str | None = None
        self._awaiting: set[str] = set()
        self._shown_lines = 0
        self.sub_title = title

    # -- layout ----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="dashboard"):
            with Vertical(id="sidebar"):
                yield VariantList(id="variants")
                yield Static(id="progress-line")
                yield Static(id="run-info")
            with TabbedContent(id="tabs", initial="curves"):
                with TabPane("Curves", id="curves"):
                    yield CurvesPlot(id="curves-plot")
                with TabPane("Layers", id="layers"):
                    yield LayersView(id="layers-view")
                with TabPane("BatchNorm", id="batchnorm"):
                    yield BatchNormView(id="bn-view")
                with TabPane("Events", id="events"):
                    yield RichLog(
                        id="event-log", wrap=True, markup=False, max_lines=2000, min_width=20
                    )
                with TabPane("Results", id="results"):
                    yield ResultsPane(id="results-pane")
        yield Footer()

    def on_mount(self) -> None:
        self.set_interval(REDRAW_INTERVAL_S, self._redraw)
        if self.stored_events:
            for event in self.stored_events:
                self._dirty |= self.state.handle(event)
            if self.stored_status:
                self.state.book.settle(self.stored_status)
            self._redraw(force=True)
        elif self.request is not None:
            self.start_training(self.request)
        elif self.attached is not None:
            self.running = True
            self._follow(self.attached)
        self.refresh_keys()

    # -- training --------------------------------------------------------------------------
    def start_training(self, request: RunRequest) -> None:
        """Start a run in a worker thread (the UI thread never runs TensorFlow work)."""
        self.session += 1
        self.control = RunControl()
        self.running = True
        what = request.resume if request.resume is not None else request.scenario
        verb = "resuming" if request.resume is not None else "preparing"
        self._log("system", f"{verb} {what} (loading Keras and the data)")
        self.refresh_keys()
        self._train(request, self.session, self.control)

    @work(thread=True, exclusive=True, exit_on_error=False, group="training")
    def _train(self, request: RunRequest, session: int, control: RunControl) -> None:
        """Prepare and run through `execute`, as the headless command does: same store ending."""
        from tuilab.runtime.session import execute, prepare_run

        try:
            if request.resume is not None:  # what earlier processes trained, then the rest
                from tuilab.runtime.stored import load_run

                for event in load_run(request.resume).events:
                    self.post_message(TrainingEvent(event, session))
            runner, store = prepare_run(request, control)
        except TuilabError as exc:
            self.post_message(TrainingDone("invalid", clean(exc, multiline=True), session))
            return
        outcome = execute(
            runner, store, lambda event: self.post_message(TrainingEvent(event, session))
        )
        if self.for_good and store is not None:
            from tuilab.runtime.resume import forget_resume

            forget_resume(RunFolder(store.folder), "stopped for good from the app")
        self.post_message(TrainingDone(outcome.status, outcome.error, session))

    @work(thread=True, exclusive=True, exit_on_error=False, group="follow")
    def _follow(self, folder: RunFolder) -> None:
        """Read what the training processes append, for as long as the screen is open.

        The run's end is reported once; a later process resuming the run (`tuilab resume`
        appends `RunResumed` to the same log) makes the dashboard live again. The training
        process is never asked for anything.
        """
        from textual.worker import get_current_worker

        worker = get_current_worker()
        follower = EventFollower(folder)
        reported = False
        while not worker.is_cancelled:
            for event in follower.poll():
                self.post_message(TrainingEvent(event, 1))
            if follower.ended and not reported:
                self.post_message(TrainingDone(follower.status(), "", 1))
            reported = follower.ended
            time.sleep(FOLLOW_INTERVAL_S)

    @on(TrainingEvent)
    def _on_training_event(self, message: TrainingEvent) -> None:
        event = message.event
        self._dirty |= self.state.handle(event, message.session)
        self.acknowledge(event)
        if self.attached is not None and not self.running and isinstance(event, RunResumed):
            self.running = True  # another process took the run on: live and steerable again
            self.notify("the run was resumed by another process: following it", timeout=3)
            self.refresh_keys()
            self._dirty.add("variants")

    @on(TrainingDone)
    def _on_training_done(self, message: TrainingDone) -> None:
        self.running = False
        if self.attached is not None:  # the stored status: a process gone is `incomplete`
            self.state.book.settle(message.status)
        if message.error:
            self._log("variant_failed", message.error)
            title = "Cannot run" if message.status == "invalid" else "Run failed"
            self.notify(message.error, title=title, severity="error", timeout=10, markup=False)
        else:
            self.notify(f"run {message.status}", timeout=3)
        self.refresh_keys()
        self._redraw(force=True)
        if self.quit_when_done:
            self.app.exit(self.app.exit_code_on_stop)

    @on(Worker.StateChanged)
    def _on_worker_state(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.running = False
            error = clean(repr(event.worker.error))
            self._log("variant_failed", f"training stopped by an internal error: {error}")
            self.notify(error, title="Internal error", severity="error", timeout=15, markup=False)
            self.refresh_keys()
            if self.quit_when_done:
                self.app.exit()

    def stop_and_quit(self, for_good: bool = False) -> None:
        """Stop training cleanly, then exit the app once the worker has finished.

        The run stays resumable (`tuilab resume`) unless `for_good`: then its resume state is
        deleted and `tuilab resume` refuses it.
        """
        self.quit_when_done = True
        self.for_good = for_good
        self.control.stop()

    # -- drawing ---------------------------------------------------------------------------
    def _redraw(self, force: bool = False) -> None:
        """Redraw only what changed, at most every REDRAW_INTERVAL_S (UI stays idle between)."""
        dirty = set(self._dirty) if not force else {*self._dirty, *TABS, "variants"}
        if not dirty:
            return
        active = self.query_one(TabbedContent).active
        with self.app.batch_update():
            variants = self.query_one(VariantList)
            if "variants" in dirty:
                off = self.hidden | undrawn(self.state.curves.curves, self.hidden)
                variants.update_from(self.state, off)  # colours off: hidden or not drawn
                self._selected = variants.selected_trial or self._selected
                self.query_one("#progress-line", Static).update(
                    plain(progress_line(self.state, self._selected), multiline=True)
                )
                self.query_one("#run-info", Static).update(Text(self.state.info(self.running)))
            for part in TABS:
                if part in dirty and part == active:
                    self._draw_part(part)
                    dirty.discard(part)
        self._dirty = {p for p in dirty if p in TABS}  # hidden tabs draw when shown

    def _draw_part(self, part: str) -> None:
        trial = self._selected
        if part == "curves":
            self.query_one(CurvesPlot).draw(self.state, self.hidden)
        elif part == "layers":
            summary, series = self.state.summaries.get(trial or ""), self.state.layer_series(trial)
            self.query_one(LayersView).show(trial, summary, series)
        elif part == "batchnorm":
            self.query_one(BatchNormView).show(trial, self.state.batchnorm.get(trial or "", []))
        elif part == "results":
            self.query_one(ResultsPane).draw(self.state)
        elif part == "events":
            self._append_lines()

    def _append_lines(self) -> None:
        """Write the lines added since the last call (counted over all lines ever added)."""
        log = self.query_one(RichLog)
        for kind, line in self.state.lines_after(self._shown_lines):
            log.write(Text(line, style=LINE_STYLES.get(kind, "")))
        self._shown_lines = self.state.line_count

    def _log(self, kind: str, line: str) -> None:
        self.state.add_line(kind, line)
        self._dirty.add("events")

    @on(ResultsTable.Refit)
    def _refit_results(self) -> None:
        self._dirty.add("results")
        self._redraw()

    @on(TabbedContent.TabActivated)
    def _on_tab(self, event: TabbedContent.TabActivated) -> None:
        self._dirty.add(event.pane.id or "")
        self._redraw()

    @on(DataTable.RowHighlighted, "#variants")
    def _on_variant(self, event: DataTable.RowHighlighted) -> None:
        self._selected = str(event.row_key.value)
        self._dirty |= {"layers", "batchnorm", "variants"}
        self._redraw()

    # -- actions ---------------------------------------------------------------------------
    def action_rerun(self) -> None:
        """Train the selected variant again (a new stored run), next to the earlier curves."""
        if self.request is None:
            return
        trial = self._selected or (self.state.trials[0] if self.state.trials else None)
        if trial is None:
            return
        variant = (
            self.state.book.trials[trial].variant if trial in self.state.book.trials else trial
        )
        variant = variant.split("~")[0]
        self.start_training(dataclasses.replace(self.request, variants=[variant]))

    def action_data(self) -> None:
        """The highlighted variant's data: samples, value ranges, class balance."""
        from tuilab.app.widgets.samples import DataScreen

        runs = getattr(self.app, "runs_dir", None)
        screen = DataScreen.of_run(self.request, self.state.run_dirs, self._selected, runs)
        self.app.push_screen(screen)

    def action_confusion(self) -> None:
        """The highlighted trial's confusion matrix, per-class table and most confused pairs."""
        from tuilab.app.widgets.confusion import ConfusionScreen

        self.app.push_screen(ConfusionScreen(self.state, self._selected, self.ask_confusion))

    def action_layer_health(self) -> None:
        """The highlighted trial's per-layer weight and gradient norms, table and heatmap."""
        from tuilab.app.widgets.layer_health import LayerHealthScreen

        self.app.push_screen(LayerHealthScreen(self.state, self._selected))

    def action_compare(self) -> None:
        from tuilab.app.screens.compare import CompareScreen

        preselect = [f"{Path(d).parent.name}/{Path(d).name}" for d in self.state.run_dirs]
        self.app.push_screen(CompareScreen(self.app.runs_dir, preselect_runs=preselect))

    def action_back(self) -> None:
        if self.running:
            self.notify(
                "training is running: press s to stop it first, or q to quit", severity="warning"
            )
            return
        self.app.pop_screen()
