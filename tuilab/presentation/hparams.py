"""Comparisons as TensorBoard's HParams table: the scenario keys that differ, as columns.

Each compared trial is a row; the resolved-scenario keys whose values differ between the
trials become columns beside the comparison's metrics, headed by their last part
(`learning_rate`, or `optimizer.learning_rate` when two keys end alike). At most
`MAX_PARAM_COLUMNS` keys are shown (the Differences view lists them all); at narrow widths the
parameters are dropped after the time and losses, before the label, accuracies, status and Δ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tuilab.presentation.columns import COMPARISON_COLUMNS, Column, ResultRow
from tuilab.presentation.numbers import format_value
from tuilab.presentation.text import clean
from tuilab.runtime.compare import differing_keys

MAX_PARAM_COLUMNS = 6
PARAM_PRIORITY = 3
"""After the label, accuracies, status and the Δ: the Differences view lists every key."""
FREE_TEXT = ("description", "name")
"""Keys that are prose, not parameters: left to the Differences view."""


@dataclass(frozen=True)
class ParamRow:
    """A comparison row and the trial's values of the differing keys."""

    row: ResultRow
    params: dict[str, Any]


def short_names(keys: list[str]) -> dict[str, str]:
    """Each key by its shortest ending that no other key shares."""
    names = {}
    for key in keys:
        parts = key.split(".")
        for size in range(1, len(parts) + 1):
            ending = ".".join(parts[-size:])
            if sum(1 for other in keys if other.endswith(ending)) == 1 or size == len(parts):
                names[key] = ending
                break
    return names


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return clean(str(value), limit=40)
    return format_value(float(value)) if isinstance(value, float) else str(value)


def _sort(value: Any) -> tuple[int, float, str]:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1 if value is not None else 2, 0.0, str(value))


def _param_column(key: str, header: str) -> Column[ParamRow]:
    return Column(
        f"param:{key}",
        clean(header, limit=40),
        lambda r: _text(r.params.get(key)),
        lambda r: _sort(r.params.get(key)),
        PARAM_PRIORITY,
    )


def _wrapped(col: Column[ResultRow]) -> Column[ParamRow]:
    return Column(
        col.key,
        col.header,
        lambda r: col.text(r.row),
        lambda r: col.sort(r.row),
        col.priority,
        col.numeric,
        col.descending,
        col.fold,
        col.fold_width,
    )


def hparams_table(
    rows: list[ResultRow], configs: list[dict[str, Any]]
) -> tuple[list[Column[ParamRow]], list[ParamRow]]:
    """The columns (label, differing keys, then the comparison's metrics) and their rows."""
    diff = differing_keys(configs) if len(configs) > 1 else {}
    keys = [k for k in diff if k.rsplit(".", 1)[-1] not in FREE_TEXT][:MAX_PARAM_COLUMNS]
    names = short_names(keys)
    columns = [_wrapped(COMPARISON_COLUMNS[0])]
    columns += [_param_column(key, names[key]) for key in keys]
    columns += [_wrapped(col) for col in COMPARISON_COLUMNS[1:]]
    params = [{key: diff[key][index] for key in keys} for index in range(len(rows))]
    return columns, [ParamRow(row, values) for row, values in zip(rows, params, strict=True)]
