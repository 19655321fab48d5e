"""`tuilab run <descent scenario> --headless`: the results table and a picture of the paths."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import plotext
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuilab.descent.chart import draw_descent
from tuilab.descent.run import DescentPath, run_descent
from tuilab.headless.fold import heading, line_width
from tuilab.headless.tables import spec_table
from tuilab.presentation.columns import Column
from tuilab.presentation.numbers import format_value
from tuilab.presentation.text import clean
from tuilab.scenario.functions import CATALOGUE
from tuilab.scenario.loader import Scenario


def optimizer_name(spec: object) -> str:
    """`gd`, `adam`, or `SGD(momentum=0.9)` for a table."""
    if isinstance(spec, dict):
        args = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "type")
        return f"{spec.get('type')}({args})"
    return str(spec)


@dataclass(frozen=True)
class DescentRow:
    """One variant's row of the descent table, as text."""

    variant: str
    optimizer: str
    start: str
    rate: str
    iterations: str
    final: str
    value: str
    converged: str


def _text_column(key: str, header: str, priority: int, fold: bool = False) -> Column[DescentRow]:
    return Column(
        key,
        header,
        lambda r: getattr(r, key),
        lambda r: (0, getattr(r, key)),
        priority,
        numeric=not fold,
        fold=fold,
    )


DESCENT_COLUMNS: tuple[Column[DescentRow], ...] = (
    _text_column("variant", "Variant", 0, fold=True),
    _text_column("optimizer", "Optimizer", 2, fold=True),
    _text_column("start", "Start", 3),
    _text_column("rate", "lr", 3),
    _text_column("iterations", "Iter", 4),
    _text_column("final", "Final x", 0),
    _text_column("value", "J(x)", 0),
    _text_column("converged", "Converged", 1),
)
"""The descent table; at narrow widths the settings go first, the outcome stays."""


def descent_rows(scenario: Scenario, paths: dict[str, DescentPath]) -> list[DescentRow]:
    """Per variant: optimizer, start, lr, iterations, final x, J(x), steps to converge."""
    rows = []
    for name, path in paths.items():
        config = scenario.variants[name].descent
        converged = (
            f"diverged@{path.diverged_at}"
            if path.diverged_at
            else (str(path.converged_at) if path.converged_at else "no")
        )
        rows.append(
            DescentRow(
                clean(name),
                clean(optimizer_name(config.optimizer)),
                ", ".join(format_value(v) for v in config.start_point),
                format_value(config.learning_rate),
                str(config.iterations),
                ", ".join(f"{v:.6f}" for v in path.final),
                f"{path.values[-1]:.6f}",
                converged,
            )
        )
    return rows


def descent_table(scenario: Scenario, paths: dict[str, DescentPath], width: int = 120) -> Table:
    """The descent table in `width`: no name or number split; dropped columns named."""
    return spec_table("Descent", DESCENT_COLUMNS, descent_rows(scenario, paths), width)


def run_descent_headless(scenario: Scenario, console: Console, as_json: bool) -> int:
    """Run every variant; print a table and the curve with the paths (or JSON lines)."""
    paths = {name: run_descent(v.descent) for name, v in scenario.variants.items()}
    if as_json:
        for name, path in paths.items():
            line = {
                "event": "descent_finished",
                "variant": name,
                "final": path.final,
                "value": path.values[-1],
                "steps": len(path.points) - 1,
                "converged_at": path.converged_at,
                "diverged_at": path.diverged_at,
                "points": path.points,
            }
            sys.stdout.write(json.dumps(line) + "\n")
        return 0
    first = next(iter(scenario.variants.values())).descent
    formula = f"  {CATALOGUE[first.function].formula}"
    console.print(heading(scenario.name, formula, line_width(console)))
    console.print(descent_table(scenario, paths, console.width))
    plotext.clear_figure()
    plotext.plotsize(max(40, min(console.width, 120)), 22)
    if not console.is_terminal:
        plotext.theme("clear")
    draw_descent(plotext, {n: v.descent for n, v in scenario.variants.items()}, paths)
    console.print(Text.from_ansi(plotext.build()))
    plotext.clear_figure()
    return 0
