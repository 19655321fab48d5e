"""Commands that train: validate, summary, run, attach, resume."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuilab.cli.common import (
    RunArgument,
    RunsDirOption,
    ScenarioArgument,
    SetOption,
    VariantOption,
    app,
    err,
    exit_with,
    out,
    report_error,
    runs_dir,
)
from tuilab.cli.completion import complete_scenario
from tuilab.errors import TuilabError
from tuilab.presentation.text import plain
from tuilab.runtime.session import RunRequest
from tuilab.scenario.bounds import MAX_PARALLEL

SweepOption = Annotated[
    list[str] | None,
    typer.Option(
        "--sweep",
        help="Sweep a key over values, crossed with the variants (repeatable): "
        "--sweep fit.batch_size=32,64.",
    ),
]


def _overrides(set_: list[str] | None, sweep: list[str] | None) -> list[str]:
    """`--set` items, then the `--sweep` items as the `sweep.KEY=[...]` items they mean."""
    from tuilab.scenario.merge import sweep_items

    items: list[str] = []
    try:
        items = sweep_items(sweep or [])
    except TuilabError as exc:
        report_error(exc)  # exits 2
    return [*(set_ or []), *items]


@app.command()
def validate(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Scenario files or folders.", autocompletion=complete_scenario),
    ],
    set_: SetOption = None,
    sweep: SweepOption = None,
) -> None:
    """Check scenario files without training: exit 0 if all are valid, 2 otherwise."""
    from tuilab.headless.inspect_cmds import validate as run_validate

    raise typer.Exit(run_validate(paths, _overrides(set_, sweep), out, err))


@app.command()
def summary(
    scenario: ScenarioArgument,
    variant: VariantOption = None,
    set_: SetOption = None,
    sweep: SweepOption = None,
) -> None:
    """Print each variant's Keras-style layer table and parameter counts."""
    from tuilab.headless.inspect_cmds import summary as run_summary

    overrides = _overrides(set_, sweep)
    exit_with(lambda: run_summary(scenario, variant or [], overrides, out))


HeadlessOption = Annotated[bool, typer.Option("--headless", help="No app: Rich output.")]
ParallelOption = Annotated[
    int | None,
    typer.Option(
        "--parallel",
        min=1,
        max=MAX_PARALLEL,
        help=f"Train up to N trials at once (at most {MAX_PARALLEL}), each in a process of its "
        "own (one GPU each on a GPU box, the CPU cores shared out otherwise).",
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="One JSON event per line on stdout, nothing else.")
]


def _train(request: RunRequest, headless: bool) -> None:
    """Train in the app, or headless (`--headless`, `--json`); exit with its code."""
    if not headless and not request.json:
        from tuilab.app.launch import launch_app_for_run

        raise typer.Exit(launch_app_for_run(request))
    from tuilab.headless.run_cmd import run_headless

    raise typer.Exit(run_headless(request, out, err))


@app.command()
def run(
    scenario: ScenarioArgument,
    headless: HeadlessOption = False,
    json_: JsonOption = False,
    variant: VariantOption = None,
    set_: SetOption = None,
    sweep: SweepOption = None,
    parallel: ParallelOption = None,
    runs: RunsDirOption = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not store the run.")] = False,
) -> None:
    """Train a scenario's variants. Exit: 0 finished, 1 failed, 2 bad input, 130 stopped."""
    overrides = _overrides(set_, sweep)
    request = RunRequest(
        scenario, variant or [], overrides, runs_dir(runs), json_, not no_store, parallel=parallel
    )
    _train(request, headless)


@app.command()
def attach(
    run: Annotated[
        str | None, typer.Argument(help="Run to watch (default: the newest one training).")
    ] = None,
    runs: RunsDirOption = None,
) -> None:
    """Watch a run that another process trains, live; steer it with the dashboard's keys."""
    from tuilab.app.launch import launch_app_attached
    from tuilab.runtime.follow import newest_running
    from tuilab.runtime.run_listing import find_run, list_runs

    root = runs_dir(runs)
    try:
        folder = find_run(root, run) if run else newest_running(list_runs(root))
    except TuilabError as exc:
        report_error(exc)
    if folder is None:
        err.print(plain(f"no run is training under {root} (`tuilab runs` lists them)", "red"))
        raise typer.Exit(2)
    raise typer.Exit(launch_app_attached(folder.path, root))


@app.command()
def resume(
    run: RunArgument,
    headless: HeadlessOption = False,
    json_: JsonOption = False,
    parallel: ParallelOption = None,
    runs: RunsDirOption = None,
) -> None:
    """Continue a stopped, interrupted, killed or failed run from each trial's last epoch.

    Finished trials are not trained again; the run folder goes on as one run. Exit codes as
    for `run` (2: the run is live, finished or unreadable).
    """
    from tuilab.runtime.run_listing import find_run

    root = runs_dir(runs)
    try:
        folder = find_run(root, run, statuses=("stopped", "incomplete", "failed"))
        scenario = folder.scenario_toml
    except TuilabError as exc:
        report_error(exc)
    request = RunRequest(scenario, runs_dir=root, json=json_, resume=folder.path, parallel=parallel)
    _train(request, headless)
