"""Per-trial metric curves and their markers, collected from events."""

from __future__ import annotations

from dataclasses import dataclass, field

from tuilab.runtime.events import (
    ControlApplied,
    EarlyStopped,
    EpochEnded,
    Event,
    LearningRateChanged,
    VariantResumed,
    VariantStarted,
)

MAX_SERIES = 256
"""Metrics kept per trial, the first met: a metric first logged at epoch N costs N values, so an
event log naming a new metric at every epoch would otherwise cost the square of its length."""


@dataclass
class Curve:
    """One trial's values per epoch, and the epochs worth marking."""

    variant: str
    run: str = ""
    """The run the trial belongs to: repeats are pooled only within one run."""
    epochs: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)
    lr_changes: list[int] = field(default_factory=list)
    early_stop: tuple[int, int] | None = None
    stopped_at: int | None = None
    resumed_after: list[int] = field(default_factory=list)
    """The epochs after which the trial was resumed in a new process."""

    def rewind(self, epoch: int) -> None:
        """Forget everything after `epoch`: the trial goes on from there."""
        keep = _kept(self.epochs, epoch)
        del self.epochs[keep:]
        for series in self.values.values():
            del series[keep:]
        del self.lr_changes[_kept(self.lr_changes, epoch) :]
        if self.early_stop and self.early_stop[0] > epoch:
            self.early_stop = None
        self.stopped_at = None
        self.resumed_after.append(epoch)


class CurveBook:
    """trial -> `Curve`, fed by events; metrics include `learning_rate`."""

    def __init__(self) -> None:
        self.curves: dict[str, Curve] = {}

    def handle(self, event: Event) -> bool:
        """Update from one event; True when a curve changed."""
        if isinstance(event, VariantStarted):
            self.curves[event.trial] = Curve(event.variant)
            return True
        curve = self.curves.get(getattr(event, "trial", ""))
        if curve is None:
            return False
        if isinstance(event, VariantResumed):
            curve.rewind(event.from_epoch)
            return True
        if isinstance(event, EpochEnded):
            curve.epochs.append(event.epoch)
            for name, value in {**event.logs, "learning_rate": event.learning_rate}.items():
                series = curve.values.get(name)
                if series is None:  # a metric first logged now: NaN for the epochs before
                    if len(curve.values) >= MAX_SERIES:
                        continue
                    series = curve.values[name] = [float("nan")] * (len(curve.epochs) - 1)
                series.append(value)
            for series in curve.values.values():
                if len(series) < len(curve.epochs):  # a metric this epoch did not log
                    series.append(float("nan"))
            return True
        if isinstance(event, LearningRateChanged):
            curve.lr_changes.append(event.epoch)
        elif isinstance(event, EarlyStopped):
            curve.early_stop = (event.epoch, event.best_epoch)
        elif isinstance(event, ControlApplied) and event.action.startswith("stop"):
            curve.stopped_at = event.epoch
        else:
            return False
        return True

    def metrics(self) -> list[str]:
        """Base metric names present (without `val_`), loss and accuracy first."""
        names = {n.removeprefix("val_") for c in self.curves.values() for n in c.values}
        order = {"loss": 0, "accuracy": 1, "learning_rate": 99}
        return sorted(names, key=lambda n: (order.get(n, 50), n))


def _kept(epochs: list[int], epoch: int) -> int:
    """How many of `epochs` stay when the trial goes on after `epoch`: all but the trailing
    ones after it (epochs arrive in order), counted from the end so that a rewind costs what
    it removes and a fold over any number of epochs and resumes stays linear."""
    keep = len(epochs)
    while keep and epochs[keep - 1] > epoch:
        keep -= 1
    return keep
