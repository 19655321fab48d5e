"""Optimizer, loss, metrics and callbacks from their scenario specs, checked by name."""

from __future__ import annotations

from typing import Any

from tuilab.model.builder import BuildError
from tuilab.model.keras_classes import SINGULAR, KerasLookupError, instantiate, suggest

Key = tuple[str | int, ...]
QUIET_CALLBACKS = ("ReduceLROnPlateau", "EarlyStopping", "ModelCheckpoint", "BackupAndRestore")


def _from_spec(namespace: str, spec: str | dict[str, Any], key: Key) -> Any:
    from tuilab.runtime.tf_setup import import_keras

    keras = import_keras()
    if isinstance(spec, str):
        getter = getattr(keras, namespace).get
        try:
            return getter(spec)
        except (ValueError, TypeError):
            choices = _known_names(namespace)
            raise BuildError(
                key, f"unknown Keras {SINGULAR[namespace]} {spec!r}", suggest(spec, choices)
            ) from None
    try:
        return instantiate(namespace, spec)
    except KerasLookupError as exc:
        raise BuildError(
            key + ((exc.argument,) if exc.argument else ("type",)), str(exc), exc.hint
        ) from None
    except (TypeError, ValueError) as exc:
        raise BuildError(key, f"{spec['type']}: {exc}") from None


def _known_names(namespace: str) -> list[str]:
    from tuilab.runtime.tf_setup import import_keras

    module = getattr(import_keras(), namespace)
    return [n for n in dir(module) if not n.startswith("_") and n[:1].islower()]


def make_optimizer(spec: str | dict[str, Any]) -> Any:
    """A fresh optimizer instance ("adam" or `{ type = "SGD", learning_rate = 0.01 }`)."""
    return _from_spec("optimizers", spec, ("compile", "optimizer"))


def make_loss(spec: str | dict[str, Any]) -> Any:
    """A loss function or instance."""
    return _from_spec("losses", spec, ("compile", "loss"))


def check_metrics(metrics: list[str]) -> list[str]:
    """Return `metrics` after checking Keras knows each name."""
    from tuilab.runtime.tf_setup import import_keras

    keras = import_keras()
    for index, name in enumerate(metrics):
        try:
            keras.metrics.get(name)
        except (ValueError, TypeError):
            known = [
                "accuracy",
                "sparse_categorical_accuracy",
                "categorical_accuracy",
                "top_k_categorical_accuracy",
                "sparse_top_k_categorical_accuracy",
                "auc",
                "precision",
                "recall",
                "mae",
                "mse",
            ]
            raise BuildError(
                ("compile", "metrics", index),
                f"unknown Keras metric {name!r}",
                suggest(name, known) or 'e.g. "accuracy"',
            ) from None
    return list(metrics)


def make_callbacks(specs: list[dict[str, Any]]) -> list[Any]:
    """Fresh callback instances; tuilab reports their effects itself, so they stay quiet."""
    callbacks = []
    for index, spec in enumerate(specs):
        spec = dict(spec)
        if spec["type"] in QUIET_CALLBACKS:
            spec.setdefault("verbose", 0)
        callbacks.append(_from_spec("callbacks", spec, ("callbacks", index)))
    return callbacks
