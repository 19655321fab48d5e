"""What a user's own Keras script says about its training, as plain JSON (`tuilab.keras`).

A run recorded from a script has no scenario: its `resolved.json` holds what the model, its
compile and its fit said instead (`describe_fit`), so `tuilab compare` shows the keys that differ
between two runs of a script. What a callback is not told (the batch size, the sample counts,
the fit's other callbacks) is read from Keras's own `fit` while it runs (`FitContext.find`):
best effort, any of it may come back empty.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

SETTINGS: dict[str, tuple[str, ...]] = {
    "EarlyStopping": ("monitor", "patience", "min_delta", "mode", "restore_best_weights"),
    "ReduceLROnPlateau": ("monitor", "factor", "patience", "min_delta", "cooldown", "min_lr"),
    "ModelCheckpoint": ("monitor", "save_best_only", "save_weights_only"),
}
"""Keras callbacks whose settings are recorded (others by their class name only)."""
QUIET = ("History", "ProgbarLogger")
"""Callbacks Keras adds itself: not recorded."""
RATE_CHANGERS = ("ReduceLROnPlateau", "LearningRateScheduler")
"""Keras callbacks that change the learning rate (named as the reason of the change)."""
_FRAMES = 12
_DEPTH = 6


@dataclass
class FitContext:
    """What the running `fit` knows beyond `Callback.params`.

    Attributes:
        callbacks: Every callback of the fit, in the order Keras calls them.
        frame: Keras's `fit` frame: on the training thread's stack exactly while fit runs.
        batch_size: The batch size Keras slices arrays into (None: unknown, a dataset).
        samples: Training and validation sample counts, where the data are arrays.
        initial_epoch: Epochs counted as done before this fit (`fit(initial_epoch=...)`).
        options: Other fit arguments worth recording (shuffle, validation split and frequency).
    """

    callbacks: list[Any] = field(default_factory=list)
    frame: FrameType | None = None
    batch_size: int | None = None
    samples: dict[str, int] = field(default_factory=dict)
    initial_epoch: int = 0
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def find(cls, callback: Any, start: FrameType | None) -> FitContext:
        """Look up the stack from `start` (a Keras hook's caller) for the fit and its callbacks."""
        found = cls()
        frame, depth = start, 0
        while frame is not None and depth < _FRAMES:
            names = frame.f_locals
            owner = names.get("self")
            listed = getattr(owner, "callbacks", None)
            if not found.callbacks and isinstance(listed, list) and callback in listed:
                found.callbacks = list(listed)
            if frame.f_code.co_name == "fit" and "epoch_iterator" in names:
                found._read_fit(frame, names)
                break
            frame, depth = frame.f_back, depth + 1
        return found

    def _read_fit(self, frame: FrameType, names: Mapping[str, Any]) -> None:
        self.frame = frame
        adapter = getattr(names.get("epoch_iterator"), "data_adapter", None)
        self.batch_size = _count(getattr(adapter, "batch_size", None))
        if self.batch_size is None:
            self.batch_size = _count(names.get("batch_size"))
        for key, data in (("train", names.get("x")), ("validation", names.get("val_x"))):
            count = _leading(data)
            if count is not None:
                self.samples[key] = count
        self.initial_epoch = _count(names.get("initial_epoch")) or 0
        for key in ("shuffle", "validation_split", "validation_freq"):
            value = names.get(key)
            if isinstance(value, bool | int | float):
                self.options[key] = value

    def others(self, callback: Any) -> list[Any]:
        """The fit's callbacks but `callback` and those Keras adds itself."""
        return [c for c in self.callbacks if c is not callback and _name(c) not in QUIET]

    def after(self, callback: Any) -> list[str]:
        """The callbacks that run after `callback` and can change the training."""
        index = next((i for i, c in enumerate(self.callbacks) if c is callback), None)
        if index is None:
            return []
        return [_name(c) for c in self.others(callback) if self.callbacks.index(c) > index]


def _count(value: Any) -> int | None:
    """A positive int, or None."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _leading(data: Any, depth: int = 0) -> int | None:
    """The number of samples in arrays (or a list, tuple or dict of them); None otherwise."""
    shape = getattr(data, "shape", None)
    if shape is not None:
        try:
            return _count(shape[0])
        except (TypeError, IndexError):
            return None
    if depth < 3 and isinstance(data, list | tuple) and data:
        return _leading(data[0], depth + 1)
    if depth < 3 and isinstance(data, dict) and data:
        return _leading(next(iter(data.values())), depth + 1)
    return None


def _name(value: Any) -> str:
    return type(value).__name__


def plain(value: Any, depth: int = 0) -> Any:
    """`value` as JSON data: numbers, strings, lists and tables; NaN and infinity as None,
    objects with a Keras `get_config` as their class and config, functions by name."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:  # a NumPy or tensor scalar
        return plain(item(), depth + 1)
    if depth >= _DEPTH:
        return _name(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, depth + 1) for v in value]
    config = getattr(value, "get_config", None)
    if callable(config):
        try:
            return {"class": _name(value), **plain(dict(config()), depth + 1)}
        except Exception:  # a config that cannot be built: the class says enough
            return {"class": _name(value)}
    return getattr(value, "__name__", None) or _name(value)


def describe_callback(callback: Any) -> dict[str, Any]:
    """A callback's class and, for the known ones, its settings."""
    name = _name(callback)
    described: dict[str, Any] = {"class": name}
    for key in SETTINGS.get(name, ()):
        if hasattr(callback, key):
            described[key] = plain(getattr(callback, key))
    schedule = getattr(callback, "schedule", None)
    if name == "LearningRateScheduler" and schedule is not None:
        described["schedule"] = getattr(schedule, "__name__", _name(schedule))
    return described


def describe_fit(
    model: Any,
    params: Mapping[str, Any],
    context: FitContext,
    others: list[Any],
    batch_size: int | None,
    config: Mapping[str, Any],
) -> dict[str, Any]:
    """The settings of one fit, as a resolved variant table (`model`, `compile`, `fit`, ...)."""
    optimizer = model.optimizer
    try:
        optimizer_config = {"class": _name(optimizer), **plain(dict(optimizer.get_config()))}
    except Exception:  # an optimizer without a config: its class only
        optimizer_config = {"class": _name(optimizer)}
    fit: dict[str, Any] = {
        "epochs": plain(params.get("epochs")),
        "batch_size": batch_size,
        "steps_per_epoch": plain(params.get("steps")),
    }
    if context.initial_epoch:
        fit["initial_epoch"] = context.initial_epoch
    fit.update(plain(context.options))
    settings: dict[str, Any] = {
        "model": {"class": _name(model), "name": str(getattr(model, "name", ""))},
        "compile": {
            "optimizer": optimizer_config,
            "loss": plain(getattr(model, "loss", None)),
            "steps_per_execution": plain(getattr(model, "steps_per_execution", 1)),
            "jit_compile": plain(getattr(model, "jit_compile", False)),
        },
        "fit": fit,
        "callbacks": [describe_callback(c) for c in others],
    }
    if config:
        settings["config"] = plain(dict(config))
    return settings
