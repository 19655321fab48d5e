"""The run store's crash-safe file writes: one atomic write (a fresh temporary file, renamed over
the target), appends that never follow a link, history CSV and JSON-lines files cut back to an
epoch, and a half-written last line (what a kill leaves) dropped.

Every write here refuses to go through a symbolic link: the temporary file is created with
`O_EXCL | O_NOFOLLOW` under a random name (so a planted `.results.json.tmp` link is never
opened), `os.replace` swaps the name itself (a link at the target is replaced, not followed),
and appends open with `O_NOFOLLOW`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from tuilab.runtime.csv_cells import safe_writer

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


@contextlib.contextmanager
def atomic_file(path: Path, *, durable: bool = True, mode: int = 0o644) -> Iterator[IO[bytes]]:
    """A binary stream whose bytes replace `path` in one rename when the block ends.

    Readers never see half a file; an error inside the block leaves `path` as it was and no
    temporary file behind. `durable` flushes the bytes to disk before the rename (a power cut
    then keeps the old file or the new one, never an empty one).
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    descriptor = os.open(temporary, flags, mode)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            yield stream
            stream.flush()
            if durable:
                os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Replace `path` with `data` in one rename (see `atomic_file`)."""
    with atomic_file(path, durable=durable) as stream:
        stream.write(data)


def write_with(path: Path, write: Callable[[IO[bytes]], None], *, durable: bool = True) -> None:
    """Replace `path` with what `write` puts into a binary stream (`np.savez`, say)."""
    with atomic_file(path, durable=durable) as stream:
        write(stream)


def open_append(path: Path, *, newline: str | None = None) -> IO[str]:
    """`path` opened to append text (created when missing), never through a link."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC
    descriptor = os.open(path, flags, 0o644)
    return open(descriptor, "a", encoding="utf-8", newline=newline)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file, then rename: readers never see half a file."""
    text = json.dumps(data, indent=2, allow_nan=False, default=_json_default)
    write_atomic(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def cut_partial_line(path: Path) -> None:
    """Drop a half-written last line (what a kill leaves), so appending starts a new line."""
    with open(os.open(path, os.O_RDWR | _NOFOLLOW | _CLOEXEC), "rb+") as stream:
        stream.seek(0, os.SEEK_END)
        size = stream.tell()
        if size == 0:
            return
        stream.seek(max(0, size - 1))
        if stream.read(1) == b"\n":
            return
        data = (stream.seek(0), stream.read())[1]
        stream.truncate(data.rfind(b"\n") + 1)


def read_csv(path: Path) -> list[list[str]]:
    """The non-empty rows of a CSV file."""
    with open(path, newline="", encoding="utf-8") as stream:
        return [row for row in csv.reader(stream) if row]


def write_csv(path: Path, rows: list[list[str]]) -> None:
    """Write `rows` to a temporary file, then rename."""
    text = io.StringIO(newline="")
    safe_writer(text).writerows(rows)
    write_atomic(path, text.getvalue().encode("utf-8"), durable=False)


def keep_lines_until(path: Path, epoch: int | None) -> None:
    """Keep only the JSON lines of `path` up to `epoch` (None: none), rewritten then renamed."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept_lines = [line for line in lines if epoch is not None and _line_epoch(line) <= epoch]
    write_atomic(path, "".join(kept_lines).encode("utf-8"), durable=False)


def epoch_of(text: str) -> int:
    """The epoch of a history row's first cell; one tuilab did not write is past every epoch."""
    try:
        return int(text)
    except ValueError:
        return 1 << 62  # not a row tuilab wrote: dropped


def _line_epoch(line: str) -> int:
    try:
        epoch = json.loads(line).get("epoch")
    except (ValueError, AttributeError):
        return 1 << 62
    return epoch if isinstance(epoch, int) else 1 << 62
