"""Commands that manage the run library: tag, note, delete, restore, purge."""

from __future__ import annotations

from typing import Annotated

import typer

from tuilab.cli.common import (
    RunArgument,
    RunsDirOption,
    app,
    exit_with,
    out,
    runs_dir,
)


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

    exit_with(lambda: run_tag(runs_dir(runs), run, tags or [], untag, out))


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

    exit_with(lambda: run_note(runs_dir(runs), run, text, out))


@app.command()
def delete(
    run: Annotated[
        list[str], typer.Argument(help="Runs, each as <stem>/<stamp>, stamp or folder.")
    ],
    runs: RunsDirOption = None,
) -> None:
    """Move runs to the trash (runs/.trash); `tuilab restore` brings one back. Not live runs."""
    from tuilab.headless.library_cmds import delete as run_delete

    exit_with(lambda: run_delete(runs_dir(runs), run, out))


@app.command()
def restore(
    run: Annotated[str, typer.Argument(help="A deleted run, as `tuilab runs --trash` names it.")],
    runs: RunsDirOption = None,
) -> None:
    """Move a deleted run back from the trash to where it was."""
    from tuilab.headless.library_cmds import restore as run_restore

    exit_with(lambda: run_restore(runs_dir(runs), run, out))


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

    exit_with(lambda: run_purge(runs_dir(runs), out, confirm))
