"""Build a keras.Model from a variant's layer plan; every failure names the scenario layer."""

from __future__ import annotations

import dataclasses
from typing import Any

from tuilab.model.keras_classes import KerasLookupError, instantiate
from tuilab.model.names import named_problem
from tuilab.model.plan import LayerPlan, plan_layers
from tuilab.scenario.schema import VariantConfig


class BuildError(Exception):
    """A variant cannot be built; `key` is the scenario key path at fault."""

    def __init__(self, key: tuple[str | int, ...], message: str, hint: str = "") -> None:
        super().__init__(message)
        self.key = key
        self.message = message
        self.hint = hint


_BINARY_LOSSES = {"binary_crossentropy", "binarycrossentropy", "binary_focal_crossentropy"}


def _layer_key(plan: LayerPlan) -> tuple[str | int, ...]:
    return ("model", "layers", plan.source) if not plan.added else ("model", "batchnorm")


_UNIT_INTERVAL_ARGS = {"BatchNormalization": ("momentum",), "Dropout": ("rate",)}


def _check_ranges(plan: LayerPlan) -> None:
    """Values Keras accepts silently but that cannot be meant (BatchNorm momentum 2)."""
    for name in _UNIT_INTERVAL_ARGS.get(plan.type, ()):
        value = plan.args.get(name)
        if isinstance(value, int | float) and not 0.0 <= value <= 1.0:
            raise BuildError(
                (*_layer_key(plan), name),
                f"{plan.type} {name} must be between 0 and 1, got {value}",
            )
    epsilon = plan.args.get("epsilon")
    if plan.type == "BatchNormalization" and isinstance(epsilon, int | float) and epsilon <= 0:
        raise BuildError((*_layer_key(plan), "epsilon"), f"epsilon must be positive, got {epsilon}")


def _create(plan: LayerPlan) -> Any:
    _check_ranges(plan)
    try:
        return instantiate("layers", {"type": plan.type, **plan.args})
    except KerasLookupError as exc:
        raise BuildError(_layer_key(plan) + exc.key, str(exc), exc.hint) from None
    except (TypeError, ValueError) as exc:
        raise BuildError(_layer_key(plan), f"{plan.type}: {_first_line(exc)}") from None


def check_names(plans: list[LayerPlan], backend: str) -> None:
    """Refuse a layer name Keras or the backend cannot train with (`tuilab.model.names`).

    Raises:
        BuildError: at the layer's `name`.
    """
    problem = named_problem(plans, backend)
    if problem is not None:
        index, message, hint = problem
        raise BuildError((*_layer_key(plans[index]), "name"), message, hint)


def build_model(config: VariantConfig, input_shape: tuple[int, ...], classes: int) -> Any:
    """Create the Sequential model for `config` on inputs of `input_shape`.

    Raises:
        BuildError: for an unknown layer or argument, a bad value, a shape that cannot
            work, or an output that does not match the classes and the loss.
    """
    from tuilab.backend import import_keras, requested_backend

    keras = import_keras()
    model = keras.Sequential(name="model")
    model.add(keras.Input(shape=input_shape, name="input"))
    shape: tuple[Any, ...] = (None, *input_shape)
    plans = plan_layers(config.model)
    check_names(plans, config.run.backend or requested_backend())
    if config.fit.mixed_precision:  # the final softmax stays in float32 for a stable loss
        plans[-1] = dataclasses.replace(plans[-1], args={**plans[-1].args, "dtype": "float32"})
    for plan in plans:
        layer = _create(plan)
        try:
            model.add(layer)
            shape = tuple(layer.output.shape)
        except Exception as exc:
            raise BuildError(
                _layer_key(plan),
                f"{plan.type} cannot take input of shape {shape}: {_first_line(exc)}",
                _shape_hint(plan, shape),
            ) from None
    check_output(config, model, classes)
    return model


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _shape_hint(plan: LayerPlan, shape: tuple[Any, ...]) -> str:
    if plan.type.startswith(("Conv", "MaxPooling", "AveragePooling")) and len(shape) == 2:
        return "the input is flat: set data.flatten = false for convolutions"
    if plan.type.endswith(("Pooling2D", "Conv2D")) and len(shape) == 4:
        return 'the feature map is too small here: remove a block or use padding = "same"'
    return ""


def check_output(config: VariantConfig, model: Any, classes: int) -> None:
    """The output must be one vector per sample matching the classes and the loss."""
    shape = tuple(model.outputs[0].shape)
    last = len(config.model.layers) - 1
    if len(shape) != 2:
        raise BuildError(
            ("model", "layers", last),
            f"the model's output has shape {shape}, not one vector per sample",
            "add a Flatten or GlobalAveragePooling2D before the output Dense layer",
        )
    loss = config.compile.loss
    loss_name = (loss.get("type", "") if isinstance(loss, dict) else loss).lower()
    units = shape[-1]
    if loss_name in _BINARY_LOSSES or loss_name.startswith("binary"):
        if classes != 2 or units != 1:
            raise BuildError(
                ("compile", "loss"),
                f"{loss_name} needs 2 classes and 1 output unit; the data has {classes} "
                f"classes and the output {units} units",
                "use sparse_categorical_crossentropy",
            )
    elif "crossentropy" in loss_name.replace("_", "") and units != classes:
        raise BuildError(
            ("model", "layers", last),
            f"the output layer has {units} units but the data has {classes} classes",
            f"set units = {classes}",
        )
