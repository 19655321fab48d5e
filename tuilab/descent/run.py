"""Run gradient descent with gradients from `tf.GradientTape`, recording every step."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tuilab.scenario.descent import DescentConfig
from tuilab.scenario.functions import CATALOGUE


@dataclass
class DescentPath:
    """Every point visited, its value, and the step where the moves became smaller than tol."""

    points: list[list[float]] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    converged_at: int | None = None
    diverged_at: int | None = None

    @property
    def final(self) -> list[float]:
        """The last point."""
        return self.points[-1]


def make_descent_optimizer(config: DescentConfig) -> Any:
    """None for plain descent, else the Keras optimizer (raises BuildError for bad names)."""
    if config.optimizer == "gd":
        return None
    from tuilab.model.compile import make_optimizer

    spec = config.optimizer
    if isinstance(spec, dict):
        spec = {"learning_rate": config.learning_rate, **spec}
        return make_optimizer(spec)
    return make_optimizer({"type": _class_name(spec), "learning_rate": config.learning_rate})


def _class_name(name: str) -> str:
    from tuilab.model.keras_classes import class_names

    lowered = {n.lower(): n for n in class_names("optimizers")}
    return lowered.get(name.lower(), name)


def run_descent(config: DescentConfig) -> DescentPath:
    """Take `config.iterations` steps from `config.start` (float64 throughout).

    Plain descent applies x <- x - lr * grad itself; a Keras optimizer applies its own rule
    through `apply_gradients`. A non-finite value stops the path (diverged).
    """
    from tuilab.backend import import_keras

    import_keras()
    import tensorflow as tf

    function = CATALOGUE[config.function]
    start = config.start_point
    variable = tf.Variable(start if function.dims > 1 else start[0], dtype=tf.float64)
    optimizer = make_descent_optimizer(config)
    rate = tf.constant(config.learning_rate, dtype=tf.float64)

    @tf.function
    def step() -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            value = function(variable, tf.math)
        gradient = tape.gradient(value, variable)
        if optimizer is None:
            variable.assign_sub(rate * gradient)
        else:
            optimizer.apply_gradients([(gradient, variable)])
        return value, variable.read_value()

    path = DescentPath([list(start)], [])
    for index in range(config.iterations):
        value, point = step()
        path.values.append(float(value))
        point = [float(v) for v in tf.reshape(point, [-1]).numpy()]
        path.points.append(point)
        if not all(math.isfinite(v) for v in point):
            path.diverged_at = index + 1
            break
        moved = max(abs(a - b) for a, b in zip(point, path.points[-2], strict=True))
        if path.converged_at is None and moved < config.tolerance:
            path.converged_at = index + 1
    final = path.points[-1]
    value = function(tf.constant(final if function.dims > 1 else final[0], tf.float64), tf.math)
    path.values.append(float(value))
    return path
