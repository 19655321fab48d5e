"""Draw a function and the descent paths on a plotext figure (headless and app alike)."""

from __future__ import annotations

import numpy as np

from tuilab.descent.run import DescentPath
from tuilab.scenario.descent import DescentConfig
from tuilab.scenario.functions import CATALOGUE

COLORS = ("red", "cyan", "green", "magenta", "yellow", "blue", "red+", "cyan+", "green+")


def draw_descent(
    plt: object,
    configs: dict[str, DescentConfig],
    paths: dict[str, DescentPath],
    upto: int | None = None,
    colors: dict[str, str] | None = None,
) -> None:
    """The curve (1-D) or the (x, y) plane (2-D), with every path up to step `upto`."""
    plt.clear_data()
    if not configs:
        return
    first = next(iter(configs.values()))
    function = CATALOGUE[first.function]
    low, high = first.draw_range
    plt.title(function.formula)
    colors = colors or {n: COLORS[i % len(COLORS)] for i, n in enumerate(configs)}
    if function.dims == 1:
        xs = np.linspace(low, high, 400)
        plt.plot(xs.tolist(), function(xs, np).tolist(), color="gray", marker="braille")
        plt.xlabel("x")
        plt.xlim(low, high)
    else:
        plt.xlabel("x  (y up)")
        plt.scatter([1.0], [1.0], marker="x", color="white", label="minimum")
    for name, path in paths.items():
        points = path.points[: (upto + 1) if upto is not None else None]
        if function.dims == 1:
            xs = [p[0] for p in points if low <= p[0] <= high]
            ys = [float(function(x, np)) for x in xs]
        else:
            xs, ys = [p[0] for p in points], [p[1] for p in points]
        if xs:
            plt.plot(xs, ys, color=colors.get(name, "red"), marker="dot", label=name)
