"""Axis ticks for the curve charts: whole epochs on x, round numbers (or even log steps) on y.

plotext picks fractional ticks of its own (`0.5` epochs, `0.993`); the charts set every tick
they draw from here, so two draws on one figure never differ by what the first one left.
"""

from __future__ import annotations

import itertools
import math

from tuilab.presentation.numbers import format_value


def epoch_ticks(first: float, last: float, count: int) -> list[int]:
    """At most `count` whole epochs from `first` to `last`, 1, 2 or 5 times a power of ten apart."""
    low, high = math.ceil(first), math.floor(last)
    if high < low:
        return [round(first)]
    step = 1
    while (high - low) // step + 1 > count:
        step = step * 5 // 2 if str(step)[0] == "2" else step * 2
    ticks = list(range(-(-low // step) * step, high + 1, step))
    if not ticks or ticks[0] - low > step / 2:
        ticks.insert(0, low)
    return ticks


def linear_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """At most `count` round ticks from `low` to `high` (1, 2, 2.5 or 5 times a power of ten
    apart), as many as fit."""
    span = high - low
    if span <= 1e-12 * max(1.0, abs(high)):
        return [low]
    power = 10 ** (math.floor(math.log10(span / count)) - 1)
    while True:
        for step in (power * m for m in (1, 2, 2.5, 5)):
            first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
            if last - first + 1 <= count:
                ticks = [round(k * step, 12) for k in range(first, last + 1)]
                return ticks if len(ticks) > 1 else [low, high]
        power *= 10


def tick_labels(ticks: list[float]) -> list[str]:
    """The ticks in the fewest significant digits that tell them apart, whole numbers in full."""
    step = min((b - a for a, b in itertools.pairwise(ticks)), default=0.0)
    for digits in range(1, 12) if step else ():
        labels = [f"{t:.0f}" if abs(t) >= 10**digits else f"{t:.{digits}g}" for t in ticks]
        if all(abs(float(x) - t) < step * 1e-3 for x, t in zip(labels, ticks, strict=True)):
            return labels
    return [format_value(t) for t in ticks]


def log_ticks(values: list[float], count: int = 5) -> list[float]:
    """Evenly spaced tick positions over log10 values (at least two)."""
    low, high = min(values), max(values)
    if high - low < 1e-12:
        return [low]
    step = (high - low) / (count - 1)
    return [low + step * index for index in range(count)]
