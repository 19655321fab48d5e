"""Read a scenario file safely: a regular file, bounded in size, UTF-8, TOML, bounded in depth.

Everything that can go wrong becomes a `ScenarioError`: a FIFO or a device is refused before it
is opened (and opened non-blocking, so one swapped in meanwhile cannot hang the reader), at most
`MAX_FILE_BYTES + 1` bytes are ever read, and keys nested deeply enough to make `tomllib`
quadratic are refused before it parses them.
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
from pathlib import Path
from typing import Any

from tuilab.errors import Problem, ScenarioError
from tuilab.scenario.locate import KeyPath, find_line, line_index

MAX_FILE_BYTES = 1_000_000
MAX_KEY_PARTS = 64
"""Dotted parts in one key or table header (`a.b.c` has 3); tomllib is quadratic in them."""
MAX_NESTING = 32
"""Tables and arrays inside each other in the parsed document."""

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_STRING = re.compile(r"\"(?:[^\"\\\n]|\\.)*+\"?|'[^'\n]*+'?")
_SEGMENT = r"[A-Za-z0-9_\-]++"
_DEEP_KEY = re.compile(
    rf"(?<![A-Za-z0-9_\-]){_SEGMENT}(?:[ \t]*+\.[ \t]*+{_SEGMENT}){{{MAX_KEY_PARTS},}}+"
)
_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _fail(path: Path, message: str, hint: str = "", line: int | None = None) -> ScenarioError:
    return ScenarioError(path, [Problem(message, line=line, hint=hint)])


def _check_mode(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise _fail(path, "is a folder, not a scenario file")
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "a special file")
        raise _fail(
            path, f"is not a regular file: it is {kind}", "give the path of a .toml scenario file"
        )


def _too_large(path: Path, size: int | None) -> ScenarioError:
    said = f"is {size:,} bytes" if size is not None else f"is over {MAX_FILE_BYTES:,} bytes"
    return _fail(
        path,
        f"{said}; a scenario file is at most {MAX_FILE_BYTES:,} bytes",
        "larger than 1 MB: is this really a scenario?",
    )


def _unreadable(path: Path, exc: OSError | ValueError) -> ScenarioError:
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return _fail(path, f"cannot be read: {reason}")


def read_bounded(path: Path) -> bytes:
    """The bytes of the regular file `path`, at most `MAX_FILE_BYTES` of them.

    Raises:
        ScenarioError: missing, not a regular file, too large, or unreadable.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise _fail(path, "file not found") from None
    except (OSError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    _check_mode(path, info.st_mode)
    if info.st_size > MAX_FILE_BYTES:
        raise _too_large(path, info.st_size)
    flags = os.O_RDONLY
    for name in ("O_NONBLOCK", "O_NOCTTY", "O_CLOEXEC"):
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise _fail(path, "file not found") from None
    except OSError as exc:
        raise _unreadable(path, exc) from None
    chunks: list[bytes] = []
    try:
        _check_mode(path, os.fstat(fd).st_mode)  # it may have been swapped since the stat
        total = 0
        while total <= MAX_FILE_BYTES:
            chunk = os.read(fd, MAX_FILE_BYTES + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    finally:
        os.close(fd)
    raw = b"".join(chunks)
    if len(raw) > MAX_FILE_BYTES:
        raise _too_large(path, None)
    return raw


def decode(path: Path, raw: bytes) -> str:
    """UTF-8 text without a leading byte-order mark; anything else is a `ScenarioError`."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _fail(
            path,
            f"is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            "save the file as UTF-8",
            line,
        ) from None
    return text.removeprefix("\ufeff")


def _check_key_depth(path: Path, text: str) -> None:
    """Refuse a dotted key or header of more than `MAX_KEY_PARTS` parts (linear time)."""
    neutral = _STRING.sub("_", text)
    deep = _DEEP_KEY.search(neutral)
    if deep:
        line = neutral[: deep.start()].count("\n") + 1
        raise _fail(
            path,
            f"a dotted key has more than {MAX_KEY_PARTS} parts",
            "a scenario nests a few tables deep",
            line,
        )


def _deepest(document: dict[str, Any]) -> tuple[int, KeyPath]:
    """The nesting depth of `document` and the key path that reaches it (no recursion)."""
    best: tuple[int, KeyPath] = (0, ())
    stack: list[tuple[Any, KeyPath]] = [(document, ())]
    while stack:
        node, where = stack.pop()
        if len(where) > best[0]:
            best = (len(where), where)
        if len(where) > MAX_NESTING:
            break
        if isinstance(node, dict):
            stack.extend((value, (*where, key)) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, (*where, index)) for index, value in enumerate(node))
    return best


def parse(path: Path, text: str) -> dict[str, Any]:
    """Parse TOML text; syntax errors, absurd numbers and absurd nesting are `ScenarioError`s."""
    _check_key_depth(path, text)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _TOML_POSITION.search(message)
        line = int(position.group(1)) if position else None
        message = _TOML_POSITION.sub("", message).strip()
        raise _fail(
            path, f"TOML syntax error: {message}", "see https://toml.io for the syntax", line
        ) from None
    except RecursionError:
        raise _fail(
            path,
            "arrays or inline tables are nested too deeply to read",
            "a scenario nests a few tables deep",
        ) from None
    except ValueError as exc:  # an integer of more than 4300 digits
        digits = re.search(r"[0-9_]{4300}", text)
        line = text[: digits.start()].count("\n") + 1 if digits else None
        reason = str(exc).split(":")[0].split(";")[0]
        raise _fail(path, f"a value cannot be read: {reason}", line=line) from None
    depth, where = _deepest(document)
    if depth > MAX_NESTING:
        raise _fail(
            path,
            f"tables or arrays are nested more than {MAX_NESTING} deep",
            "a scenario nests a few tables deep",
            find_line(line_index(text), where),
        )
    return document


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Read and parse a scenario file; every failure becomes a `ScenarioError`."""
    text = decode(path, read_bounded(path))
    return parse(path, text), text
