"""Find the line of a key path in TOML text, so errors can point at it.

tomllib keeps no positions, so this scans the text: table headers, `key =` lines and the
inline tables of an array (one per line, as scenarios are written).
"""

from __future__ import annotations

import re

KeyPath = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-.\"' ]+?)\s*=")
_INLINE_KEY = re.compile(r"([A-Za-z0-9_\-]+)\s*=")


def _split_key(text: str) -> list[str]:
    return [part.strip().strip("\"'") for part in text.split(".")]


def line_index(text: str) -> dict[KeyPath, int]:
    """Map every key path seen in `text` (and each prefix) to its first 1-based line."""
    lines: dict[KeyPath, int] = {}
    table: KeyPath = ()
    array_counts: dict[KeyPath, int] = {}
    open_array: KeyPath | None = None
    array_item = 0

    def record(path: KeyPath, lineno: int) -> None:
        for end in range(1, len(path) + 1):
            lines.setdefault(path[:end], lineno)

    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if open_array is not None:
            if stripped.startswith("{"):
                item: KeyPath = (*open_array, array_item)
                record(item, lineno)
                for key in _INLINE_KEY.findall(stripped):
                    record((*item, key), lineno)
                array_item += 1
            if stripped.startswith("]"):
                open_array = None
            continue
        header = _HEADER.match(line)
        if header and not _ASSIGN.match(line):
            path = tuple(_split_key(header.group(2)))
            if header.group(1) == "[[":
                index = array_counts.get(path, 0)
                array_counts[path] = index + 1
                table = (*path, index)
            else:
                table = path
            record(table, lineno)
            continue
        assign = _ASSIGN.match(line)
        if assign:
            path = (*table, *_split_key(assign.group(1)))
            record(path, lineno)
            rest = line[assign.end() :].strip()
            if rest.startswith("[") and "]" not in rest:
                open_array, array_item = path, 0
            elif rest.startswith("{"):
                for key in _INLINE_KEY.findall(rest):
                    record((*path, key), lineno)
    return lines


def find_line(index: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of `path`, or of its longest prefix that has one."""
    for end in range(len(path), 0, -1):
        if path[:end] in index:
            return index[path[:end]]
    return None


def render_path(path: KeyPath) -> str:
    """`("model", "layers", 2, "units")` -> `model.layers[2].units`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text
