"""The `tuilab` command line. Parses arguments and hands typed values on; no logic here.

Nothing at import time pulls in TensorFlow or Textual: `tuilab --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from tuilab.errors import TuilabError
from tuilab.presentation.text import plain

app = typer.Typer(
    name="tuilab",
    help="A keyboard-driven terminal lab for training and comparing tf.keras models.",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

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


def _report(exc: TuilabError) -> None:
    err.print(plain(str(exc), "red", multiline=True), soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _exit_with(command: Callable[[], int]) -> None:
    """Run a command and exit with its code; a `TuilabError` is reported, exit 2."""
    try:
        code = command()
    except TuilabError as exc:
        _report(exc)
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
) -> None:
    """Without a command, open the app on ./scenarios (pick, run, compare from the keyboard)."""
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


@app.command("runs")
def runs_command(
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Only this scenario (stem or name).")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only runs in this status: running, finished, failed, stopped, incomplete, "
            "corrupt.",
        ),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Only runs with this tag (repeatable: all).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Started since a date (2026-11-20) or a time ago (3d, 12h)."),
    ] = None,
    grep: Annotated[
        str | None,
        typer.Option("--grep", help="Text in the run id, scenario, variants, tags or note."),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort",
            help="started (newest first), best_val_accuracy, test_accuracy (highest first), "
            "scenario or status.",
        ),
    ] = None,
    trash: Annotated[bool, typer.Option("--trash", help="List the deleted runs instead.")] = False,
    runs: RunsDirOption = None,
) -> None:
    """List stored runs: scenario, date, variants, status, best validation accuracy, tags."""
    from tuilab.headless.library_cmds import trash_table
    from tuilab.headless.store_cmds import runs_table
    from tuilab.runtime.run_query import RunQuery

    try:
        query = RunQuery.parse(scenario, status, tag, since, grep)
        table = trash_table if trash else runs_table
        out.print(table(runs_dir(runs), out.width, query, sort))
    except TuilabError as exc:
        _report(exc)


@app.command()
def show(
    run: Annotated[str, typer.Argument(help="Run folder, <stem>/<stamp>, stamp or 'latest'.")],
    app_: Annotated[bool, typer.Option("--app", help="Open it in the app's dashboard.")] = False,
    runs: RunsDirOption = None,
) -> None:
    """Print one stored run's results and curves (or open it in the app with --app)."""
    from tuilab.headless.store_cmds import show as run_show
    from tuilab.runtime.run_folder import find_run

    try:
        if app_:
            from tuilab.app.launch import launch_app_for_stored

            folder = find_run(runs_dir(runs), run)
            raise typer.Exit(launch_app_for_stored(folder.path, runs_dir(runs)))
        raise typer.Exit(run_show(runs_dir(runs), run, out))
    except TuilabError as exc:
        _report(exc)


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
    from tuilab.runtime.run_folder import find_run, list_runs

    root = runs_dir(runs)
    try:
        folder = find_run(root, run) if run else newest_running(list_runs(root))
    except TuilabError as exc:
        _report(exc)
    if folder is None:
        err.print(plain(f"no run is training under {root} (`tuilab runs` lists them)", "red"))
        raise typer.Exit(2)
    raise typer.Exit(launch_app_attached(folder.path, root))


@app.command()
def resume(
    run: Annotated[str, typer.Argument(help="Run folder, <stem>/<stamp>, stamp or 'latest'.")],
    headless: Annotated[bool, typer.Option("--headless", help="No app: Rich output.")] = False,
    json_: Annotated[
        bool, typer.Option("--json", help="One JSON event per line on stdout, nothing else.")
    ] = False,
    runs: RunsDirOption = None,
) -> None:
    """Continue a stopped, interrupted, killed or failed run from each trial's last epoch.

    Finished trials are not trained again; the run folder goes on as one run. Exit codes as
    for `run` (2: the run is live, finished or unreadable).
    """
    from tuilab.headless.run_cmd import RunRequest, run_headless
    from tuilab.runtime.run_folder import find_run

    root = runs_dir(runs)
    try:
        folder = find_run(root, run, statuses=("stopped", "incomplete", "failed"))
    except TuilabError as exc:
        _report(exc)
    request = RunRequest(folder.scenario_toml, runs_dir=root, json=json_, resume=folder.path)
    if not headless and not json_:
        from tuilab.app.launch import launch_app_for_run

        raise typer.Exit(launch_app_for_run(request))
    raise typer.Exit(run_headless(request, out, err))


@app.command()
def compare(
    items: Annotated[list[str], typer.Argument(help="RUN[:VARIANT] items to compare.")],
    runs: RunsDirOption = None,
) -> None:
    """Overlay curves and tabulate results across stored runs, with scenario and layer diffs."""
    from tuilab.headless.store_cmds import compare as run_compare

    try:
        raise typer.Exit(run_compare(runs_dir(runs), items, out))
    except TuilabError as exc:
        _report(exc)


