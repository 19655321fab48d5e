"""The per-layer weight and gradient norm event (kept apart: events.py is near its size limit).

`events.py` imports this module at its end, so `EVENT_TYPES` always holds `LayerStats`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from typing_extensions import TypedDict

from tuilab.runtime.events import EVENT_TYPES, Event


class LayerNorms(TypedDict):
    """One layer at one epoch: L2 norms over all its trainable variables, and their size."""

    weight_norm: float | None
    gradient_norm: float | None
    weights: int


@dataclass(frozen=True)
class LayerStats(Event):
    """Every trainable layer's weight and gradient norm at an epoch end (epoch 0: before fit).

    Gradients come from one fixed batch of the training data (`runtime.layer_stats`);
    a non-finite norm is written as null.
    """

    kind: ClassVar[str] = "layer_stats"
    trial: str
    epoch: int
    layers: dict[str, LayerNorms]


EVENT_TYPES[LayerStats.kind] = LayerStats
