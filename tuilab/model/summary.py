"""Keras-style layer summary and BatchNormalization variables, as plain data."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")


@dataclass(frozen=True)
class LayerRow:
    """One row of the summary table."""

    name: str
    type: str
    output_shape: tuple[int | None, ...]
    params: int
    trainable: int


@dataclass(frozen=True)
class ModelSummary:
    """A model's layer table and parameter totals."""

    rows: list[LayerRow] = field(default_factory=list)
    total: int = 0
    trainable: int = 0
    non_trainable: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (shapes as lists)."""
        data = asdict(self)
        for row in data["rows"]:
            row["output_shape"] = list(row["output_shape"])
        return data

    @classmethod
    def from_dict(cls, data: Any) -> ModelSummary:
        """Inverse of `to_dict`, checking every field (a stored run is untrusted).

        Raises:
            ValueError: `data` is not a summary.
        """
        doc = _SummaryDoc.model_validate(data)
        rows = [
            LayerRow(r.name, r.type, tuple(r.output_shape), r.params, r.trainable) for r in doc.rows
        ]
        return cls(rows, doc.total, doc.trainable, doc.non_trainable)


class _RowDoc(BaseModel):
    model_config = ConfigDict(strict=True)
    name: str
    type: str
    output_shape: list[int | None]
    params: int
    trainable: int


class _SummaryDoc(BaseModel):
    model_config = ConfigDict(strict=True)
    rows: list[_RowDoc] = []
    total: int = 0
    trainable: int = 0
    non_trainable: int = 0


def _count(weights: list[Any]) -> int:
    return int(sum(np.prod(w.shape) for w in weights))


def _output_shape(layer: Any) -> tuple[int | None, ...]:
    """A layer's output shape; `()` when it has none (a layer of a subclassed model, never
    called on symbolic inputs, or a layer with several outputs)."""
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):
        return ()
    return tuple(None if d is None else int(d) for d in shape)


def summarize(model: Any) -> ModelSummary:
    """The Keras summary of a built model (Sequential, Functional or subclassed: the layers a
    subclassed model tracks, their output shapes unknown); totals equal `model.summary()`'s."""
    rows = []
    for layer in model.layers:
        rows.append(
            LayerRow(
                layer.name,
                type(layer).__name__,
                _output_shape(layer),
                int(layer.count_params()) if layer.built else 0,
                _count(layer.trainable_weights),
            )
        )
    trainable = _count(model.trainable_weights)
    non_trainable = _count(model.non_trainable_weights)
    return ModelSummary(rows, trainable + non_trainable, trainable, non_trainable)


def batchnorm_state(model: Any) -> dict[str, dict[str, list[float]]]:
    """Per BatchNormalization layer: gamma, beta, moving_mean, moving_variance (copied)."""
    state: dict[str, dict[str, list[float]]] = {}
    for layer in model.layers:
        if type(layer).__name__ != "BatchNormalization":
            continue
        values: dict[str, list[float]] = {}
        for variable in layer.weights:
            short = variable.name.split("/")[-1].split(":")[0]
            if short in BN_VARIABLES:
                values[short] = np.asarray(variable.numpy(), dtype=np.float64).ravel().tolist()
        state[layer.name] = values
    return state
