"""A named catalogue of functions to descend. No expressions are parsed: nothing can execute.

Each function is written once against a math module (anything with `sin` and `cos`), so the
same code serves numpy (for drawing) and the Keras backend's own math for gradients: `tf.math`,
`jax.numpy` or `torch` (`tuilab.autodiff.math_module`; not `keras.ops`, which computes float64
in float32 on jax).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Function:
    """One catalogue entry.

    Attributes:
        formula: How the function is shown to users.
        dims: 1 for J(x), 2 for J(x, y).
        x_range: The default range to draw.
        minimum: Where the global minimum is, for reference.
    """

    name: str
    formula: str
    dims: int
    x_range: tuple[float, float]
    minimum: str
    body: Callable[[Any, Any], Any]

    def __call__(self, point: Any, math: Any) -> Any:
        """J at `point` (a scalar, or a length-2 vector for 2-D functions), computed with the
        math module `math` (numpy, tf.math, jax.numpy or torch)."""
        return self.body(point, math)


def _xsin(x: Any, m: Any) -> Any:
    return x * m.sin(x**2)


def _quadratic(x: Any, m: Any) -> Any:
    return (x - 1.0) ** 2


def _double_well(x: Any, m: Any) -> Any:
    return (x**2 - 1.0) ** 2 + 0.3 * x


def _rastrigin(x: Any, m: Any) -> Any:
    return 10.0 + x**2 - 10.0 * m.cos(2.0 * 3.141592653589793 * x)


def _rosenbrock(p: Any, m: Any) -> Any:
    return (1.0 - p[0]) ** 2 + 100.0 * (p[1] - p[0] ** 2) ** 2


CATALOGUE: dict[str, Function] = {
    f.name: f
    for f in (
        Function("xsin", "J(x) = x·sin(x²)", 1, (-3.0, 3.0), "many local minima", _xsin),
        Function("quadratic", "J(x) = (x − 1)²", 1, (-2.0, 4.0), "x = 1", _quadratic),
        Function(
            "double_well", "J(x) = (x² − 1)² + 0.3x", 1, (-2.0, 2.0), "x ≈ −1.04", _double_well
        ),
        Function(
            "rastrigin", "J(x) = 10 + x² − 10·cos(2πx)", 1, (-5.12, 5.12), "x = 0", _rastrigin
        ),
        Function(
            "rosenbrock",
            "J(x, y) = (1 − x)² + 100(y − x²)²",
            2,
            (-2.0, 2.0),
            "(x, y) = (1, 1)",
            _rosenbrock,
        ),
    )
}
