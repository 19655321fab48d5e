"""`tuilab run <descent scenario> --headless`: the results table and a picture of the paths."""

from __future__ import annotations

import json
import sys

import plotext
from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuilab.descent.chart import draw_descent
from tuilab.descent.run import DescentPath, run_descent
from tuilab.presentation.numbers import format_value
from tuilab.presentation.text import plain
from tuilab.scenario.functions import CATALOGUE
from tuilab.scenario.loader import Scenario


def optimizer_name(spec: object) -> str:
    """`gd`, `adam`, or `SGD(momentum=0.9)` for a table."""
    if isinstance(spec, dict):
        args = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "type")
        return f"{spec.get('type')}({args})"
    return str(spec)


def descent_table(scenario: Scenario, paths: dict[str, DescentPath]) -> Table:
    """Per variant: optimizer, start, lr, iterations, final x, J(x), steps to converge."""
    table = Table(title="Descent", title_justify="left")
    for column in ("Variant", "Optimizer", "Start", "lr", "Iter", "Final x", "J(x)", "Converged"):
        if column in ("Variant", "Optimizer"):
            table.add_column(column, overflow="fold")
        else:
            table.add_column(column, justify="right", no_wrap=True)
    for name, path in paths.items():
        config = scenario.variants[name].descent
        converged = (
            f"diverged@{path.diverged_at}"
            if path.diverged_at
            else (str(path.converged_at) if path.converged_at else "no")
        )
        table.add_row(
            plain(name),
            plain(optimizer_name(config.optimizer)),
            ", ".join(format_value(v) for v in config.start_point),
            format_value(config.learning_rate),
            str(config.iterations),
            ", ".join(f"{v:.6f}" for v in path.final),
            f"{path.values[-1]:.6f}",
            converged,
        )
    return table


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
    console.print(
        Text.assemble(plain(scenario.name, "bold"), plain(f"  {CATALOGUE[first.function].formula}"))
    )
    console.print(descent_table(scenario, paths))
    plotext.clear_figure()
    plotext.plotsize(max(40, min(console.width, 120)), 22)
    if not console.is_terminal:
        plotext.theme("clear")
    draw_descent(plotext, {n: v.descent for n, v in scenario.variants.items()}, paths)
    console.print(Text.from_ansi(plotext.build()))
    plotext.clear_figure()
    return 0
