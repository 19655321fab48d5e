"""What a scenario's data looks like: shapes, value ranges before and after preprocessing,
class balance per split and a few preprocessed samples per class (`tuilab data`, the app).

Everything goes through the same `load_splits` and `prepare` that training uses, so what is
shown is what the model gets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tuilab.data.class_names import class_names
from tuilab.data.preprocess import prepare
from tuilab.data.sources import load_splits, spec_for
from tuilab.scenario.schema import DataConfig


@dataclass(frozen=True)
class ValueStats:
    """Summary of an array's values."""

    min: float
    max: float
    mean: float
    std: float

    @classmethod
    def of(cls, x: np.ndarray) -> ValueStats:
        """The statistics of all values of `x` (float64 accumulation)."""
        if x.size == 0:
            return cls(float("nan"), float("nan"), float("nan"), float("nan"))
        return cls(
            float(np.min(x)),
            float(np.max(x)),
            float(np.mean(x, dtype=np.float64)),
            float(np.std(x, dtype=np.float64)),
        )


@dataclass(frozen=True)
class SplitView:
    """One split as the model sees it: shape, dtype, values and images per class."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    values: ValueStats
    counts: tuple[int, ...]

    @property
    def size(self) -> int:
        """Number of samples."""
        return self.shape[0] if self.shape else 0


@dataclass(frozen=True)
class Sample:
    """One preprocessed training image, in the dataset's image shape (H, W, C)."""

    label: int
    name: str
    image: np.ndarray


@dataclass(frozen=True)
class DataView:
    """Everything `tuilab data` shows about one `[data]` table.

    Attributes:
        raw: The train and test arrays as loaded (after `limit`), before any preprocessing.
        splits: train, validation (when there is one) and test, after preprocessing.
        preprocessing: The steps applied, in words.
    """

    dataset: str
    classes: tuple[str, ...]
    image_shape: tuple[int, ...]
    raw: tuple[SplitView, ...]
    splits: tuple[SplitView, ...]
    preprocessing: tuple[str, ...]
    samples: tuple[Sample, ...] = field(default=())


def _counts(labels: np.ndarray, classes: int) -> tuple[int, ...]:
    return tuple(int(c) for c in np.bincount(labels.astype(np.int64), minlength=classes))


def _view(name: str, x: np.ndarray, y: np.ndarray, classes: int) -> SplitView:
    return SplitView(name, tuple(x.shape), str(x.dtype), ValueStats.of(x), _counts(y, classes))


def describe_steps(config: DataConfig, stats: dict[str, Any]) -> tuple[str, ...]:
    """The preprocessing of `config` in words, with the training statistics it used."""
    steps: list[str] = []
    if config.limit:
        steps.append(f"limit: first {config.limit} training and test images")
    if config.normalize != "none":

        def short(value: Any) -> str:
            values = np.atleast_1d(np.asarray(value, dtype=np.float64)).ravel()
            shown = ", ".join(f"{v:.4g}" for v in values[:3])
            return shown + (f", … ({values.size} values)" if values.size > 3 else "")

        shift, divide = stats.get("shift", 0.0), stats.get("divide", 1.0)
        steps.append(
            f"normalize = {config.normalize!r} ({config.stats} training statistics): "
            f"(x - {short(shift)}) / {short(divide)}"
        )
    else:
        steps.append("normalize = 'none': values as stored (cast to float32)")
    if config.flatten:
        steps.append("flatten: each image to one vector")
    return tuple(steps)


def pick_samples(
    x: np.ndarray, y: np.ndarray, names: tuple[str, ...], shape: tuple[int, ...], per_class: int
) -> tuple[Sample, ...]:
    """The first `per_class` images of each class, class by class, reshaped to `shape`."""
    samples: list[Sample] = []
    for label, name in enumerate(names):
        for index in np.flatnonzero(y == label)[:per_class]:
            samples.append(Sample(label, name, x[index].reshape(shape).copy()))  # not a view
    return tuple(samples)


def inspect_data(
    config: DataConfig, seed: int, per_class: int = 1, *, download: bool = True
) -> DataView:
    """Load `config`'s data as training would and describe it (`download`: see load_splits).

    Raises:
        DataError: the dataset cannot be found or read (the message says where it looked).
    """
    spec = spec_for(config)
    splits = load_splits(config, seed, download=download)
    x_raw, y_raw, x_test_raw, y_test_raw = splits
    if config.limit:
        x_raw, y_raw = x_raw[: config.limit], y_raw[: config.limit]
        x_test_raw, y_test_raw = x_test_raw[: config.limit], y_test_raw[: config.limit]
    names = tuple(class_names(spec.name, spec.classes))
    raw = (
        _view("train", x_raw, y_raw, spec.classes),
        _view("test", x_test_raw, y_test_raw, spec.classes),
    )
    data = prepare(config, spec, splits, one_hot=False)
    views = [_view("train", data.x_train, data.y_train, spec.classes)]
    if data.x_val is not None and data.y_val is not None:
        views.append(_view("validation", data.x_val, data.y_val, spec.classes))
    views.append(_view("test", data.x_test, data.y_test, spec.classes))
    samples = pick_samples(data.x_train, data.y_train, names, spec.image_shape, per_class)
    return DataView(
        spec.name,
        names,
        spec.image_shape,
        raw,
        tuple(views),
        describe_steps(config, data.stats),
        samples,
    )


def distinct_data(variants: dict[str, Any]) -> list[tuple[DataConfig, list[str]]]:
    """The distinct `[data]` tables of resolved variants, each with the variants that use it."""
    groups: dict[str, tuple[DataConfig, list[str]]] = {}
    for name, variant in variants.items():
        config = getattr(variant, "data", None)
        if not isinstance(config, DataConfig):
            continue
        key = config.model_dump_json()
        groups.setdefault(key, (config, []))[1].append(name)
    return list(groups.values())
