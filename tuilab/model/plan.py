"""The layer plan: the scenario's layer list with BatchNormalization placed (pure Python)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tuilab.scenario.schema import BatchNormPlacement, ModelConfig

WEIGHTED_TYPES = frozenset(
    {
        "Dense",
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "SeparableConv1D",
        "SeparableConv2D",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "Conv1DTranspose",
        "Conv2DTranspose",
    }
)
ACTIVATION_TYPES = frozenset(
    {"Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax", "ThresholdedReLU"}
)


@dataclass(frozen=True)
class LayerPlan:
    """One Keras layer to create.

    Attributes:
        source: Index in the scenario's `model.layers` it comes from.
        added: Why tuilab added it ("batchnorm", "activation"), empty for the user's own layers.
    """

    type: str
    args: dict[str, Any] = field(default_factory=dict)
    source: int = 0
    added: str = ""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", name).lower().replace("re_lu", "relu")


def _batchnorm_for(
    layer: dict[str, Any], default: BatchNormPlacement | None, is_output: bool
) -> BatchNormPlacement | None:
    own = layer.get("batchnorm")
    if own is False:
        return None
    if isinstance(own, dict):
        return BatchNormPlacement.model_validate(own)
    if own is True:
        return default or BatchNormPlacement()
    if layer["type"] not in WEIGHTED_TYPES or is_output:
        return None
    return default


def plan_layers(config: ModelConfig) -> list[LayerPlan]:
    """Expand `model.layers` and `model.batchnorm` into the Keras layers to build, in order."""
    layers = config.layers
    default = config.batchnorm or None
    weighted = [i for i, layer in enumerate(layers) if layer["type"] in WEIGHTED_TYPES]
    output_index = weighted[-1] if weighted else -1
    plans: list[LayerPlan] = []
    pending_after: dict[int, BatchNormPlacement] = {}
    for index, layer in enumerate(layers):
        args = {k: v for k, v in layer.items() if k not in ("type", "batchnorm")}
        placement = _batchnorm_for(layer, default, index == output_index)
        next_is_activation = (
            index + 1 < len(layers) and layers[index + 1]["type"] in ACTIVATION_TYPES
        )
        activation = args.get("activation")
        if placement and placement.position == "before" and activation not in (None, "linear"):
            plans.append(LayerPlan(layer["type"], {**args, "activation": None}, index))
            plans.append(LayerPlan("BatchNormalization", placement.layer_args, index, "batchnorm"))
            plans.append(LayerPlan("Activation", {"activation": activation}, index, "activation"))
        elif placement and (placement.position == "before" or not next_is_activation):
            plans.append(LayerPlan(layer["type"], args, index))
            plans.append(LayerPlan("BatchNormalization", placement.layer_args, index, "batchnorm"))
        else:
            plans.append(LayerPlan(layer["type"], args, index))
            if placement:  # "after", with an activation layer next: BN goes after that one
                pending_after[index + 1] = placement
        if index in pending_after:
            plans.append(
                LayerPlan(
                    "BatchNormalization", pending_after.pop(index).layer_args, index, "batchnorm"
                )
            )
    return _named(plans)


def _named(plans: list[LayerPlan]) -> list[LayerPlan]:
    """Give every layer a deterministic Keras-style name (dense, dense_1, ...) unless named;
    a name the scenario gave a layer is skipped (Keras needs each name once)."""
    taken = {plan.args["name"] for plan in plans if isinstance(plan.args.get("name"), str)}
    counts: dict[str, int] = {}
    named = []
    for plan in plans:
        if "name" in plan.args:
            named.append(plan)
            continue
        base = _snake(plan.type)
        name = ""
        while not name or name in taken:
            count = counts.get(base, 0)
            counts[base] = count + 1
            name = base if count == 0 else f"{base}_{count}"
        named.append(LayerPlan(plan.type, {**plan.args, "name": name}, plan.source, plan.added))
    return named
