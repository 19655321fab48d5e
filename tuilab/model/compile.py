"""Optimizer, loss, metrics and callbacks from their scenario specs, checked by name."""

from __future__ import annotations

import re
from typing import Any

from tuilab.model.builder import BuildError
from tuilab.model.callbacks import check_callbacks, make_callbacks
from tuilab.model.keras_classes import (
    SINGULAR,
    KerasLookupError,
    class_names,
    instantiate,
    keras_class,
    suggest,
)

Key = tuple[str | int, ...]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
__all__ = [
    "check_callbacks",
    "check_metric_results",
    "check_metrics",
    "check_monitors",
    "make_callbacks",
    "make_loss",
    "make_optimizer",
]


def _from_spec(namespace: str, spec: str | dict[str, Any], key: Key) -> Any:
    if isinstance(spec, str):
        return _from_name(namespace, spec, key)
    try:
        return instantiate(namespace, spec)
    except KerasLookupError as exc:
        raise BuildError(key + (exc.key or ("type",)), str(exc), exc.hint) from None
    except (TypeError, ValueError) as exc:
        raise BuildError(key, f"{spec['type']}: {_first_line(exc)}") from None


def _from_name(namespace: str, name: str, key: Key) -> Any:
    """`keras.<namespace>.get(name)` for a plain name of an allowed class or function."""
    from tuilab.backend import import_keras

    unknown = BuildError(
        key,
        f"unknown Keras {SINGULAR[namespace]} {name!r}",
        suggest(name, _known_names(namespace)),
    )
    if not _NAME.match(name):
        raise unknown
    lowered = {n.lower(): n for n in class_names(namespace)}
    if name.lower() in lowered:  # "lossscaleoptimizer": refused before Keras builds it
        try:
            keras_class(namespace, lowered[name.lower()])
        except KerasLookupError as exc:
            raise BuildError(key, str(exc), exc.hint) from None
    try:
        found = getattr(import_keras(), namespace).get(name)
    except (ValueError, TypeError, KeyError):
        raise unknown from None
    if type(found).__name__ in class_names(namespace):
        try:
            keras_class(namespace, type(found).__name__)
        except KerasLookupError as exc:
            raise BuildError(key, str(exc), exc.hint) from None
    return found


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _known_names(namespace: str) -> list[str]:
    from tuilab.backend import import_keras
    from tuilab.model.allowlist import refusal

    module = getattr(import_keras(), namespace)
    lowered = {n.lower(): n for n in class_names(namespace)}
    return [
        n
        for n in dir(module)
        if not n.startswith("_")
        and n[:1].islower()
        and n not in ("get", "serialize", "deserialize", "schedules", "legacy")
        and (n not in lowered or refusal(namespace, lowered[n]) is None)
    ]


def make_optimizer(spec: str | dict[str, Any]) -> Any:
    """A fresh optimizer instance ("adam" or `{ type = "SGD", learning_rate = 0.01 }`).

    `learning_rate` may be a schedule table such as `{ type = "ExponentialDecay",
    initial_learning_rate = 0.1, decay_steps = 100, decay_rate = 0.9 }`.
    """
    return _from_spec("optimizers", spec, ("compile", "optimizer"))


def make_loss(spec: str | dict[str, Any]) -> Any:
    """A loss function or instance."""
    return _from_spec("losses", spec, ("compile", "loss"))


_KNOWN_METRICS = [
    "accuracy",
    "sparse_categorical_accuracy",
    "categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "auc",
    "precision",
    "recall",
    "f1_score",
    "mae",
    "mse",
]


def check_metrics(metrics: list[str | dict[str, Any]]) -> list[Any]:
    """The metrics to compile with: a name Keras knows, or a fresh instance of a
    `{ type = "F1Score", average = "macro" }` table (checked as every Keras class is)."""
    from tuilab.backend import import_keras

    keras = import_keras()
    checked: list[Any] = []
    for index, spec in enumerate(metrics):
        key: Key = ("compile", "metrics", index)
        if isinstance(spec, dict):
            checked.append(_from_spec("metrics", spec, key))
            continue
        try:
            if not isinstance(spec, str) or not _NAME.match(spec):  # never a path or a config
                raise ValueError(spec)
            keras.metrics.get(spec)
        except (ValueError, TypeError):
            raise BuildError(
                key,
                f"unknown Keras metric {spec!r}",
                suggest(str(spec), _KNOWN_METRICS) or 'e.g. "accuracy"',
            ) from None
        checked.append(spec)
    return checked


