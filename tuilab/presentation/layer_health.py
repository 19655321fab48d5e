"""Per-layer health from `LayerStats` events: vanishing, exploding or non-finite gradients.

Pure functions over the stored numbers (no TensorFlow), shared by the shell, the app's weights
view (its table and its layer × epoch heatmap of gradient norms) and reports.
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
HEAT_LEVELS = len(SPARK_BLOCKS)
"""Shades of the gradient heatmap, 0 (smallest norm) to HEAT_LEVELS - 1 (largest)."""
NON_FINITE = -1
"""The heatmap level of a NaN or infinite gradient norm (stored as null)."""


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


def sample_indices(count: int, width: int) -> list[int]:
    """At most `width` (at least 2) indices of `count` items, spread evenly, first and last kept."""
    if count <= width:
        return list(range(count))
    step = (count - 1) / (max(width, 2) - 1)
    return [round(i * step) for i in range(max(width, 2))]


def _positive_range(values: Iterable[float | None]) -> tuple[float, float] | None:
    """The smallest and largest finite positive value, None when there is none."""
    known = [v for v in values if _finite(v) and v > 0]  # type: ignore[operator]
    return (min(known), max(known)) if known else None  # type: ignore[type-var]


def _level(value: float | None, scale: tuple[float, float] | None, levels: int) -> int:
    """`value`'s shade 0..levels-1 on a log scale over `scale`; NON_FINITE for NaN or inf."""
    if value is None or not math.isfinite(value):
        return NON_FINITE
    if scale is None or value <= 0:
        return 0
    low, high = math.log10(scale[0]), math.log10(scale[1])
    fraction = (math.log10(value) - low) / (high - low) if high > low else 0.5
    return round(fraction * (levels - 1))


def sparkline(values: Sequence[float | None], width: int = SPARK_WIDTH) -> str:
    """Blocks on a log scale from the smallest to the largest value; `!` where non-finite."""
    values = [values[i] for i in sample_indices(len(values), width)]
    scale = _positive_range(values)
    levels = [_level(value, scale, len(SPARK_BLOCKS)) for value in values]
    return "".join("!" if level == NON_FINITE else SPARK_BLOCKS[level] for level in levels)


@dataclass(frozen=True)
class Heatmap:
    """A trial's gradient norms, layer × epoch, as shades on one log scale for the whole trial.

    `levels[i][j]` is layer `layers[i]` at epoch `epochs[j]`: 0..HEAT_LEVELS-1, NON_FINITE,
    or None where the layer was not measured at that epoch.
    """

    layers: list[str]
    epochs: list[int]
    total_epochs: int
    levels: list[list[int | None]]
    low: float | None
    high: float | None
    has_zero: bool = False
    has_non_finite: bool = False

    @property
    def sampled(self) -> bool:
        """Whether only some epochs are shown (more were measured than fit)."""
        return len(self.epochs) < self.total_epochs

    def legend(self) -> str:
        """The numeric range the shades span, e.g. `grad norm 1.2e-05 … 3.4e+00, log scale`."""
        if self.low is None or self.high is None:
            text = "grad norm: no finite value"
        else:
            text = f"grad norm {self.low:.1e} … {self.high:.1e}, log scale"
        if self.has_zero:
            text += "; 0 drawn as the smallest"
        if self.has_non_finite:
            text += "; ! non-finite"
        return text

    def epoch_note(self) -> str:
        """Which epochs the cells are (and that they are a sample when not all fit)."""
        if not self.epochs:
            return "no epochs"
        span = f"epochs {self.epochs[0]}-{self.epochs[-1]}"
        if self.sampled:
            return (
                f"{span}: {len(self.epochs)} of {self.total_epochs} shown, "
                "sampled evenly (first and last kept)"
            )
        return f"{span}, one cell each"


def gradient_heatmap(series: Sequence[LayerStats], width: int) -> Heatmap:
    """Rows: layers in model order; one cell per epoch (at most `width`, sampled evenly)."""
    layers = list(dict.fromkeys(name for event in series for name in event.layers))
    shown = [series[i] for i in sample_indices(len(series), width)]
    every = [n["gradient_norm"] for e in series for n in e.layers.values()]
    scale = _positive_range(every)
    levels: list[list[int | None]] = [
        [
            _level(e.layers[name]["gradient_norm"], scale, HEAT_LEVELS)
            if name in e.layers
            else None
            for e in shown
        ]
        for name in layers
    ]
    return Heatmap(
        layers=[clean(name) for name in layers],
        epochs=[e.epoch for e in shown],
        total_epochs=len(series),
        levels=levels,
        low=None if scale is None else scale[0],
        high=None if scale is None else scale[1],
        has_zero=any(v == 0 for v in every),
        has_non_finite=any(not _finite(v) for v in every),
    )


def norm_text(value: float | None) -> str:
    """A norm as the tables show it: 3 significant digits, `n/a` when non-finite."""
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
                weight_norm=f"{norm_text(first['weight_norm'])} → {norm_text(last['weight_norm'])}",
                gradient_norm=(
                    f"{norm_text(first['gradient_norm'])} → {norm_text(last['gradient_norm'])}"
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
