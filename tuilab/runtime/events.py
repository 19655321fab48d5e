"""Typed training events: small frozen dataclasses of plain data, one JSON line each.

The runtime emits them, and the run store, the headless renderer and the app read them; a
stored run is replayed through the same events. Epochs are 1-based here, as users count them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    """Base of every event. `kind` names it in JSON; transient events are not stored."""

    kind: ClassVar[str] = "event"
    transient: ClassVar[bool] = False

    def to_dict(self) -> dict[str, Any]:
        """Plain dict with the event's kind under `event`."""
        return {"event": self.kind, **asdict(self)}

    def to_json(self) -> str:
        """One JSON line (NaN and infinity written as null, so any JSON parser reads it)."""
        return json.dumps(json_safe(self.to_dict()), separators=(",", ":"))


def json_safe(value: Any) -> Any:
    """`value` with NaN and infinities replaced by None (tuples become lists)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


@dataclass(frozen=True)
class RunStarted(Event):
    """A run began: what, where, on which device."""

    kind: ClassVar[str] = "run_started"
    scenario: str
    path: str
    variants: list[str]
    trials: list[str]
    repeats: int = 1
    device: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    started: str = ""


@dataclass(frozen=True)
class VariantStarted(Event):
    """One trial (a variant, or one repeat of it) is about to fit."""

    kind: ClassVar[str] = "variant_started"
    trial: str
    variant: str
    repeat: int
    seed: int
    epochs: int
    steps_per_epoch: int
    batch_size: int
    samples: dict[str, int] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    batchnorm: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    learning_rate: float = 0.0
    strategy: str = "default"
    replicas: int = 1
    steps_per_execution: int = 1
    jit_compile: bool = False


@dataclass(frozen=True)
class BatchProgress(Event):
    """Throttled progress inside an epoch (running averages). Not stored."""

    kind: ClassVar[str] = "batch_progress"
    transient: ClassVar[bool] = True
    trial: str
    epoch: int
    batch: int
    steps: int
    logs: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class EpochEnded(Event):
    """An epoch finished: every metric in Keras's logs and the rate it trained with."""

    kind: ClassVar[str] = "epoch_ended"
    trial: str
    epoch: int
    logs: dict[str, float]
    learning_rate: float
    seconds: float
    samples_per_second: float = 0.0


@dataclass(frozen=True)
class LearningRateChanged(Event):
    """The optimizer's learning rate changed (a callback or the user did it)."""

    kind: ClassVar[str] = "learning_rate_changed"
    trial: str
    epoch: int
    old: float
    new: float
    reason: str


@dataclass(frozen=True)
class EarlyStopped(Event):
    """EarlyStopping ended the fit."""

    kind: ClassVar[str] = "early_stopped"
    trial: str
    epoch: int
    best_epoch: int
    monitor: str
    best: float | None
    restored: bool = False


@dataclass(frozen=True)
class BatchNormSnapshot(Event):
    """Every BatchNormalization layer's gamma, beta, moving_mean, moving_variance."""

    kind: ClassVar[str] = "batchnorm_snapshot"
    trial: str
    epoch: int
    layers: dict[str, dict[str, list[float]]]


@dataclass(frozen=True)
class ControlApplied(Event):
    """A steering request was carried out (stop, stop after epoch, scale lr, checkpoint)."""

    kind: ClassVar[str] = "control_applied"
    trial: str
    epoch: int
    action: str
    detail: str = ""


@dataclass(frozen=True)
class VariantFinished(Event):
    """A trial ended normally or by request, with its test metrics when evaluated."""

    kind: ClassVar[str] = "variant_finished"
    trial: str
    variant: str
    status: str
    epochs: int
    test: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    learning_rate: float = 0.0


@dataclass(frozen=True)
class VariantFailed(Event):
    """A trial could not finish: NaN loss, an exception, out of memory."""

    kind: ClassVar[str] = "variant_failed"
    trial: str
    variant: str
    reason: str
    epoch: int = 0
    batch: int = 0
    epochs: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class RunFinished(Event):
    """The whole run ended: finished, failed (some trial failed) or stopped."""

    kind: ClassVar[str] = "run_finished"
    status: str
    seconds: float = 0.0


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        VariantStarted,
        BatchProgress,
        EpochEnded,
        LearningRateChanged,
        EarlyStopped,
        BatchNormSnapshot,
        ControlApplied,
        VariantFinished,
        VariantFailed,
        RunFinished,
    )
}


def event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from its dict or parsed JSON line (unknown keys are ignored)."""
    cls = EVENT_TYPES[data["event"]]
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    if cls is EpochEnded:
        values["logs"] = {k: (math.nan if v is None else v) for k, v in values["logs"].items()}
    return cls(**values)


def event_from_json(line: str) -> Event:
    """Parse one JSON line."""
    return event_from_dict(json.loads(line))
