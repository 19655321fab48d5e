"""The `tuilab` command line. Parses arguments and hands typed values on; no logic here.

Nothing at import time pulls in TensorFlow or Textual: `tuilab --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tuilab.errors import TuilabError

app = typer.Typer(
    name="tuilab",
    help="A keyboard-driven terminal lab for training and comparing tf.keras models.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a key: --set fit.epochs=2 (value parsed as TOML)."),
]
VariantOption = Annotated[
    list[str] | None, typer.Option("--variant", "-v", help="Only this variant (repeatable).")
]
RunsDirOption = Annotated[
    Path | None,
    typer.Option("--runs-dir", help="Where runs are stored (default $TUILAB_RUNS or ./runs)."),
]


def _exit_on_error(code: int) -> None:
    raise typer.Exit(code)


def _report(exc: TuilabError) -> None:
    err.print(str(exc), style="red", markup=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def runs_dir(option: Path | None) -> Path:
    """The run store root: --runs-dir, else $TUILAB_RUNS, else ./runs."""
    return option or Path(os.environ.get("TUILAB_RUNS", "runs"))


@app.callback(invoke_without_command=True)
def main_callback(ctx: typer.Context) -> None:
    """Without a command, open the app on ./scenarios."""
    if ctx.invoked_subcommand is None:
        from tuilab.app.launch import launch_app

        raise typer.Exit(launch_app(Path("scenarios"), runs_dir(None)))


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Scenario files or folders.")],
    set_: SetOption = None,
) -> None:
    """Check scenario files without training: exit 0 if all are valid, 2 otherwise."""
    from tuilab.headless.inspect_cmds import validate as run_validate

    raise typer.Exit(run_validate(paths, set_ or [], out, err))


@app.command()
def summary(
    scenario: Annotated[Path, typer.Argument(help="Scenario file.")],
    variant: VariantOption = None,
    set_: SetOption = None,
) -> None:
    """Print each variant's Keras-style layer table and parameter counts."""
    from tuilab.headless.inspect_cmds import summary as run_summary

    try:
        raise typer.Exit(run_summary(scenario, variant or [], set_ or [], out))
    except TuilabError as exc:
        _report(exc)


@app.command()
def run(
    scenario: Annotated[Path, typer.Argument(help="Scenario file.")],
    headless: Annotated[bool, typer.Option("--headless", help="No app: Rich output.")] = False,
    json_: Annotated[
        bool, typer.Option("--json", help="One JSON event per line on stdout, nothing else.")
    ] = False,
    variant: VariantOption = None,
    set_: SetOption = None,
    runs: RunsDirOption = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not store the run.")] = False,
) -> None:
    """Train a scenario's variants. Exit: 0 finished, 1 failed, 2 bad input, 130 stopped."""
    from tuilab.headless.run_cmd import RunRequest, run_headless

    request = RunRequest(
        scenario, variant or [], set_ or [], runs_dir(runs), json=json_, store=not no_store
    )
    if not headless and not json_:
        from tuilab.app.launch import launch_app_for_run

        raise typer.Exit(launch_app_for_run(request))
    raise typer.Exit(run_headless(request, out, err))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
