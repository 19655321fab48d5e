"""Render the event stream on a console: Rich progress on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Column
from rich.text import Text

from tuilab.backend import backend_text
from tuilab.headless.fold import fold_line, leading, line_width
from tuilab.headless.sweep_cmds import print_sweep
from tuilab.headless.tables import results_table
from tuilab.presentation.charts import curves_text
from tuilab.presentation.describe import describe
from tuilab.presentation.numbers import format_logs
from tuilab.presentation.text import clean, plain
from tuilab.runtime.curves import CurveBook
from tuilab.runtime.events import (
    BatchProgress,
    EarlyStopped,
    EpochEnded,
    Event,
    LearningRateChanged,
    RunFinished,
    RunResumed,
    RunStarted,
    VariantFailed,
    VariantFinished,
    VariantResumed,
    VariantStarted,
)
from tuilab.runtime.results import ResultsBook
from tuilab.scenario.sweep_record import SweepInfo

BAR_MIN = 10
"""The narrowest progress bar before a progress line leaves metrics out."""
TIME_WIDTH = 7
"""`0:00:12`: the time-left column of a progress line."""
STYLES = {
    LearningRateChanged: "bold yellow",
    EarlyStopped: "bold magenta",
    VariantFailed: "bold red",
    VariantFinished: "green",
}


class RichRenderer:
    """Shows events as they come; on a terminal with a live progress bar per trial."""

    def __init__(
        self, console: Console, charts: bool = True, sweep: SweepInfo | None = None
    ) -> None:
        self.console = console
        self.sweep = sweep
        self.live = console.is_terminal
        self.charts = charts
        self.book = ResultsBook()
        self.curves = CurveBook()
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.steps: dict[str, int] = {}

    def handle(self, event: Event) -> None:
        """Render one event."""
        self.book.handle(event)
        self.curves.handle(event)
        if isinstance(event, RunStarted | RunResumed):
            self._header(event)
        elif isinstance(event, VariantStarted | VariantResumed):
            self._line(event)
            self._start_progress(event)
        elif isinstance(event, BatchProgress):
            self._advance(event)
        elif isinstance(event, RunFinished):
            self._stop_progress()
            self._line(event)
            self._footer()
        else:
            if isinstance(event, EpochEnded):
                self._advance_epoch(event)
            self._line(event)

    def _print(self, *items: object) -> None:
        target = self.progress.console if self.progress else self.console
        target.print(*items, highlight=False, soft_wrap=True)

    def _fold(self, text: str, style: str = "") -> Text:
        """A line folded to the console between its parts, so that a terminal never breaks a
        number or a name (`lr 0.00` / `1`)."""
        return Text(fold_line(clean(text), line_width(self.console)), style=style)

    def _line(self, event: Event) -> None:
        text = describe(event)
        if text:
            self._print(self._fold(text, STYLES.get(type(event), "")))

    def preload(self, events: list[Event]) -> None:
        """Fold in what an earlier process stored (a resumed run), without printing it."""
        for event in events:
            self.book.handle(event)
            self.curves.handle(event)

    def _header(self, event: RunStarted | RunResumed) -> None:
        device = event.device
        if isinstance(event, RunResumed):
            self._print(self._fold(f"tuilab: resuming {event.scenario}", "bold"))
            if event.done:
                self._print(self._fold(f"  finished  {', '.join(event.done)}"))
        else:
            self._print(self._fold(f"tuilab: {event.scenario}", "bold"))
            self._print(plain(f"  scenario  {event.path}"))
        self._print(
            self._fold(
                f"  device    {device.get('device', '?')} · {backend_text(device)} · "
                f"Keras {device.get('keras', '?')}"
            )
        )
        self._print(self._fold(f"  trials    {', '.join(event.trials)}"))
        self._print(plain(f"  stored in {event.run_dir or '(not stored)'}"))

    def _start_progress(self, event: VariantStarted | VariantResumed) -> None:
        self.steps[event.trial] = event.steps_per_epoch
        if not self.live:
            return
        if self.progress is None:
            self.progress = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(bar_width=None, table_column=Column(ratio=1)),
                TextColumn("{task.fields[epoch]}", markup=False),
                TextColumn("{task.fields[stats]}", markup=False),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
                expand=True,  # the bar takes what the whole texts leave
            )
            self.progress.start()
        done = event.from_epoch if isinstance(event, VariantResumed) else 0
        self.tasks[event.trial] = self.progress.add_task(
            clean(event.trial),
            total=event.epochs * event.steps_per_epoch,
            completed=done * event.steps_per_epoch,
            epoch=f"epoch {min(done + 1, event.epochs)}/{event.epochs}",
            stats="",
        )

    def _advance(self, event: BatchProgress) -> None:
        if self.progress and event.trial in self.tasks:
            task = self.tasks[event.trial]
            total = self.progress.tasks[task].total or 0
            epochs = round(total / max(event.steps, 1))
            epoch = f"epoch {event.epoch}/{epochs}"
            self.progress.update(
                task,
                completed=(event.epoch - 1) * event.steps + event.batch,
                epoch=epoch,
                stats=leading(format_logs(event.logs), self._stats_room(epoch)),
            )

    def _stats_room(self, epoch: str) -> int:
        """What a progress line leaves for its metrics beside the widest trial name, the epoch,
        a short bar and the time left: metrics that do not fit are left out whole."""
        names = max((len(clean(trial)) for trial in self.tasks), default=0)
        return self.console.width - names - len(epoch) - BAR_MIN - TIME_WIDTH - 4

    def _advance_epoch(self, event: EpochEnded) -> None:
        if self.progress and event.trial in self.tasks:
            steps = self.steps.get(event.trial, 0)
            self.progress.update(self.tasks[event.trial], completed=event.epoch * steps)

    def _stop_progress(self) -> None:
        if self.progress:
            self.progress.stop()
            self.progress = None

    def _footer(self) -> None:
        if self.sweep is not None:
            print_sweep(self.console, self.sweep, self.book)
        else:
            self.console.print(results_table(self.book, self.console.width))
        if not self.charts or not any(c.epochs for c in self.curves.curves.values()):
            return
        width = max(40, min(self.console.width, 120))
        for metric in ("accuracy", "loss"):
            if metric in self.curves.metrics():
                chart = curves_text(self.curves.curves, metric, width, 18, self.live)
                self.console.print(Text.from_ansi(chart))

    def close(self) -> None:
        """Stop any live display (after an interruption)."""
        self._stop_progress()


class JsonRenderer:
    """`--json`: one JSON event per line on stdout and nothing else."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    def handle(self, event: Event) -> None:
        """Write one line."""
        self.stream.write(event.to_json() + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Nothing to stop."""
