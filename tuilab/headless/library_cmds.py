"""`tuilab tag`, `note`, `delete`, `restore`, `purge` and `runs --trash`: the run library."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tuilab.headless.store_cmds import listing_table, print_annotations
from tuilab.headless.tables import add_caption
from tuilab.presentation.text import plain
from tuilab.runtime.library import (
    add_tags,
    annotations,
    exact_run,
    move_to_trash,
    purge_trash,
    remove_tags,
    restore_run,
    set_note,
    trashed_runs,
)
from tuilab.runtime.run_folder import trash_dir
from tuilab.runtime.run_listing import find_run
from tuilab.runtime.run_query import RunQuery


def _say(console: Console, *parts: str | Text) -> None:
    console.print(Text.assemble(*(plain(p) if isinstance(p, str) else p for p in parts)))


def tag(root: Path, name: str, tags: list[str], untag: bool, console: Console) -> int:
    """Add tags to a run (or remove them with `untag`); without tags, print its tags."""
    folder = find_run(root, name)
    if not tags:
        found = annotations(folder)
        if found.problems:
            _say(console, plain(f"{folder.run_id}: {found.problems[0]}", "yellow"))
            return 2
        _say(console, f"{folder.run_id} tags: {', '.join(found.tags) or '(none)'}")
        return 0
    if untag:
        left, absent = remove_tags(folder, tags)
        if absent:
            _say(console, plain(f"{folder.run_id} had no tag {', '.join(absent)}", "yellow"))
    else:
        left = add_tags(folder, tags)
    _say(console, f"{folder.run_id} tags: {', '.join(left) or '(none)'}")
    return 0


def note(root: Path, name: str, text: str | None, console: Console) -> int:
    """Set a run's note (empty text removes it); without text, print it."""
    folder = find_run(root, name)
    if text is not None:
        set_note(folder, text)
        _say(console, f"{folder.run_id}: " + ("note saved" if text.strip() else "note removed"))
        return 0
    print_annotations(console, folder)
    if not annotations(folder).note:
        _say(console, f"{folder.run_id} has no note")
    return 0


def delete(root: Path, names: list[str], console: Console) -> int:
    """Move runs to the trash (every one is checked before any is moved)."""
    moved = move_to_trash(root, [exact_run(root, name) for name in names])
    for entry in moved:
        _say(
            console,
            f"moved {entry.origin} to the trash (tuilab restore {entry.folder.run_id})",
        )
    return 0


def restore(root: Path, name: str, console: Console) -> int:
    """Move a run back from the trash."""
    entry = restore_run(root, name)
    _say(console, f"restored {entry.origin}")
    return 0


def trash_table(
    root: Path, width: int = 120, query: RunQuery | None = None, sort: str | None = None
) -> Table:
    """The runs in the trash, the last deleted first, as `tuilab runs` lists runs."""
    entries = trashed_runs(root)
    table = listing_table(
        f"Trash in {trash_dir(root)}", [e.info for e in entries], width, query, sort
    )
    add_caption(table, "restore: tuilab restore RUN   empty the trash: tuilab purge")
    return table


def purge(root: Path, console: Console, confirm: Callable[[int], bool]) -> int:
    """List what the trash holds, ask `confirm(count)`, then delete it for good.

    Returns 0 when purged (or already empty), 1 when the user said no.
    """
    entries = trashed_runs(root)
    trash = trash_dir(root)
    if not trash.is_dir() or not any(trash.iterdir()):
        _say(console, f"the trash is empty ({trash})")
        return 0
    for entry in entries:
        deleted = f", deleted {entry.deleted.replace('T', ' ')}" if entry.deleted else ""
        _say(console, f"  {entry.folder.run_id} ({entry.info.scenario}{deleted})")
    if not confirm(len(entries)):
        _say(console, "nothing deleted")
        return 1
    count = purge_trash(root)
    _say(console, f"deleted {count} run(s) for good from {trash}")
    return 0
