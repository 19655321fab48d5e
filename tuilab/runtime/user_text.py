"""What a user writes into a run folder (its tags and note), read back without trusting it.

A stored run may come from anyone (`rsync`, a shared drive): these files are read through no
link, never opened when they are a FIFO or a device, bounded in size and checked. A file that
fails is reported (`RunStoreError`), which makes its run `corrupt` with the reason.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

from tuilab.errors import RunStoreError

MAX_TAGS = 64
MAX_TAGS_BYTES = 4096
MAX_NOTE_BYTES = 4096
TAG_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,31}")
"""A tag: a letter or digit, then up to 31 letters, digits, `_`, `.`, `:` or `-`."""


def read_small_text(path: Path, limit: int) -> str | None:
    """A small UTF-8 file (None when absent), never read through a link, FIFO or device.

    Raises:
        RunStoreError: a link, not a regular file, over `limit` bytes, or not UTF-8.
    """
    try:
        mode = path.lstat().st_mode
        if not stat.S_ISREG(mode):
            kind = "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"
            raise RunStoreError(f"{path.name} is {kind}")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as stream:
            data = stream.read(limit + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        what = "a symbolic link" if exc.errno == errno.ELOOP else f"unreadable ({exc.strerror})"
        raise RunStoreError(f"{path.name} is {what}") from None
    if len(data) > limit:
        raise RunStoreError(f"{path.name} is larger than {limit // 1024} KB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise RunStoreError(f"{path.name} is not UTF-8 text") from None


def read_tags(path: Path) -> tuple[str, ...]:
    """`tags.txt`: one tag a line (blank lines skipped, a repeated tag kept once).

    Raises:
        RunStoreError: unreadable (see `read_small_text`), or a line that is not a tag.
    """
    tags: list[str] = []
    text = read_small_text(path, MAX_TAGS_BYTES) or ""
    for number, line in enumerate(text.split("\n"), start=1):
        tag = line.strip()
        if tag and not TAG_PATTERN.fullmatch(tag):
            raise RunStoreError(f"{path.name} line {number}: {tag[:40]!r} is not a tag")
        if tag and tag not in tags:
            tags.append(tag)
    return tuple(tags)


def read_note(path: Path) -> str:
    """`note.md`, stripped ("" when there is none). Show it through `clean`: it is untrusted.

    Raises:
        RunStoreError: unreadable (see `read_small_text`).
    """
    return (read_small_text(path, MAX_NOTE_BYTES) or "").strip()
