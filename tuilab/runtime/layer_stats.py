"""Per-layer weight and gradient norms at epoch ends, from one fixed probe batch.

Weights are read as they are. Gradients come from one pass of the Keras backend's autodiff
(`tuilab.autodiff.loss_gradients`: a `tf.GradientTape`, `jax.grad` or `torch.autograd`) over a
batch fixed for the whole trial (the first `batch_size` training samples), with no optimizer step.
The forward pass runs with `training=False`: BatchNormalization then uses (and never updates)
its moving statistics and Dropout is off, so the probe changes nothing in the model and the
same weights always give the same numbers. It is the gradient of the inference-mode loss,
close to but not the same as a training step's where BatchNorm normalises by batch statistics.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tuilab.autodiff import loss_gradients, to_numpy
from tuilab.runtime.layer_events import LayerNorms, LayerStats


def _norm(values: list[Any]) -> float:
    total = sum(float(np.sum(np.square(np.asarray(v, dtype=np.float64)))) for v in values)
    return math.sqrt(total) if math.isfinite(total) else math.nan


class LayerProbe:
    """Measures a model's trainable layers on a fixed batch `x`, `y` (copied once)."""

    def __init__(self, x: Any, y: Any) -> None:
        self.x = np.array(x)
        self.y = np.array(y)
        self.failure: str | None = None

    @classmethod
    def first_batch(cls, x: Any, y: Any, size: int) -> LayerProbe | None:
        """A probe on the first `size` samples; None without samples or labels."""
        if x is None or y is None or len(x) == 0:
            return None
        return cls(x[:size], y[:size])

    def norms(self, model: Any) -> dict[str, LayerNorms]:
        """Each trainable layer's weight norm, gradient norm and trainable parameter count."""
        layers = [layer for layer in model.layers if layer.trainable_weights]
        if not layers:
            return {}
        variables = [list(layer.trainable_weights) for layer in layers]
        _, gradients = loss_gradients(model, self.x, self.y, variables)
        result: dict[str, LayerNorms] = {}
        for layer, weights, grads in zip(layers, variables, gradients, strict=True):
            present = [g for g in grads if g is not None]
            result[layer.name] = LayerNorms(
                weight_norm=_norm([to_numpy(w) for w in weights]),
                gradient_norm=_norm(present) if present else math.nan,
                weights=int(sum(int(np.prod(w.shape)) for w in weights)),
            )
        return result

    def measure(self, trial: str, epoch: int, model: Any) -> LayerStats | None:
        """The event for `epoch`, or None when the model has no trainable layers.

        Instrumentation never fails a trial: a probe that raises once (a loss it cannot
        differentiate, say) keeps the reason in `failure` and measures nothing more.
        """
        if self.failure is not None:
            return None
        try:
            layers = self.norms(model)
        except Exception as exc:
            self.failure = f"{type(exc).__name__}: {exc}"
            return None
        return LayerStats(trial, epoch, layers) if layers else None
