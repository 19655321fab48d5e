"""The fixed keys of `[sweep]` and the distributions a random sweep draws from.

`{ uniform = [a, b] }`, `{ log_uniform = [a, b] }` (its logarithm uniform; a, b > 0),
`{ int_uniform = [a, b] }` (both ends included, within int64) and `{ choice = [...] }`. Every
range is ordered (a <= b) and finite, a `uniform` one finite in width too (b - a: numpy draws
`a + (b - a) * u`), so a draw never overflows (bounds: `bounds.py`). Floats are rounded to
`RANDOM_DIGITS` significant digits (and kept within the bounds), so that a trial's name shows
its values exactly.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from tuilab.scenario.bounds import INT64_MAX, INT64_MIN, MAX_TRIALS, finite_width
from tuilab.scenario.schema import Strict

MAX_VALUES = 1000
"""Values of one key (a grid list or a choice)."""
RANDOM_DIGITS = 3
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")


class SweepSettings(Strict):
    """`method`, `samples` and `seed` of `[sweep]`."""

    method: Literal["grid", "random"] = "grid"
    samples: int | None = Field(default=None, ge=1, le=MAX_TRIALS)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)

    @model_validator(mode="after")
    def _samples_for_random(self) -> SweepSettings:
        if self.method == "random" and self.samples is None:
            raise ValueError('method = "random" needs samples = N, the combinations to draw')
        if self.method == "grid" and (self.samples is not None or self.seed is not None):
            raise ValueError('samples and seed are for method = "random"; a grid takes them all')
        return self


def _bounds(values: list[float], name: str, positive: bool = False) -> None:
    low, high = values
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} takes finite numbers")
    if positive and low <= 0:
        raise ValueError(f"{name} takes positive numbers (its logarithm is drawn uniformly)")
    if low > high:
        raise ValueError(f"{name} takes [low, high] with low <= high")
    if not positive and not finite_width(low, high):
        raise ValueError(
            f"{name} takes a range whose width (high - low) is a finite number, "
            f"got a width of {high - low}"
        )


class Uniform(Strict):
    """`{ uniform = [low, high] }`: a float drawn uniformly."""

    uniform: list[float] = Field(min_length=2, max_length=2)

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        _bounds(self.uniform, "uniform")
        return self


class LogUniform(Strict):
    """`{ log_uniform = [low, high] }`: a float whose logarithm is drawn uniformly."""

    log_uniform: list[float] = Field(min_length=2, max_length=2)

    @model_validator(mode="after")
    def _ordered(self) -> LogUniform:
        _bounds(self.log_uniform, "log_uniform", positive=True)
        return self


class IntUniform(Strict):
    """`{ int_uniform = [low, high] }`: an integer from low to high, both included."""

    int_uniform: list[int] = Field(min_length=2, max_length=2)

    @model_validator(mode="after")
    def _ordered(self) -> IntUniform:
        low, high = self.int_uniform
        if not (INT64_MIN <= low <= INT64_MAX and INT64_MIN <= high <= INT64_MAX):
            raise ValueError(
                f"int_uniform takes integers from {INT64_MIN:,} to {INT64_MAX:,} (int64)"
            )
        if low > high:
            raise ValueError("int_uniform takes [low, high] with low <= high")
        return self


class Choice(Strict):
    """`{ choice = [a, b, ...] }`: one of the values."""

    choice: list[Any] = Field(min_length=1, max_length=MAX_VALUES)


Law = Uniform | LogUniform | IntUniform | Choice
_MODELS: dict[str, type[BaseModel]] = {
    "uniform": Uniform,
    "log_uniform": LogUniform,
    "int_uniform": IntUniform,
    "choice": Choice,
}


def is_law(value: Any) -> bool:
    """Whether a `[sweep]` value is a distribution table (rather than a table of keys)."""
    return isinstance(value, dict) and any(name in value for name in DISTRIBUTIONS)


def law_model(table: dict[str, Any]) -> type[BaseModel]:
    """The model of a distribution table, by the first distribution name written in it."""
    return _MODELS[next(name for name in table if name in DISTRIBUTIONS)]


def read_law(table: dict[str, Any]) -> Law | None:
    """The distribution, or None when the table is not a valid one (`law_model` says why)."""
    try:
        return law_model(table).model_validate(table)  # type: ignore[return-value]
    except ValidationError:
        return None


def law_name(law: Law) -> str:
    """`log_uniform`, `choice`..."""
    return next(iter(type(law).model_fields))


def draw(values: list[Any] | None, law: Law | None, rng: Any) -> Any:
    """One value: from a list (as a choice) or a distribution, with a numpy Generator."""
    if isinstance(law, Choice):
        values = law.choice
    if values is not None:
        return copy.deepcopy(values[int(rng.integers(len(values)))])
    if isinstance(law, IntUniform):
        return int(rng.integers(law.int_uniform[0], law.int_uniform[1], endpoint=True))
    if isinstance(law, LogUniform):
        low, high = law.log_uniform
        exponent = float(rng.uniform(math.log(low), math.log(high)))
        value = math.exp(min(exponent, math.log(high)))
    elif isinstance(law, Uniform):
        low, high = law.uniform
        value = float(rng.uniform(low, high))
    else:
        raise ValueError("nothing to draw from")
    return min(max(float(f"{value:.{RANDOM_DIGITS}g}"), low), high)
