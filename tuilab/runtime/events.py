"""Typed training events: small frozen dataclasses of plain data, one JSON line each.

The runtime emits them, and the run store, the headless renderer and the app read them; a
stored run is replayed through the same events. Epochs are 1-based here, as users count them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Container, Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from functools import cache
from typing import Any, ClassVar, get_type_hints

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from typing_extensions import TypedDict

from tuilab.model.summary import ModelSummary


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


def metric_values(
    logs: Mapping[str, Any] | None, leave_out: Container[str] = ()
) -> dict[str, float]:
    """Keras's logs as the plain floats an event holds: where every log becomes event values.

    A scalar stays `float(value)`, exactly as before. A metric whose result is an array
    (F1Score and FBetaScore per class, Precision with a list of `thresholds`, ...) becomes
    its mean under its own name plus one value per element: `f1_score` and `f1_score_0`,
    `f1_score_1`, ... (`name_0_1` for a 2-D result; `val_f1_score_0` for its validation).
    The keys stay plain identifiers, so CSV headers and TensorBoard tags take them as they are.
    A key Keras itself logged wins over an element's key; values that are not numbers (text,
    None) are left out.
    """
    values: dict[str, float] = {}
    if not logs:
        return values
    for name, value in logs.items():
        if name in leave_out:
            continue
        if getattr(value, "ndim", 0) == 0:  # Keras gives Python floats: one attribute look-up
            try:
                values[name] = float(value)
                continue
            except (TypeError, ValueError):
                pass  # a list, or not a number
        _add_elements(values, name, value, logs)
    return values


def _add_elements(values: dict[str, float], name: str, value: Any, logs: Mapping[str, Any]) -> None:
    """`name` as the mean of an array-valued result and one key per element."""
    if value is None:
        return
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return
    if array.ndim == 0:
        values[name] = float(array)
        return
    if array.size == 0:
        return
    values[name] = float(np.mean(array))
    for index in np.ndindex(array.shape):
        key = name + "".join(f"_{i}" for i in index)
        if key not in logs:
            values[key] = float(array[index])


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
    compiler: str = "XLA"  # what jit_compile means on the backend: XLA, or torch.compile


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
class ControlRefused(Event):
    """A steering request was not applied (malformed, unknown, a link, or for a trial that is
    not training).

    `trial` is the trial it was for, or the trial training when it arrived ("" before the first).
    """

    kind: ClassVar[str] = "control_refused"
    trial: str
    reason: str


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


class ConfusedPair(TypedDict):
    """A true class the model took for another `count` times (class indices)."""

    true: int
    predicted: int
    count: int


class Mistake(TypedDict):
    """One misclassified test sample: its index in the test split, its classes, the
    predicted class's probability."""

    index: int
    true: int
    predicted: int
    confidence: float


@dataclass(frozen=True)
class ClassificationReport(Event):
    """Where a classifier goes wrong on the test split (emitted before `VariantFinished`).

    `matrix[i][j]` counts test samples of class i predicted as j; the per-class lists follow
    `labels`; `misclassified` holds the most confident mistakes (of `misclassified_total`).
    """

    kind: ClassVar[str] = "classification_report"
    trial: str
    labels: list[str]
    matrix: list[list[int]]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    support: list[int]
    accuracy: float = 0.0
    confused_pairs: list[ConfusedPair] = field(default_factory=list)
    misclassified: list[Mistake] = field(default_factory=list)
    misclassified_total: int = 0
    split: str = "test"
    seconds: float = 0.0
    """What the prediction pass and the metrics took."""
    during: str = ""
    """Empty for the report after training; `epoch 3, batch 12` for one asked for while the
    trial trained (`tuilab confusion`, `r` in the app's confusion view)."""

    def problem(self) -> str | None:
        """Why the report is inconsistent (a matrix that is not labels × labels...), or None."""
        size = len(self.labels)
        if len(self.matrix) != size or any(len(row) != size for row in self.matrix):
            return f"matrix: expected {size}×{size} counts"
        lists = (self.precision, self.recall, self.f1, self.support)
        if any(len(values) != size for values in lists):
            return f"precision, recall, f1 and support need {size} values each"
        indices = [p[k] for p in self.confused_pairs for k in ("true", "predicted")]
        indices += [m[k] for m in self.misclassified for k in ("true", "predicted")]
        if any(not 0 <= i < size for i in indices):
            return f"a class index outside 0..{size - 1}"
        return None


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


