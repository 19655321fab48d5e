"""Results per trial and per variant (mean ± std over repeats), built from events alone."""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from tuilab.runtime.events import (
    ClassificationReport,
    EarlyStopped,
    EpochEnded,
    Event,
    RunFinished,
    RunResumed,
    RunStarted,
    VariantFailed,
    VariantFinished,
    VariantResumed,
    VariantStarted,
)


@dataclass
class TrialResult:
    """What one trial achieved so far."""

    trial: str
    variant: str
    repeat: int = 1
    status: str = "running"
    epochs: int = 0
    final: dict[str, float] = field(default_factory=dict)
    best: dict[str, float] = field(default_factory=dict)
    best_epoch: dict[str, int] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    learning_rate: float = 0.0
    reason: str = ""
    early_stopped_epoch: int | None = None

    def observe_epoch(self, event: EpochEnded) -> None:
        """Track final and best values (accuracy-like: max; loss-like: min)."""
        self.epochs = event.epoch
        self.final = dict(event.logs)
        self.learning_rate = event.learning_rate
        self.seconds += event.seconds
        for name, value in event.logs.items():
            if not math.isfinite(value):
                continue
            lower_is_better = "loss" in name or "error" in name
            old = self.best.get(name)
            if old is None or (value < old if lower_is_better else value > old):
                self.best[name] = value
                self.best_epoch[name] = event.epoch


def _mean_std(values: list[float]) -> dict[str, float]:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return {"mean": mean, "std": std, "n": len(values)}


class ResultsBook:
    """Folds events into trial results; the run store, headless output and app share it."""

    def __init__(self) -> None:
        self.scenario = ""
        self.status = "running"
        self.trials: dict[str, TrialResult] = {}
        self.seconds = 0.0
        self._epochs: dict[str, list[EpochEnded]] = {}
        self.reports: dict[str, ClassificationReport] = {}
        """Each classifier trial's confusion report on the test split (not in results.json)."""

    def handle(self, event: Event) -> None:
        """Update from one event."""
        if isinstance(event, RunStarted):
            self.scenario = event.scenario
        elif isinstance(event, RunResumed):
            self.status = "running"
        elif isinstance(event, VariantStarted):
            self.trials[event.trial] = TrialResult(event.trial, event.variant, event.repeat)
            self._epochs[event.trial] = []
            self.reports.pop(event.trial, None)
        elif isinstance(event, VariantResumed):
            self._resume(event)
            self.reports.pop(event.trial, None)
        elif isinstance(event, ClassificationReport):
            self.reports[event.trial] = event
        elif isinstance(event, EpochEnded) and event.trial in self.trials:
            self.trials[event.trial].observe_epoch(event)
            self._epochs.setdefault(event.trial, []).append(event)
        elif isinstance(event, EarlyStopped) and event.trial in self.trials:
            self.trials[event.trial].early_stopped_epoch = event.epoch
        elif isinstance(event, VariantFinished):
            result = self.trials.setdefault(event.trial, TrialResult(event.trial, event.variant))
            result.status, result.test = event.status, dict(event.test)
            result.seconds, result.learning_rate = event.seconds, event.learning_rate
            result.epochs = event.epochs
        elif isinstance(event, VariantFailed):
            result = self.trials.setdefault(event.trial, TrialResult(event.trial, event.variant))
            result.status, result.reason, result.seconds = "failed", event.reason, event.seconds
        elif isinstance(event, RunFinished):
            self.status, self.seconds = event.status, event.seconds

    def settle(self, run_status: str) -> None:
        """Take the run's status from its folder (a run whose process is gone is `incomplete`);
        a trial still `running` in the events of a run that no longer runs is `incomplete` too.

        The one place a stored run's state is decided: the listing, the app, `show` and the
        reports all read a fold settled here."""
        if self.status == "running":
            self.status = run_status
        if self.status != "running":
            for result in self.trials.values():
                if result.status == "running":
                    result.status = "incomplete"

    def _resume(self, event: VariantResumed) -> None:
        """The trial goes on after `from_epoch`: epochs logged after it are superseded."""
        old = self.trials.get(event.trial)
        kept = [e for e in self._epochs.get(event.trial, []) if e.epoch <= event.from_epoch]
        result = TrialResult(event.trial, event.variant, event.repeat)
        for epoch in kept:
            result.observe_epoch(epoch)
        if old and old.early_stopped_epoch and old.early_stopped_epoch <= event.from_epoch:
            result.early_stopped_epoch = old.early_stopped_epoch
        self.trials[event.trial] = result
        self._epochs[event.trial] = kept

    def variants(self) -> dict[str, dict[str, Any]]:
        """Per variant: statuses, and mean ± std of test and best validation metrics."""
        grouped: dict[str, list[TrialResult]] = {}
        for result in self.trials.values():
            grouped.setdefault(result.variant, []).append(result)
        summary: dict[str, dict[str, Any]] = {}
        for variant, results in grouped.items():
            done = [r for r in results if r.test]
            entry: dict[str, Any] = {
                "trials": [r.trial for r in results],
                "statuses": [r.status for r in results],
                "test": {},
                "best": {},
            }
            for metric in sorted({m for r in done for m in r.test}):
                values = [r.test[metric] for r in done if metric in r.test]
                entry["test"][metric] = _mean_std(values)
            for metric in sorted({m for r in results for m in r.best if m.startswith("val_")}):
                values = [r.best[metric] for r in results if metric in r.best]
                entry["best"][metric] = _mean_std(values)
            summary[variant] = entry
        return summary

    def to_dict(self) -> dict[str, Any]:
        """The `results.json` document."""
        return {
            "scenario": self.scenario,
            "status": self.status,
            "seconds": self.seconds,
            "trials": {name: asdict(r) for name, r in self.trials.items()},
            "variants": self.variants(),
        }
