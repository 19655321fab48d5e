"""Split, reshape, normalise (training statistics only) and encode labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tuilab.data.formats import Splits
from tuilab.data.sources import DatasetSpec
from tuilab.errors import DataError
from tuilab.scenario.schema import DataConfig


@dataclass(frozen=True)
class PreparedData:
    """Arrays ready for `model.fit`, float32 inputs, int or one-hot labels.

    Attributes:
        x_val: None when the scenario asks for no validation.
        stats: What normalisation used, all from the training split (`mean`, `std`, `scale`).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    input_shape: tuple[int, ...]
    classes: int
    stats: dict[str, float | list[float]] = field(default_factory=dict)


def input_shape_for(spec: DatasetSpec, flatten: bool) -> tuple[int, ...]:
    """The model's input shape: the image shape with channels, or its flat length."""
    return (int(np.prod(spec.image_shape)),) if flatten else spec.image_shape


def split_validation(
    config: DataConfig, x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Training and validation arrays by the scenario's rule (Keras takes the *last* fraction)."""
    if config.validation_split is not None:
        cut = int(len(x) * (1.0 - config.validation_split))
        if not 0 < cut < len(x):
            left = "no training images" if cut <= 0 else "no validation images"
            raise DataError(
                f"data.validation_split: {config.validation_split} of {len(x)} images leaves "
                f"{left} (change the split or the data.limit)"
            )
        return x[:cut], y[:cut], x[cut:], y[cut:]
    if config.validation_first is not None:
        first = min(config.validation_first, len(x) - 1)
        return x[first:], y[first:], x[:first], y[:first]
    if config.validation == "test":
        return x, y, x_test, y_test
    return x, y, None, None


def _stat_axes(x: np.ndarray, stats: str) -> tuple[int, ...] | None:
    if stats == "global":
        return None
    if stats == "channel":
        return tuple(range(x.ndim - 1))
    return (0,)


def normalise(
    config: DataConfig, spec: DatasetSpec, train: np.ndarray, others: list[np.ndarray | None]
) -> tuple[np.ndarray, list[np.ndarray | None], dict[str, float | list[float]]]:
    """Normalise `train` and apply the very same transform to `others`."""
    train = train.astype(np.float32)
    others = [None if o is None else o.astype(np.float32) for o in others]
    if config.normalize == "none":
        return train, others, {}
    axes = _stat_axes(train, config.stats)
    if config.normalize == "scale":
        if spec.pixel_max is not None:
            low, high = np.float32(0.0), np.float32(spec.pixel_max)
        else:
            low, high = train.min(axis=axes), train.max(axis=axes)
        span = np.where(high - low == 0, 1.0, high - low).astype(np.float32)
        shift, divide = low, span
    else:
        shift = train.mean(axis=axes, dtype=np.float64).astype(np.float32)
        divide = np.float32(1.0)
        if config.normalize == "standardize":
            std = train.std(axis=axes, dtype=np.float64).astype(np.float32)
            divide = np.where(std == 0, 1.0, std).astype(np.float32)

    def apply(a: np.ndarray) -> np.ndarray:
        return ((a - shift) / divide).astype(np.float32)

    stats = {"shift": np.asarray(shift).tolist(), "divide": np.asarray(divide).tolist()}
    return apply(train), [None if o is None else apply(o) for o in others], stats


def wants_one_hot(loss: object) -> bool:
    """True when the loss needs one-hot labels (categorical, not sparse)."""
    name = loss.get("type", "") if isinstance(loss, dict) else str(loss)
    return name.replace("_", "").lower() == "categoricalcrossentropy"


def prepare(config: DataConfig, spec: DatasetSpec, splits: Splits, one_hot: bool) -> PreparedData:
    """Turn raw splits into model-ready arrays."""
    x, y, x_test, y_test = splits
    if config.limit:
        x, y = x[: config.limit], y[: config.limit]
        x_test, y_test = x_test[: config.limit], y_test[: config.limit]
    shape = input_shape_for(spec, config.flatten)
    x, x_test = x.reshape((len(x), *shape)), x_test.reshape((len(x_test), *shape))
    x_train, y_train, x_val, y_val = split_validation(config, x, y, x_test, y_test)
    x_train, (x_val, x_test), stats = normalise(config, spec, x_train, [x_val, x_test])

    def encode(labels: np.ndarray | None) -> np.ndarray | None:
        if labels is None:
            return None
        labels = labels.astype(np.int64)
        return np.eye(spec.classes, dtype=np.float32)[labels] if one_hot else labels

    return PreparedData(
        x_train,
        encode(y_train),
        x_val,
        encode(y_val),
        x_test,
        encode(y_test),
        shape,
        spec.classes,
        stats,
    )