@app.command()
def report(
    run: Annotated[str, typer.Argument(help="Run folder, <stem>/<stamp>, stamp or 'latest'.")],
    format_: Annotated[str, typer.Option("--format", help="md or csv.")] = "md",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write.")] = None,
    runs: RunsDirOption = None,
) -> None:
    """Write a run's results, scenario diff, learning-rate events and BatchNorm statistics."""
    from tuilab.headless.report import csv_report, markdown_report, write_report
    from tuilab.runtime.run_folder import find_run

    if format_ not in ("md", "csv"):
        err.print(plain(f"--format must be md or csv, not {format_!r}", "red"))
        raise typer.Exit(2)
    try:
        folder = find_run(runs_dir(runs), run)
        text = markdown_report(folder) if format_ == "md" else csv_report(folder)
        if output:
            write_report(output, text)
            err.print(plain(f"wrote {output}"))
        else:
            sys.stdout.write(text)
    except TuilabError as exc:
        _report(exc)


RunArgument = Annotated[str, typer.Argument(help="Run folder, <stem>/<stamp>, stamp or 'latest'.")]


def _steer(run: str, action: str, factor: float | None, runs: Path | None) -> None:
    from tuilab.headless.steer_cmds import steer

    try:
        raise typer.Exit(steer(runs_dir(runs), run, action, factor, out, err))
    except TuilabError as exc:
        _report(exc)


@app.command()
def stop(
    run: RunArgument,
    after_epoch: Annotated[
        bool, typer.Option("--after-epoch", help="Finish this epoch and its validation first.")
    ] = False,
    runs: RunsDirOption = None,
) -> None:
    """Stop a run that another process trains (its results are kept). Exit 2: not running."""
    _steer(run, "stop_after_epoch" if after_epoch else "stop", None, runs)


@app.command()
def lr(
    run: RunArgument,
    scale: Annotated[
        float, typer.Option("--scale", help="Multiply the learning rate by F (0.5 halves it).")
    ],
    runs: RunsDirOption = None,
) -> None:
    """Scale the learning rate of a run that another process trains, now."""
    _steer(run, "scale_lr", scale, runs)


@app.command()
def checkpoint(run: RunArgument, runs: RunsDirOption = None) -> None:
    """Save the model of a run that another process trains, now (beside its model.keras)."""
    _steer(run, "checkpoint", None, runs)


@app.command()
def tag(
    run: RunArgument,
    tags: Annotated[
        list[str] | None, typer.Argument(help="Tags to add (none: print them).")
    ] = None,
    untag: Annotated[bool, typer.Option("--untag", help="Remove these tags instead.")] = False,
    runs: RunsDirOption = None,
) -> None:
    """Tag a run (tags.txt in its folder); --untag removes tags. `runs --tag T` finds them."""
    from tuilab.headless.library_cmds import tag as run_tag

    _exit_with(lambda: run_tag(runs_dir(runs), run, tags or [], untag, out))


@app.command()
def note(
    run: RunArgument,
    text: Annotated[
        str | None, typer.Argument(help="The note, at most 4 KB ('' removes it; none: print it).")
    ] = None,
    runs: RunsDirOption = None,
) -> None:
    """Write a note on a run (note.md in its folder), or print it."""
    from tuilab.headless.library_cmds import note as run_note

    _exit_with(lambda: run_note(runs_dir(runs), run, text, out))


@app.command()
def delete(
    run: Annotated[
        list[str], typer.Argument(help="Runs, each as <stem>/<stamp>, stamp or folder.")
    ],
    runs: RunsDirOption = None,
) -> None:
    """Move runs to the trash (runs/.trash); `tuilab restore` brings one back. Not live runs."""
    from tuilab.headless.library_cmds import delete as run_delete

    _exit_with(lambda: run_delete(runs_dir(runs), run, out))


@app.command()
def restore(
    run: Annotated[str, typer.Argument(help="A deleted run, as `tuilab runs --trash` names it.")],
    runs: RunsDirOption = None,
) -> None:
    """Move a deleted run back from the trash to where it was."""
    from tuilab.headless.library_cmds import restore as run_restore

    _exit_with(lambda: run_restore(runs_dir(runs), run, out))


@app.command()
def purge(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    runs: RunsDirOption = None,
) -> None:
    """Empty the trash for good, after listing it and asking. Exit 1: you said no."""
    from tuilab.headless.library_cmds import purge as run_purge

    def confirm(count: int) -> bool:
        if yes:
            return True
        try:
            return typer.confirm(f"delete these {count} run(s) for good?", default=False)
        except typer.Abort:
            return False

    _exit_with(lambda: run_purge(runs_dir(runs), out, confirm))


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
