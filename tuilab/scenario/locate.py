"""Find the line of a key path in TOML text, so errors can point at it, and show key paths.

tomllib keeps no positions, so this scans the text: table headers, `key =` lines, the inline
tables of an array, and skips the inside of multi-line strings. Every step is linear in the
length of a line, so a hostile file cannot make it slow.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable
from typing import Any

KeyPath = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_\-]+")
_BARE_DOTTED = re.compile(r"[A-Za-z0-9_\-]++(?:[ \t]*+\.[ \t]*+[A-Za-z0-9_\-]++)*+")
_PART = r"(?:[A-Za-z0-9_\-]++|\"(?:[^\"\\\n]|\\[btnfr\"\\]|\\u[0-9A-Fa-f]{4})*+\"|'[^'\n]*+')"
_SIMPLE_DOTTED = re.compile(rf"{_PART}(?:[ \t]*+\.[ \t]*+{_PART})*+")
_SIMPLE_PART = re.compile(_PART)
_STRING = re.compile(r"\"(?:[^\"\\\n]|\\.)*+\"?|'[^'\n]*+'?")
_INLINE_KEY = re.compile(r"(?<![A-Za-z0-9_\-])([A-Za-z0-9_\-]++)[ \t]*+=")
_SHOWN_PART = 60


def _neutral(line: str) -> str:
    """`line` with every string literal blanked out (same length), and its comment cut."""
    blank = _STRING.sub(lambda m: " " * len(m.group()), line)
    hash_at = blank.find("#")
    return blank if hash_at < 0 else blank[:hash_at]


def _parse_key(text: str) -> list[str] | None:
    """The parts of a TOML key (`a."b.c"` -> `["a", "b.c"]`), or None when it is not one."""
    text = text.strip()
    if _BARE_DOTTED.fullmatch(text):
        return [part.strip() for part in text.split(".")]
    if _SIMPLE_DOTTED.fullmatch(text):
        return [_unquote(part) for part in _SIMPLE_PART.findall(text)]
    try:
        node: Any = tomllib.loads(f"{text} = 0")
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return None
    return _single_path(node)


def _unquote(part: str) -> str:
    """A bare key, a literal `'key'`, or a basic `"key"` with JSON-compatible escapes."""
    if part[0] == "'":
        return part[1:-1]
    return json.loads(part) if part[0] == '"' else part


def _single_path(node: Any) -> list[str]:
    parts: list[str] = []
    while True:
        if isinstance(node, list) and len(node) == 1:
            node = node[0]
        if not (isinstance(node, dict) and len(node) == 1):
            return parts
        ((key, node),) = node.items()
        parts.append(key)


def _parse_header(line: str, neutral: str) -> tuple[list[str], bool] | None:
    """`[a.b]` -> (["a", "b"], False); `[[a]]` -> (["a"], True); None when not a header."""
    start, end = len(neutral) - len(neutral.lstrip()), len(neutral.rstrip())
    is_array = neutral.startswith("[[", start) and neutral.endswith("]]", 0, end)
    width = 2 if is_array else 1
    if end - start < 2 * width or neutral[end - 1] != "]":
        return None
    parts = _parse_key(line[start + width : end - width])
    return (parts, is_array) if parts else None


class _ArrayScan:
    """The state of a multi-line array value being scanned for its inline tables."""

    def __init__(self, path: KeyPath) -> None:
        self.path = path
        self.depth = 0
        self.braces = 0
        self.items = 0

    def feed(self, neutral: str, lineno: int, record: Callable[[KeyPath, int], None]) -> bool:
        """Scan one line's text; record each item table; True while the array is still open."""
        for position, char in enumerate(neutral):
            if char == "[":
                self.depth += 1
            elif char == "]":
                self.depth -= 1
                if self.depth <= 0:
                    return False
            elif char == "{":
                if self.depth == 1 and self.braces == 0:
                    item: KeyPath = (*self.path, self.items)
                    record(item, lineno)
                    end = neutral.find("}", position)
                    inside = neutral[position + 1 : end if end >= 0 else len(neutral)]
                    for key in _INLINE_KEY.findall(inside):
                        record((*item, key), lineno)
                    self.items += 1
                self.braces += 1
            elif char == "}":
                self.braces = max(0, self.braces - 1)
        return True


def line_index(text: str) -> dict[KeyPath, int]:
    """Map every key path seen in `text` (and each prefix) to its first 1-based line."""
    lines: dict[KeyPath, int] = {}
    table: KeyPath = ()
    array_counts: dict[KeyPath, int] = {}
    array: _ArrayScan | None = None
    in_string: str | None = None

    def record(path: KeyPath, lineno: int) -> None:
        for end in range(1, len(path) + 1):
            lines.setdefault(path[:end], lineno)

    for lineno, line in enumerate(text.splitlines(), start=1):
        if in_string is not None:
            if in_string in line:
                in_string = None
            continue
        neutral = _neutral(line)
        stripped = neutral.strip()
        if not stripped:
            continue
        if array is not None:
            if not array.feed(neutral, lineno, record):
                array = None
            continue
        equals = neutral.find("=")
        if stripped.startswith("["):
            header = _parse_header(line, neutral)
            if header is None:
                continue
            path, is_array = tuple(header[0]), header[1]
            if is_array:
                index = array_counts.get(path, 0)
                array_counts[path] = index + 1
                table = (*path, index)
            else:
                table = path
            record(table, lineno)
            continue
        if equals < 0:
            continue
        key = _parse_key(line[:equals])
        if key is None:
            continue
        path = (*table, *key)
        record(path, lineno)
        rest, neutral_rest = line[equals + 1 :].strip(), neutral[equals + 1 :].strip()
        for delimiter in ('"""', "'''"):
            if rest.startswith(delimiter) and delimiter not in rest[3:]:
                in_string = delimiter
        if neutral_rest.startswith("["):
            scan = _ArrayScan(path)
            if scan.feed(neutral_rest, lineno, record):
                array = scan
        elif neutral_rest.startswith("{"):
            for inline in _INLINE_KEY.findall(neutral_rest):
                record((*path, inline), lineno)
    return lines


def find_line(index: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of `path`, or of its longest prefix that has one."""
    for end in range(len(path), 0, -1):
        if path[:end] in index:
            return index[path[:end]]
    return None


def show_key(part: str) -> str:
    """A key as TOML would write it: bare when it can be, else quoted, unprintables escaped."""
    cut = part[:_SHOWN_PART]
    bare = _BARE.fullmatch(cut)
    shown = cut if bare else json.dumps(cut, ensure_ascii=not cut.isprintable())
    return shown + ("…" if len(part) > _SHOWN_PART else "")


def render_path(path: KeyPath) -> str:
    """`("model", "layers", 2, "units")` -> `model.layers[2].units`; odd keys are quoted."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            shown = show_key(str(part))
            text += f".{shown}" if text else shown
    return text
