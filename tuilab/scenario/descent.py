"""The `[descent]` table of a playground scenario."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tuilab.scenario.functions import CATALOGUE
from tuilab.scenario.schema import Strict, require_type


class DescentConfig(Strict):
    """Function, start, learning rate, iterations, range, and the optimizer to use.

    `optimizer = "gd"` is plain gradient descent, x <- x - lr * dJ/dx; any other value names a
    `keras.optimizers` class (or is a `{ type = "SGD", momentum = 0.9 }` table).
    """

    function: Literal["xsin", "quadratic", "double_well", "rastrigin", "rosenbrock"] = "xsin"
    start: float | list[float] = 1.5
    learning_rate: float = Field(default=0.01, gt=0.0, le=1e6)
    iterations: int = Field(default=100, ge=1, le=100_000)
    x_range: list[float] | None = None
    optimizer: str | dict[str, Any] = "gd"
    tolerance: float = Field(default=1e-6, gt=0.0)

    @field_validator("optimizer")
    @classmethod
    def _optimizer_typed(cls, spec: str | dict[str, Any]) -> str | dict[str, Any]:
        return require_type(spec, '{ type = "SGD", momentum = 0.9 }')

    @field_validator("x_range")
    @classmethod
    def _ordered(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and (len(value) != 2 or value[0] >= value[1]):
            raise ValueError("x_range must be [low, high] with low < high")
        return value

    @model_validator(mode="after")
    def _start_matches_dims(self) -> DescentConfig:
        dims = CATALOGUE[self.function].dims
        given = 1 if isinstance(self.start, int | float) else len(self.start)
        if given != dims:
            raise ValueError(
                f"{self.function} takes a start of {dims} number(s), got {given}"
                + (" (write start = [x, y])" if dims == 2 else "")
            )
        return self

    @property
    def start_point(self) -> list[float]:
        """The start as a list, whatever its dimension."""
        return [float(self.start)] if isinstance(self.start, int | float) else list(self.start)

    @property
    def draw_range(self) -> tuple[float, float]:
        """`x_range`, or the catalogue's default."""
        return tuple(self.x_range) if self.x_range else CATALOGUE[self.function].x_range


class DescentVariant(Strict):
    """One variant of a playground scenario."""

    description: str = ""
    descent: DescentConfig = Field(default_factory=DescentConfig)