def check_metric_results(
    metrics: list[str | dict[str, Any]],
    loss: str | dict[str, Any],
    output_shape: tuple[int | None, ...],
    classes: int,
) -> list[str]:
    """Each metric must update and give a number (or an array of numbers) on a batch shaped as
    training gives it: the labels the loss asks for (class indices, or one-hot rows for
    categorical_crossentropy) and predictions of the model's output shape.

    Keras itself is asked, through `compute_metrics` of a throwaway model compiled with the
    metric alone (no tracing: this is cheap); what fails here fails every trial's first batch.

    Returns:
        The names of the results that are arrays (`f1_score` of an F1Score per class).

    Raises:
        BuildError: at the first metric Keras cannot update or whose result is not numbers.
    """
    from tuilab.data.preprocess import wants_one_hot

    one_hot = wants_one_hot(loss)
    arrays: list[str] = []
    for index, spec in enumerate(metrics):
        problem, vectors = _metric_problem(spec, output_shape, classes, one_hot)
        arrays += vectors
        if problem is None:
            continue
        hint = ""
        if _metric_problem(spec, output_shape, classes, not one_hot)[0] is None:
            hint = (
                'this metric needs one-hot labels: set compile.loss = "categorical_crossentropy"'
                " (tuilab then one-hot encodes the labels)"
                if not one_hot
                else 'this metric needs class indices: use "sparse_categorical_crossentropy"'
            )
        name = spec.get("type") if isinstance(spec, dict) else spec
        raise BuildError(("compile", "metrics", index), f"{name}: {problem}", hint)
    return arrays


def check_monitors(callbacks: list[dict[str, Any]], arrays: list[str]) -> None:
    """A callback's `monitor` needs one number: not a metric whose result is an array (Keras's
    EarlyStopping would fail comparing it at the first epoch's end).

    Raises:
        BuildError: at the first such `monitor`.
    """
    for index, callback in enumerate(callbacks):
        monitor = callback.get("monitor")
        if isinstance(monitor, str) and monitor.removeprefix("val_") in arrays:
            raise BuildError(
                ("callbacks", index, "monitor"),
                f"{callback.get('type')} monitors {monitor!r}, an array (one value per class "
                "or threshold); it needs one number",
                'give the metric average = "macro" (F1Score, FBetaScore), or monitor another',
            )


_metric_problems: dict[str, tuple[str | None, tuple[str, ...]]] = {}
"""What `_metric_problem` found, by its arguments (a sweep checks the same metric often)."""


def _metric_problem(
    spec: str | dict[str, Any],
    output_shape: tuple[int | None, ...],
    classes: int,
    one_hot: bool,
) -> tuple[str | None, tuple[str, ...]]:
    import json

    cache_key = json.dumps([spec, list(output_shape), classes, one_hot], default=str)
    if cache_key not in _metric_problems:
        _metric_problems[cache_key] = _probe_metric(spec, output_shape, classes, one_hot)
    return _metric_problems[cache_key]


def _probe_metric(
    spec: str | dict[str, Any],
    output_shape: tuple[int | None, ...],
    classes: int,
    one_hot: bool,
) -> tuple[str | None, tuple[str, ...]]:
    """Why Keras cannot update the metric on such a batch (None if it can), and the names of
    its results that are arrays."""
    import numpy as np

    from tuilab.backend import import_keras

    keras = import_keras()
    batch, units = 4, tuple(int(d or 1) for d in output_shape[1:])
    labels = np.arange(batch, dtype=np.int64) % max(classes, 1)
    y_true = np.eye(classes, dtype=np.float32)[labels] if one_hot else labels
    rng = np.random.default_rng(0)
    y_pred = rng.uniform(0.05, 0.95, size=(batch, *units)).astype(np.float32)
    if units and units[-1] > 1:
        y_pred /= y_pred.sum(axis=-1, keepdims=True)
    arrays = []
    try:
        (metric,) = check_metrics([spec])
        probe = keras.Sequential([keras.Input(units), keras.layers.Identity()], name="probe")
        probe.compile(loss=None, metrics=[metric])
        results = probe.compute_metrics(None, y_true, y_pred, None)
        for name, value in results.items():
            if np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64).ndim:
                arrays.append(name)
    except BuildError:
        return None, ()  # reported by check_metrics
    except Exception as exc:
        return _keras_words(exc), ()
    return None, tuple(arrays)


def _keras_words(exc: Exception) -> str:
    """The first line of a Keras error, without TensorFlow's node and op decorations."""
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", _first_line(exc))
    return re.sub(r"\s*\[Op:[^\]]*\].*$", "", text).strip() or type(exc).__name__
