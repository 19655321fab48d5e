"""One readable line per event, shared by the headless output and the app's event log."""

from __future__ import annotations

from tuilab.runtime.events import (
    ControlApplied,
    EarlyStopped,
    EpochEnded,
    Event,
    LearningRateChanged,
    RunFinished,
    RunStarted,
    VariantFailed,
    VariantFinished,
    VariantStarted,
)

SHORT_NAMES = {"accuracy": "acc", "val_accuracy": "val_acc"}


def short_metric(name: str) -> str:
    """`accuracy` -> `acc`, `val_accuracy` -> `val_acc`; other names unchanged."""
    return SHORT_NAMES.get(name, name)


def format_value(value: float | None) -> str:
    """Four significant digits, `nan` for missing values."""
    if value is None or value != value:
        return "nan"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"


def format_logs(logs: dict[str, float]) -> str:
    """`loss 0.312 acc 0.887 | val_loss 0.321 val_acc 0.888`: training first, then validation."""
    ordered = sorted(logs, key=lambda k: (k.removeprefix("val_") != "loss", k))
    train = [k for k in ordered if not k.startswith("val_")]
    val = [k for k in ordered if k.startswith("val_")]
    parts = [
        " ".join(f"{short_metric(k)} {format_value(logs[k])}" for k in keys)
        for keys in (train, val)
    ]
    return " | ".join(p for p in parts if p)


def describe(event: Event) -> str | None:
    """The line the event log and headless output show, or None for silent events."""
    if isinstance(event, RunStarted):
        device = event.device.get("device", "?")
        return f"run started: {event.scenario} ({len(event.trials)} trial(s)) on {device}"
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
            + (", XLA" if event.jit_compile else "")
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
    if isinstance(event, VariantFinished):
        test = format_logs(event.test) if event.test else "not evaluated"
        took = f"{event.epochs} epochs in {event.seconds:.1f}s"
        return f"{event.trial}: {event.status} after {took}; test {test}"
    if isinstance(event, VariantFailed):
        return f"{event.trial}: FAILED: {event.reason}"
    if isinstance(event, RunFinished):
        return f"run {event.status} in {event.seconds:.1f}s"
    return None
