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
__all__ = ["check_callbacks", "check_metrics", "make_callbacks", "make_loss", "make_optimizer"]


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


def check_metrics(metrics: list[str]) -> list[str]:
    """Return `metrics` after checking Keras knows each name."""
    from tuilab.backend import import_keras

    keras = import_keras()
    for index, name in enumerate(metrics):
        try:
            if not _NAME.match(name):  # a plain name: never a dotted path or a config
                raise ValueError(name)
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
