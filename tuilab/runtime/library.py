"""The run library: the user's tags and notes on stored runs, and the trash runs go through.

Tags and notes are plain files in the run folder (`tags.txt`, `note.md`, read back by
`user_text`), each written to a temporary file and renamed. Deleting moves a run folder into
`runs/.trash/<stem>/<stamp>/` with a record of where it came from; `restore_run` moves it back
and `purge_trash` empties the trash. Nothing here deletes outside `runs/.trash`, moves or
deletes through a symbolic link, or moves a run that is still training.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tuilab.errors import RunStoreError, UsageError
from tuilab.runtime.run_folder import STALE_SECONDS, RunFolder, RunInfo, trash_dir
from tuilab.runtime.run_listing import find_run, list_runs
from tuilab.runtime.run_lock import RunLock, holder, remove_marker
from tuilab.runtime.store_files import write_atomic
from tuilab.runtime.user_text import (
    MAX_NOTE_BYTES,
    MAX_TAGS,
    TAG_PATTERN,
    read_note,
    read_tags,
)

TAG_RULE = "a tag is a letter or digit, then up to 31 letters, digits, '_', '.', ':' or '-'"


# -- tags and notes -------------------------------------------------------------------------
def _write_atomic(path: Path, text: str) -> None:
    """Write `text` beside `path` under a fresh name, then rename it over `path`.

    Raises:
        RunStoreError: it cannot be written.
    """
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as exc:
        raise RunStoreError(f"cannot write {path}: {exc.strerror or exc}") from None


def _remove_file(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise RunStoreError(f"cannot remove {path}: {exc.strerror or exc}") from None


def check_tag(tag: str) -> str:
    """`tag` when it is one.

    Raises:
        UsageError: it is not (the message says what a tag is).
    """
    if not TAG_PATTERN.fullmatch(tag):
        raise UsageError(f"{tag[:40]!r} is not a tag: {TAG_RULE}")
    return tag


def _current_tags(folder: RunFolder) -> tuple[str, ...]:
    try:
        return read_tags(folder.tags_txt)
    except RunStoreError as exc:
        raise RunStoreError(f"{folder.run_id}: {exc} (fix or delete {folder.tags_txt})") from None


def _write_tags(folder: RunFolder, tags: list[str]) -> None:
    if tags:
        _write_atomic(folder.tags_txt, "".join(f"{tag}\n" for tag in tags))
    else:
        _remove_file(folder.tags_txt)  # an untagged run has no tags.txt


def add_tags(folder: RunFolder, tags: list[str]) -> tuple[str, ...]:
    """Add tags (a tag it has is kept once); returns the run's tags.

    Raises:
        UsageError: a tag is not one, or the run would have more than `MAX_TAGS`.
        RunStoreError: its `tags.txt` is corrupt, or cannot be written.
    """
    wanted = [check_tag(tag) for tag in tags]
    merged = list(_current_tags(folder))
    merged += [tag for tag in dict.fromkeys(wanted) if tag not in merged]
    if len(merged) > MAX_TAGS:
        raise UsageError(
            f"a run has at most {MAX_TAGS} tags ({folder.run_id} would have {len(merged)})"
        )
    _write_tags(folder, merged)
    return tuple(merged)


def remove_tags(folder: RunFolder, tags: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """Remove tags; returns the run's tags left and those it did not have.

    Raises:
        RunStoreError: its `tags.txt` is corrupt, or cannot be written.
    """
    current = list(_current_tags(folder))
    absent = [tag for tag in tags if tag not in current]
    kept = [tag for tag in current if tag not in tags]
    if kept != current:
        _write_tags(folder, kept)
    return tuple(kept), absent


def set_note(folder: RunFolder, text: str) -> None:
    """Write the run's note (at most `MAX_NOTE_BYTES`); blank text removes it.

    Raises:
        UsageError: the text is too long, or not text (a lone surrogate from odd argv bytes).
        RunStoreError: it cannot be written.
    """
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise UsageError("the note is not valid UTF-8 text") from None
    if size > MAX_NOTE_BYTES:
        raise UsageError(
            f"a note holds at most {MAX_NOTE_BYTES // 1024} KB, this one is {size} bytes"
        )
    if text.strip():
        _write_atomic(folder.note_md, text.rstrip("\n") + "\n")
    else:
        _remove_file(folder.note_md)


# -- the trash ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trashed:
    """A run in the trash: where it lies, where it came from, when it was deleted."""

    folder: RunFolder
    origin: str
    """`<stem>/<stamp>` under the runs folder, where `restore_run` puts it back."""
    deleted: str
    info: RunInfo


def _no_link(path: Path, what: str) -> None:
    if path.is_symlink():
        raise RunStoreError(f"{path} is a symbolic link: tuilab does not {what} through links")


def _real_dir(path: Path) -> Path:
    """`path` as a folder, made when missing; never a link or a file."""
    _no_link(path, "move runs")
    if path.exists() and not path.is_dir():
        raise RunStoreError(f"{path} is not a folder")
    path.mkdir(parents=False, exist_ok=True)
    return path


def _refuse_live(folder: RunFolder, doing: str) -> None:
    """Refuse to `doing` a run that a live process holds (its lock) or that still beats.

    Raises:
        RunStoreError: it is held or live, naming the holder.
    """
    owner = holder(folder)
    if owner is None:
        try:
            live = folder.status(folder.meta()) == "running"
        except RunStoreError:
            age = folder.heartbeat_age()
            live = age is not None and age <= STALE_SECONDS
        if not live:
            return
    held = f"; {doing} refused: it is held by {owner}" if owner else ""
    raise RunStoreError(
        f"{folder.run_id} is running: stop it first (tuilab stop {folder.run_id}){held}"
    )


def exact_run(root: Path, name: str) -> RunFolder:
    """A run named exactly (a folder, `<stem>/<stamp>` or a stamp; not `latest` or a stem).

    Raises:
        RunStoreError: no such run, or a stamp that several scenarios share.
        UsageError: `latest` or a scenario stem (which would pick a run for the user).
    """
    for candidate in (root / name, Path(name)):
        if candidate.is_dir() and RunFolder(candidate).is_run():
            return RunFolder(candidate)
    runs = list_runs(root)
    matches = [info for info in runs if name in (info.folder.name, info.run_id)]
    if len(matches) == 1:
        return RunFolder(matches[0].folder)
    if matches:
        ids = ", ".join(info.run_id for info in matches)
        raise RunStoreError(f"{name!r} names several runs ({ids}): give <stem>/<stamp>")
    if name == "latest" or any(info.stem == name for info in runs):
        raise UsageError(f"name one run exactly, as <stem>/<stamp> (not {name!r})")
    return find_run(root, name)  # raises: no such run


def _check_movable(root: Path, folder: RunFolder) -> None:
    path = folder.path
    _no_link(path, "move runs")
    _no_link(path.parent, "move runs")
    if path.resolve().parent.parent != root.resolve() or path.parent.name.startswith("."):
        raise RunStoreError(f"{path} is not a run of the runs folder {root}")
    _refuse_live(folder, "delete")


def _move_held(folder: RunFolder, target: Path, doing: str, failure: str) -> None:
    """Rename a run folder while holding its lock, so no process starts training it midway;
    the lock's marker moves with the folder and is removed there.

    Raises:
        RunStoreError: another process took the run, or the rename failed.
    """
    lock = RunLock(folder).acquire(doing)
    try:
        os.rename(folder.path, target)
    except OSError as exc:
        lock.release()
        raise RunStoreError(f"{failure}: {exc.strerror}") from None
    lock.forget()
    remove_marker(RunFolder(target))


def move_to_trash(root: Path, folders: list[RunFolder]) -> list[Trashed]:
    """Move runs into `<root>/.trash/<stem>/<stamp>/`, after checking every one of them.

    Raises:
        RunStoreError: a run is live, a link, outside `root`, or cannot be moved (nothing of
            the others is moved when a check fails).
    """
    unique = list({folder.path.resolve(): folder for folder in folders}.values())
    for folder in unique:
        _check_movable(root, folder)
    trash = _real_dir(trash_dir(root))
    moved = []
    for folder in unique:
        stem_dir = _real_dir(trash / folder.path.parent.name)
        target, number = stem_dir / folder.path.name, 1
        while os.path.lexists(target):  # deleted before: keep both
            number += 1
            target = stem_dir / f"{folder.path.name}~{number}"
        origin = folder.run_id
        _move_held(folder, target, "delete", f"cannot move {origin} to the trash")
        trashed = RunFolder(target)
        deleted = datetime.now().isoformat(timespec="seconds")
        with contextlib.suppress(RunStoreError):  # without it, restore reads the path
            _write_atomic(trashed.trash_record, json.dumps({"run": origin, "deleted": deleted}))
        moved.append(Trashed(trashed, origin, deleted, trashed.info()))
    return moved


def _safe_part(part: str) -> bool:
    return bool(part) and not part.startswith(".") and not any(c in part for c in "/\\\0")


def _record(folder: RunFolder) -> tuple[str, str]:
    """(origin, deleted) from the trash record; the origin read from the path without one."""
    stamp = folder.path.name
    fallback = f"{folder.path.parent.name}/{stamp.split('~')[0]}"
    try:
        data = folder.read_json(folder.trash_record)
    except RunStoreError:
        return fallback, ""
    data = data if isinstance(data, dict) else {}
    origin, deleted = data.get("run"), data.get("deleted")
    parts = origin.split("/") if isinstance(origin, str) else []
    if len(parts) != 2 or not all(_safe_part(part) for part in parts):
        origin = fallback
    return origin, deleted if isinstance(deleted, str) else ""


def _trash(root: Path) -> Path | None:
    trash = trash_dir(root)
    _no_link(trash, "delete")
    return trash if trash.is_dir() else None


def trashed_runs(root: Path) -> list[Trashed]:
    """The runs in the trash, the most recently deleted first.

    Raises:
        RunStoreError: `.trash` is a symbolic link.
    """
    trash = _trash(root)
    if trash is None:
        return []
    entries = []
    for stem_dir in sorted(trash.iterdir()):
        if stem_dir.is_symlink() or not stem_dir.is_dir():
            continue
        for path in sorted(stem_dir.iterdir()):
            if not path.is_symlink() and path.is_dir():
                folder = RunFolder(path)
                origin, deleted = _record(folder)
                entries.append(Trashed(folder, origin, deleted, folder.info()))
    entries.sort(key=lambda t: (t.deleted, t.folder.path.name), reverse=True)
    return entries


def restore_run(root: Path, name: str) -> Trashed:
    """Move a run back from the trash to where it was deleted from.

    `name` is its trash name (`<stem>/<stamp>` or `<stem>/<stamp>~2`), its origin, or a stamp.

    Raises:
        RunStoreError: no such run in the trash, several match, or its place is taken.
    """
    entries = trashed_runs(root)
    matches = [t for t in entries if t.folder.run_id == name] or [
        t for t in entries if name in (t.origin, t.folder.path.name, t.origin.split("/")[1])
    ]
    if not matches:
        raise RunStoreError(f"no run {name!r} in the trash (see `tuilab runs --trash`)")
    if len(matches) > 1:
        ids = ", ".join(t.folder.run_id for t in matches)
        raise RunStoreError(f"{name!r} names several runs in the trash ({ids}): give one of them")
    entry = matches[0]
    _refuse_live(entry.folder, "restore")
    stem, stamp = entry.origin.split("/")
    target = root / stem / stamp
    if os.path.lexists(target):
        raise RunStoreError(f"{target} exists: move it away first, then restore {name}")
    _real_dir(root / stem)
    _remove_file(entry.folder.trash_record)
    try:
        _move_held(entry.folder, target, "restore", f"cannot restore {name}")
    except RunStoreError:
        _write_atomic(entry.folder.trash_record, json.dumps({"run": entry.origin}))
        raise
    with contextlib.suppress(OSError):
        entry.folder.path.parent.rmdir()  # the trash's scenario folder, once empty
    return Trashed(RunFolder(target), entry.origin, entry.deleted, RunFolder(target).info())


def purge_trash(root: Path) -> int:
    """Delete everything in `<root>/.trash` (links are removed, never followed).

    Returns how many entries (runs, and anything else found there) were deleted.

    Raises:
        RunStoreError: `.trash` is a link, or something cannot be deleted.
    """
    trash = _trash(root)
    if trash is None:
        return 0
    for entry in trashed_runs(root):  # every check before anything is deleted
        _refuse_live(entry.folder, "purge")
    count = 0
    for entry in sorted(trash.iterdir()):
        if entry.is_dir() and not entry.is_symlink():  # a scenario's folder of deleted runs
            for path in sorted(entry.iterdir()):
                _delete(path)
                count += 1
        else:
            count += 1
        _delete(entry)
    with contextlib.suppress(OSError):
        trash.rmdir()  # unless something arrived meanwhile
    return count


def _delete(path: Path) -> None:
    """Delete a file, a link (not what it points to) or a folder tree (links inside too)."""
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path)  # removes links, never follows them
    except OSError as exc:
        raise RunStoreError(f"cannot delete {path}: {exc.strerror or exc}") from None


@dataclass(frozen=True)
class Annotations:
    """A run's tags and note as `show`, `compare` and `report` print them, and what is wrong."""

    tags: tuple[str, ...] = ()
    note: str = ""
    problems: tuple[str, ...] = ()


def annotations(folder: RunFolder) -> Annotations:
    """The run's tags and note; a corrupt file is a problem, never an exception."""
    tags, note, problems = (), "", []
    try:
        tags = read_tags(folder.tags_txt)
    except RunStoreError as exc:
        problems.append(str(exc))
    try:
        note = read_note(folder.note_md)
    except RunStoreError as exc:
        problems.append(str(exc))
    return Annotations(tags, note, tuple(problems))
