"""Run gradient descent with gradients from the Keras backend, recording every step."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tuilab import autodiff
from tuilab.backend import import_keras
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
    through `apply_gradients`. A non-finite value stops the path (diverged). Gradients come
    from the running Keras backend (`tuilab.autodiff`).
    """
    with autodiff.float64_scope():
        return _descend(config)


def _descend(config: DescentConfig) -> DescentPath:
    keras = import_keras()
    function = CATALOGUE[config.function]
    start = config.start_point
    variable = keras.Variable(start if function.dims > 1 else start[0], dtype="float64")
    optimizer = make_descent_optimizer(config)
    rate = keras.ops.convert_to_tensor(config.learning_rate, dtype="float64")

    def step() -> tuple[Any, Any]:
        value, gradient = autodiff.value_and_grad(function, variable)
        if optimizer is None:
            variable.assign_sub(rate * gradient)
        else:
            optimizer.apply_gradients([(gradient, variable)])
        return value, variable.value

    step = autodiff.compiled(step)
    path = DescentPath([list(start)], [])
    for index in range(config.iterations):
        value, point = step()
        path.values.append(float(autodiff.to_numpy(value)))
        point = [float(v) for v in autodiff.to_numpy(point).ravel()]
        path.points.append(point)
        if not all(math.isfinite(v) for v in point):
            path.diverged_at = index + 1
            break
        moved = max(abs(a - b) for a, b in zip(point, path.points[-2], strict=True))
        if path.converged_at is None and moved < config.tolerance:
            path.converged_at = index + 1
    final = path.points[-1]
    path.values.append(autodiff.evaluate(function, final if function.dims > 1 else final[0]))
    return path
