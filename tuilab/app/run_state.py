"""Everything the dashboard shows, folded from events: a live run and a stored run alike."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuilab.backend import BACKEND_LABELS
from tuilab.errors import TuilabError
from tuilab.model.summary import ModelSummary
from tuilab.presentation.describe import describe
from tuilab.presentation.text import clean
from tuilab.runtime.curves import CurveBook
from tuilab.runtime.events import (
    BatchNormSnapshot,
    BatchProgress,
    EpochEnded,
    Event,
    RunResumed,
    RunStarted,
    VariantFailed,
    VariantFinished,
    VariantResumed,
    VariantStarted,
)
from tuilab.runtime.layer_events import LayerStats
from tuilab.runtime.results import ResultsBook
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.stored import stored_sweep
from tuilab.scenario.sweep_record import SweepInfo


@dataclass
class Progress:
    """Where a trial is: epoch, batch, totals and its latest running metrics."""

    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    steps: int = 0
    logs: dict[str, float] = field(default_factory=dict)


@dataclass
class RunState:
    """The dashboard's model. `handle` returns which parts of the screen need a redraw."""

    scenario: str = ""
    device: str = ""
    run_dirs: list[str] = field(default_factory=list)
    trials: list[str] = field(default_factory=list)
    book: ResultsBook = field(default_factory=ResultsBook)
    curves: CurveBook = field(default_factory=CurveBook)
    summaries: dict[str, ModelSummary] = field(default_factory=dict)
    batchnorm: dict[str, list[tuple[int, dict[str, dict[str, list[float]]]]]] = field(
        default_factory=dict
    )
    layer_stats: dict[str, dict[int, LayerStats]] = field(default_factory=dict)
    """Per trial, its `LayerStats` by epoch (a re-sent epoch replaces the earlier one)."""
    progress: dict[str, Progress] = field(default_factory=dict)
    lines: list[tuple[str, str]] = field(default_factory=list)
    dropped_lines: int = 0
    max_lines: int = 2000
    sweep: SweepInfo | None = None
    """The run's sweep record (from its `resolved.json`), when the run is a sweep."""

    def handle(self, event: Event, session: int = 1) -> set[str]:
        """Fold one event in; `session` > 1 renames trials of a rerun (`adam~2`)."""
        if session > 1 and hasattr(event, "trial"):
            event = _renamed(event, session)
        changed: set[str] = set()
        if isinstance(event, RunStarted | RunResumed):
            self.scenario = event.scenario
            backend = str(event.device.get("backend", "tensorflow"))
            label = BACKEND_LABELS.get(backend, backend)
            self.device = f"{event.device.get('device', '')} · {label}"
            if event.run_dir and event.run_dir not in self.run_dirs:
                self.run_dirs.append(event.run_dir)
                self.sweep = _sweep_of(event.run_dir) if len(self.run_dirs) == 1 else None
                changed.add("results")
        elif isinstance(event, VariantStarted):
            self.trials.append(event.trial)
            self.summaries[event.trial] = ModelSummary.from_dict(event.summary)
            self.batchnorm[event.trial] = [(0, event.batchnorm)] if event.batchnorm else []
            self.progress[event.trial] = Progress(0, event.epochs, 0, event.steps_per_epoch)
            changed |= {"variants", "layers", "batchnorm"}
        elif isinstance(event, VariantResumed):
            if event.trial not in self.trials:
                self.trials.append(event.trial)
            kept = [s for s in self.batchnorm.get(event.trial, []) if s[0] <= event.from_epoch]
            self.batchnorm[event.trial] = kept
            layers = self.layer_stats.get(event.trial, {})
            self.layer_stats[event.trial] = {
                e: s for e, s in layers.items() if e <= event.from_epoch
            }
            self.progress[event.trial] = Progress(
                event.from_epoch, event.epochs, event.steps_per_epoch, event.steps_per_epoch
            )
            changed |= {"variants", "batchnorm", "layers", "results"}
        elif isinstance(event, BatchProgress):
            progress = self.progress.get(event.trial)
            if progress:
                progress.epoch, progress.batch, progress.logs = event.epoch, event.batch, event.logs
            return {"variants"}
        elif isinstance(event, EpochEnded):
            progress = self.progress.get(event.trial)
            if progress:
                progress.epoch, progress.batch = event.epoch, progress.steps
                progress.logs = event.logs
            changed |= {"variants", "results"}
        elif isinstance(event, BatchNormSnapshot):
            self.batchnorm.setdefault(event.trial, []).append((event.epoch, event.layers))
            changed.add("batchnorm")
        elif isinstance(event, LayerStats):
            self.layer_stats.setdefault(event.trial, {})[event.epoch] = event
            changed.add("layers")
        elif isinstance(event, VariantFinished | VariantFailed):
            changed |= {"variants", "results"}
        self.book.handle(event)
        if self.curves.handle(event):
            changed.add("curves")
        line = describe(event)
        if line:
            self.add_line(event.kind, line)
            changed.add("events")
        return changed

    def add_line(self, kind: str, line: str) -> None:
        """Append an event-log line, keeping at most `max_lines` (memory stays flat)."""
        self.lines.append((kind, line))
        excess = len(self.lines) - self.max_lines
        if excess > 0:
            del self.lines[:excess]
            self.dropped_lines += excess

    def lines_after(self, count: int) -> list[tuple[str, str]]:
        """The lines after the first `count` ever added (those still kept)."""
        return self.lines[max(0, count - self.dropped_lines) :]

    @property
    def line_count(self) -> int:
        """How many lines were ever added."""
        return self.dropped_lines + len(self.lines)

    def status(self, trial: str) -> str:
        """running, finished, stopped or failed."""
        result = self.book.trials.get(trial)
        return result.status if result else "waiting"

    def layer_series(self, trial: str | None) -> list[LayerStats]:
        """A trial's `LayerStats` in epoch order (none yet, or a run stored before them)."""
        by_epoch = self.layer_stats.get(trial or "", {})
        return [by_epoch[epoch] for epoch in sorted(by_epoch)]

    def info(self, running: bool) -> str:
        """The sidebar's run lines: scenario, device, status, run folder (each line cleaned)."""
        where = self.run_dirs[-1] if self.run_dirs else "not stored"
        status = "training…" if running else (self.book.status or "")
        lines = (self.scenario, self.device, status, Path(where).name)
        return "\n".join(clean(line) for line in lines)

    def color_index(self, trial: str) -> int:
        """The trial's position, which picks its colour everywhere."""
        return self.trials.index(trial) if trial in self.trials else 0


def _sweep_of(run_dir: str) -> SweepInfo | None:
    """The sweep a stored run records; None when it is no sweep or its record is unreadable."""
    try:
        return stored_sweep(RunFolder(Path(run_dir)))
    except TuilabError:
        return None


def _renamed(event: Event, session: int) -> Event:
    values: dict[str, Any] = {"trial": f"{event.trial}~{session}"}
    if hasattr(event, "variant"):
        values["variant"] = f"{event.variant}~{session}"
    return dataclasses.replace(event, **values)
