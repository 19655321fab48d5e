"""Check a whole variant without training: names, arguments, shapes, loss and output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuilab.data.preprocess import input_shape_for
from tuilab.data.sources import spec_for
from tuilab.model.builder import BuildError, build_model
from tuilab.model.compile import (
    check_callbacks,
    check_metric_results,
    check_metrics,
    check_monitors,
    make_loss,
    make_optimizer,
)
from tuilab.scenario.schema import VariantConfig


def check_variant(config: VariantConfig) -> tuple[Any, list[BuildError]]:
    """Build everything a variant needs; return the untrained model (or None) and the problems.

    Each part (optimizer, loss, metrics, callbacks, layers) is checked on its own, so one
    run of `tuilab validate` reports every broken part at once.
    """
    errors: list[BuildError] = []
    checks = (
        lambda: make_optimizer(config.compile.optimizer),
        lambda: make_loss(config.compile.loss),
        lambda: check_metrics(config.compile.metrics),
        lambda: check_callbacks(config.callbacks),
        lambda: _check_together(config),
    )
    for check in checks:
        try:
            check()
        except BuildError as exc:
            errors.append(exc)
    if config.data.path and not Path(config.data.path).expanduser().exists():
        errors.append(
            BuildError(
                ("data", "path"),
                f"{config.data.path} does not exist",
                "give a Keras .npz, an MNIST-style IDX folder or CIFAR-10 batches",
            )
        )
    spec = spec_for(config.data)
    try:
        model = build_model(config, input_shape_for(spec, config.data.flatten), spec.classes)
    except BuildError as exc:
        errors.append(exc)
        model = None
    metric_keys = [exc for exc in errors if exc.key[:2] == ("compile", "metrics")]
    if model is not None and not metric_keys:
        try:  # on the labels and output training gives them
            output = tuple(model.outputs[0].shape)
            compiled = config.compile
            arrays = check_metric_results(compiled.metrics, compiled.loss, output, spec.classes)
            check_monitors(config.callbacks, arrays)
        except BuildError as exc:
            errors.append(exc)
    return model, errors


__all__ = ["BuildError", "check_variant"]


def _check_together(config: VariantConfig) -> None:
    """Callbacks that need something of the optimizer (keyed at the optimizer, which variants
    usually change)."""
    optimizer = config.compile.optimizer
    spec = optimizer if isinstance(optimizer, dict) else {}
    scheduled = isinstance(spec.get("learning_rate"), dict)
    for index, callback in enumerate(config.callbacks):
        kind = callback.get("type")
        if kind == "SwapEMAWeights" and spec.get("use_ema") is not True:
            raise BuildError(
                ("compile", "optimizer"),
                f"callbacks[{index}] SwapEMAWeights needs an optimizer that keeps a moving "
                "average of the weights",
                'e.g. compile.optimizer = { type = "Adam", use_ema = true }',
            )
        if kind == "ReduceLROnPlateau" and scheduled:
            raise BuildError(
                ("compile", "optimizer", "learning_rate"),
                f"callbacks[{index}] ReduceLROnPlateau cannot change a learning rate that "
                "follows a schedule",
                "remove the callback or give learning_rate a number",
            )
