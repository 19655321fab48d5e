"""How numbers and metric names are written, everywhere."""

from __future__ import annotations

import math
from typing import Any

SHORT_NAMES = {"accuracy": "acc", "val_accuracy": "val_acc"}


def short_metric(name: str) -> str:
    """`accuracy` -> `acc`, `val_accuracy` -> `val_acc`; other names unchanged."""
    return SHORT_NAMES.get(name, name)


def format_value(value: float | None) -> str:
    """Four significant digits; `nan` for a missing or non-finite value."""
    if value is None or not isinstance(value, int | float) or value != value:
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"


def format_optional(value: float | None) -> str:
    """`format_value`, or `-` when there is no value at all."""
    return "-" if value is None else format_value(value)


def format_mean_std(mean: float, std: float, n: int) -> str:
    """`0.9612±0.0031` over `n` > 1 repeats, else the value alone."""
    if n > 1:
        return f"{format_value(mean)}±{format_value(std)}"
    return format_value(mean)


def format_delta(value: float | None, reference: float | None) -> str:
    """`+0.0123`: the signed difference to a reference, `-` when either is missing."""
    if value is None or reference is None:
        return "-"
    return f"{value - reference:+.4f}"


def format_rate(value: float | None) -> str:
    """A learning rate: `0.001`, `2.5e-05`; `-` when unknown."""
    return "-" if not value else f"{value:.3g}"


def format_log_parts(logs: dict[str, float]) -> list[str]:
    """`["loss 0.312 acc 0.887", "val_loss 0.321 val_acc 0.888"]`: training, then validation."""
    ordered = sorted(logs, key=lambda k: (k.removeprefix("val_") != "loss", k))
    train = [k for k in ordered if not k.startswith("val_")]
    val = [k for k in ordered if k.startswith("val_")]
    parts = [
        " ".join(f"{short_metric(k)} {format_value(logs[k])}" for k in keys)
        for keys in (train, val)
    ]
    return [p for p in parts if p]


def format_logs(logs: dict[str, float]) -> str:
    """`loss 0.312 acc 0.887 | val_loss 0.321 val_acc 0.888`: training first, then validation."""
    return " | ".join(format_log_parts(logs))


def format_shape(shape: tuple[int | None, ...] | list[int | None]) -> str:
    """`(None, 28, 28, 1)` the way Keras prints it."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def layer_signature(row: dict[str, Any]) -> str:
    """A stored layer row as one comparable string: `Dense (None, 40) 31,400`."""
    return f"{row['type']} {format_shape(row['output_shape'])} {row['params']:,}"
