"""`tuilab data SCENARIO`: each distinct `[data]` table of a scenario, before and after
preprocessing, with its class balance and a grid of samples."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.text import Text

from tuilab.data.inspect import distinct_data, inspect_data
from tuilab.errors import DataError, TuilabError
from tuilab.presentation.samples import data_report
from tuilab.presentation.text import plain


def wants_color(console: Console, no_color: bool) -> bool:
    """Pixels only on a colour terminal: not piped, not `--no-color`, not `NO_COLOR`."""
    return (
        not no_color
        and console.is_terminal
        and not console.no_color
        and console.color_system is not None
    )


def data_command(
    path: Path,
    variants: list[str],
    overrides: list[str],
    out: Console,
    err: Console,
    *,
    no_color: bool = False,
    per_class: int = 1,
) -> int:
    """Print the data of each distinct `[data]` table; 2 when one cannot be loaded."""
    from tuilab.scenario import load_scenario

    scenario = load_scenario(path, overrides).select(variants)
    if scenario.kind == "descent":
        raise TuilabError(f"{path}: a descent playground has no dataset")
    color = wants_color(out, no_color)
    failed = 0
    for config, names in distinct_data(scenario.variants):
        out.print(
            Text.assemble(
                plain(scenario.name, "bold"), plain(f" ({path}), variants: {', '.join(names)}")
            )
        )
        try:
            view = inspect_data(config, scenario.meta.seed, per_class=per_class)
        except DataError as exc:
            failed += 1
            err.print(plain(str(exc), "red", multiline=True), soft_wrap=True)
            continue
        for part in data_report(view, out.width, color=color):
            out.print(part)
        out.print()
    return 2 if failed else 0