@dataclass(frozen=True)
class RunResumed(Event):
    """A stopped, killed or failed run continues in a new process, in the same run folder."""

    kind: ClassVar[str] = "run_resumed"
    scenario: str
    trials: list[str]
    """The trials this process trains: resumed from their last finished epoch, or started."""
    done: list[str] = field(default_factory=list)
    """The trials that had finished before: not trained again."""
    device: dict[str, Any] = field(default_factory=dict)
    run_dir: str | None = None
    resumed: str = ""


@dataclass(frozen=True)
class VariantResumed(Event):
    """A trial continues after its last finished epoch; anything logged after it is superseded.

    Epochs after `from_epoch` that an earlier process logged (it was killed between logging an
    epoch and saving it) are dropped by every reader: the trial goes on from `from_epoch`.
    """

    kind: ClassVar[str] = "variant_resumed"
    trial: str
    variant: str
    repeat: int
    seed: int
    epochs: int
    from_epoch: int
    steps_per_epoch: int
    batch_size: int
    learning_rate: float = 0.0


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
        ControlRefused,
        ClassificationReport,
        VariantFinished,
        VariantFailed,
        RunFinished,
        RunResumed,
        VariantResumed,
    )
}
import tuilab.runtime.layer_events  # noqa: E402, F401  (registers LayerStats)


class EventFormatError(ValueError):
    """A stored or streamed event line that is not a valid tuilab event."""


@cache
def _validator(cls: type[Event]) -> type[BaseModel]:
    """A strict pydantic model of an event's fields (no coercion of "0.5" or `true`)."""
    hints = get_type_hints(cls)
    shape: dict[str, Any] = {
        f.name: (
            hints[f.name],
            ...
            if f.default is MISSING and f.default_factory is MISSING
            else Field(default=f.default)
            if f.default is not MISSING
            else Field(default_factory=f.default_factory),
        )
        for f in fields(cls)
    }
    return create_model(
        f"{cls.__name__}Fields", __config__=ConfigDict(strict=True, extra="ignore"), **shape
    )


def event_from_dict(data: Any) -> Event:
    """Rebuild an event from its parsed JSON, checking every field's type (unknown keys ignored).

    Raises:
        EventFormatError: not an object, an unknown kind, a missing field or a wrong type.
    """
    if not isinstance(data, dict):
        raise EventFormatError(f"expected a JSON object, got {type(data).__name__}")
    kind = data.get("event")
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise EventFormatError(f"unknown event kind {kind!r}")
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    if cls is EpochEnded and isinstance(values.get("logs"), dict):
        values["logs"] = {k: (math.nan if v is None else v) for k, v in values["logs"].items()}
    try:
        checked = _validator(cls).model_validate(values)
    except ValidationError as exc:
        raise EventFormatError(f"{kind}: {_first_error(exc)}") from None
    event = cls(**{name: getattr(checked, name) for name in names})
    if isinstance(event, VariantStarted) and event.summary:
        try:
            ModelSummary.from_dict(event.summary)
        except ValueError as exc:
            raise EventFormatError(f"{kind}: summary: {_first_error(exc)}") from None
    problem = event.problem() if isinstance(event, ClassificationReport) else None
    if problem:
        raise EventFormatError(f"{kind}: {problem}")
    return event


def _first_error(exc: ValueError) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return ".".join(str(part) for part in first["loc"]) + f": {first['msg']}"
    return str(exc)


def event_from_json(line: str) -> Event:
    """Parse and check one JSON line.

    Raises:
        EventFormatError: not JSON, or not a valid event.
    """
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise EventFormatError(f"not JSON ({exc})") from None
    return event_from_dict(data)
