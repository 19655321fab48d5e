"""One readable line per event, shared by the headless output, the app's event log and reports.

Every line is passed through `clean`: names and reasons from a stored run cannot carry markup
or control characters to a terminal."""

from __future__ import annotations

from tuilab.presentation.confusion import report_line
from tuilab.presentation.numbers import format_logs, format_value
from tuilab.presentation.text import clean
from tuilab.runtime.events import (
    ClassificationReport,
    ControlApplied,
    ControlRefused,
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


def describe(event: Event) -> str | None:
    """The line the event log and headless output show, or None for silent events."""
    line = _line(event)
    return None if line is None else clean(line)


def _line(event: Event) -> str | None:
    if isinstance(event, RunStarted):
        device = event.device.get("device", "?")
        return f"run started: {event.scenario} ({len(event.trials)} trial(s)) on {device}"
    if isinstance(event, RunResumed):
        device = event.device.get("device", "?")
        done = f", {len(event.done)} finished before" if event.done else ""
        return (
            f"run resumed: {event.scenario} ({len(event.trials)} trial(s) to go{done}) on {device}"
        )
    if isinstance(event, VariantResumed):
        return (
            f"{event.trial}: resumed after epoch {event.from_epoch} of {event.epochs}, "
            f"lr {event.learning_rate:.3g}"
        )
    if isinstance(event, VariantStarted):
        total = event.summary.get("total", 0)
        return (
            f"{event.trial}: start, seed {event.seed}, {total:,} params, "
            f"{event.steps_per_epoch} steps × {event.epochs} epochs"
            + (
                f", {event.strategy} ×{event.replicas} replicas, "
                f"{event.batch_size // event.replicas} per replica"
                if event.replicas > 1
                else ""
            )
            + (
                f", {event.steps_per_execution} steps per call"
                if event.steps_per_execution > 1
                else ""
            )
            + (f", {event.compiler}" if event.jit_compile else "")
        )
    if isinstance(event, EpochEnded):
        return (
            f"{event.trial} epoch {event.epoch}: {format_logs(event.logs)} | "
            f"lr {event.learning_rate:.3g} | {event.seconds:.1f}s"
        )
    if isinstance(event, LearningRateChanged):
        return (
            f"{event.trial} epoch {event.epoch}: learning rate {event.old:.3g} -> {event.new:.3g} "
            f"({event.reason})"
        )
    if isinstance(event, EarlyStopped):
        best = "" if event.best is None else f" {format_value(event.best)}"
        return (
            f"{event.trial} epoch {event.epoch}: early stop, best {event.monitor}{best} "
            f"at epoch {event.best_epoch}" + (" (weights restored)" if event.restored else "")
        )
    if isinstance(event, ControlApplied):
        detail = f" {event.detail}" if event.detail else ""
        return f"{event.trial} epoch {event.epoch}: {event.action.replace('_', ' ')}{detail}"
    if isinstance(event, ControlRefused):
        where = f"{event.trial}: " if event.trial else ""
        return f"{where}control request refused: {event.reason}"
    if isinstance(event, ClassificationReport):
        return report_line(event)
    if isinstance(event, VariantFinished):
        test = format_logs(event.test) if event.test else "not evaluated"
        took = f"{event.epochs} epochs in {event.seconds:.1f}s"
        return f"{event.trial}: {event.status} after {took}; test {test}"
    if isinstance(event, VariantFailed):
        return f"{event.trial}: FAILED: {event.reason}"
    if isinstance(event, RunFinished):
        return f"run {event.status} in {event.seconds:.1f}s"
    return None
