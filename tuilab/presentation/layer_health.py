"""Per-layer health from `LayerStats` events: vanishing, exploding or non-finite gradients.

Pure functions over the stored numbers (no TensorFlow), shared by the shell and reports.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tuilab.presentation.columns import Column
from tuilab.presentation.text import clean
from tuilab.runtime.events import Event
from tuilab.runtime.layer_events import LayerNorms, LayerStats

VANISHING_RATIO = 1e-7
"""A gradient norm below this fraction of the layer's weight norm is vanishing: a step at a
usual learning rate (1e-3 to 1e-1) then moves the weights by less than float32 resolves
(about 6e-8 relative), so the layer has stopped learning."""
EXPLODING_RATIO = 1e3
"""A gradient norm above this multiple of the weight norm is exploding: one step at a learning
rate of 1e-3 already changes the weights by their whole size."""
COLLAPSE_FACTOR = 1e-4
"""A last gradient norm below this fraction of the layer's largest earlier one has collapsed
(vanishing over epochs); ordinary convergence shrinks gradients far less than 10,000 times."""
COLLAPSE_MIN_EPOCHS = 3
"""Collapse is judged only over at least this many measurements."""
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 16
"""The most epochs a sparkline shows (longer runs are sampled evenly, last epoch kept)."""


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def layer_series(events: Iterable[Event]) -> dict[str, list[LayerStats]]:
    """Each trial's `LayerStats` in epoch order (a re-sent epoch replaces the earlier one)."""
    by_trial: dict[str, dict[int, LayerStats]] = {}
    for event in events:
        if isinstance(event, LayerStats):
            by_trial.setdefault(event.trial, {})[event.epoch] = event
    return {trial: [e[k] for k in sorted(e)] for trial, e in by_trial.items()}


def layer_flags(norms: Sequence[LayerNorms]) -> list[str]:
    """The flags of one layer's norms over epochs: `non-finite`, `vanishing`, `exploding`."""
    if not norms:
        return []
    if any(not _finite(n["weight_norm"]) or not _finite(n["gradient_norm"]) for n in norms):
        return ["non-finite"]
    flags = []
    last = norms[-1]
    weight, gradient = float(last["weight_norm"] or 0.0), float(last["gradient_norm"] or 0.0)
    peak = max(float(n["gradient_norm"] or 0.0) for n in norms)
    collapsed = len(norms) >= COLLAPSE_MIN_EPOCHS and gradient < COLLAPSE_FACTOR * peak
    if gradient < VANISHING_RATIO * weight or collapsed:
        flags.append("vanishing")
    if gradient > EXPLODING_RATIO * weight and weight > 0.0:
        flags.append("exploding")
    return flags


def health(series: Sequence[LayerStats]) -> dict[str, list[str]]:
    """Every layer's flags over a trial's `LayerStats` (layers in model order)."""
    layers = list(dict.fromkeys(name for event in series for name in event.layers))
    return {
        name: layer_flags([e.layers[name] for e in series if name in e.layers]) for name in layers
    }


def sparkline(values: Sequence[float | None], width: int = SPARK_WIDTH) -> str:
    """Blocks on a log scale from the smallest to the largest value; `!` where non-finite."""
    if len(values) > width:
        step = (len(values) - 1) / (width - 1)
        values = [values[round(i * step)] for i in range(width)]
    logs = [math.log10(v) if _finite(v) and v > 0 else None for v in values]  # type: ignore[operator]
    known = [v for v in logs if v is not None]
    low, high = (min(known), max(known)) if known else (0.0, 0.0)
    top = len(SPARK_BLOCKS) - 1
    out = []
    for value, log in zip(values, logs, strict=True):
        if not _finite(value):
            out.append("!")
        elif log is None:
            out.append(SPARK_BLOCKS[0])
        else:
            fraction = (log - low) / (high - low) if high > low else 0.5
            out.append(SPARK_BLOCKS[round(fraction * top)])
    return "".join(out)


def _number(value: float | None) -> str:
    return f"{value:.3g}" if _finite(value) else "n/a"


@dataclass(frozen=True)
class LayerHealthRow:
    """One layer of a trial: norms first → last, the gradient's course and its flags."""

    layer: str
    weights: int
    weight_norm: str
    gradient_norm: str
    course: str
    flags: str


def health_rows(series: Sequence[LayerStats]) -> list[LayerHealthRow]:
    """One row per trainable layer, in model order."""
    flags = health(series)
    rows = []
    for name, layer_flags_ in flags.items():
        norms = [e.layers[name] for e in series if name in e.layers]
        first, last = norms[0], norms[-1]
        rows.append(
            LayerHealthRow(
                layer=clean(name),
                weights=int(last["weights"]),
                weight_norm=f"{_number(first['weight_norm'])} → {_number(last['weight_norm'])}",
                gradient_norm=(
                    f"{_number(first['gradient_norm'])} → {_number(last['gradient_norm'])}"
                ),
                course=sparkline([n["gradient_norm"] for n in norms]),
                flags=", ".join(layer_flags_) or "ok",
            )
        )
    return rows


def _text_column(key: str, header: str, priority: int, fold: bool = False) -> Column:
    return Column(
        key,
        header,
        lambda r: str(getattr(r, key)),
        lambda r: (0, str(getattr(r, key))),
        priority,
        numeric=False,
        fold=fold,
    )


LAYER_HEALTH_COLUMNS: list[Column[LayerHealthRow]] = [
    _text_column("layer", "Layer", 0, fold=True),
    Column("weights", "Params", lambda r: f"{r.weights:,}", lambda r: (0, r.weights), 4),
    _text_column("weight_norm", "Weight norm", 2),
    _text_column("gradient_norm", "Grad norm", 1),
    _text_column("course", "Grad trend", 3),
    _text_column("flags", "Flags", 0),
]
"""Flags and gradient norms stay longest; the sparkline and the parameter count go first."""
LAYER_HEALTH_NOTE = "norms: first → last epoch; grad trend: per epoch, log scale"
"""The caption under a layer table."""
