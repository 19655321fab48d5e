"""The Typer app, its consoles and the options and helpers every command module shares."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tuilab.cli.completion import complete_run, complete_scenario, complete_variant
from tuilab.errors import TuilabError
from tuilab.presentation.text import plain

app = typer.Typer(
    name="tuilab",
    help="A keyboard-driven terminal lab for training and comparing Keras models.",
    no_args_is_help=False,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def live_width_console(**options: object) -> Console:
    """A Rich console whose width follows `$COLUMNS` and the terminal at each print.

    Rich reads `$COLUMNS` once, when a console is made, and keeps it: these consoles are made
    at import, so a first import under someone else's `COLUMNS` (a test's, a caller's
    environment) fixed every later table to that width.
    """
    console = Console(**options)  # type: ignore[arg-type]
    console._width = None  # read again at each print (Console.size)
    return console


out = live_width_console(highlight=False, soft_wrap=True)
err = live_width_console(stderr=True, highlight=False, soft_wrap=True)

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a key: --set fit.epochs=2 (value parsed as TOML)."),
]
VariantOption = Annotated[
    list[str] | None,
    typer.Option(
        "--variant",
        "-v",
        help="Only this variant (repeatable).",
        autocompletion=complete_variant,
    ),
]
RunArgument = Annotated[
    str,
    typer.Argument(
        help="Run folder, <stem>/<stamp>, stamp or 'latest'.", autocompletion=complete_run
    ),
]
ScenarioArgument = Annotated[
    Path, typer.Argument(help="Scenario file.", autocompletion=complete_scenario)
]
"""A run as commands name it."""
RunsDirOption = Annotated[
    Path | None,
    typer.Option("--runs-dir", help="Where runs are stored (default $TUILAB_RUNS or ./runs)."),
]


def report_error(exc: TuilabError) -> None:
    err.print(plain(str(exc), "red", multiline=True), soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def exit_with(command: Callable[[], int]) -> None:
    """Run a command and exit with its code; a `TuilabError` is reported, exit 2."""
    try:
        code = command()
    except TuilabError as exc:
        report_error(exc)
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        out.print(f"tuilab {version('tuilab')}", markup=False)
        raise typer.Exit(0)


def runs_dir(option: Path | None) -> Path:
    """The run store root: --runs-dir, else $TUILAB_RUNS, else ./runs."""
    return option or Path(os.environ.get("TUILAB_RUNS", "runs"))


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    scenarios: Annotated[
        Path, typer.Option("--scenarios", help="Folder of scenario files the app lists.")
    ] = Path("scenarios"),
    runs: RunsDirOption = None,
) -> None:
    """Without a command, open the app on ./scenarios (pick, run, compare from the keyboard)."""
    if runs is not None and ctx.invoked_subcommand is not None:
        # `tuilab --runs-dir D show latest` means the same as `tuilab show latest --runs-dir D`
        ctx.default_map = {ctx.invoked_subcommand: {"runs": str(runs)}}
    if ctx.invoked_subcommand is None:
        from tuilab.app.launch import launch_app

        raise typer.Exit(launch_app(scenarios, runs_dir(runs)))


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="tuilab")  # also as `python -m tuilab`: its completion variable is _TUILAB_
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
