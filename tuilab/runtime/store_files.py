"""The run store's crash-safe file writes: JSON written then renamed, history CSV and JSON-lines
files cut back to an epoch, and a half-written last line (what a kill leaves) dropped."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file, then rename: readers never see half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=2, allow_nan=False, default=_json_default)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def cut_partial_line(path: Path) -> None:
    """Drop a half-written last line (what a kill leaves), so appending starts a new line."""
    with open(path, "rb+") as stream:
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
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", newline="", encoding="utf-8") as stream:
        csv.writer(stream).writerows(rows)
    os.replace(temporary, path)


def keep_lines_until(path: Path, epoch: int | None) -> None:
    """Keep only the JSON lines of `path` up to `epoch` (None: none), rewritten then renamed."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kept_lines = [line for line in lines if epoch is not None and _line_epoch(line) <= epoch]
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text("".join(kept_lines), encoding="utf-8")
    os.replace(temporary, path)


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
