"""Deep merge of variant tables, `--set key=value` overrides and `--sweep` items."""

from __future__ import annotations

import copy
import json
import re
import tomllib
from typing import Any, NamedTuple

from tuilab.errors import Problem, UsageError

_KEY_PART = re.compile(r"[A-Za-z0-9_\-]+")
MAX_VALUE_CHARS = 10_000


class Override(NamedTuple):
    """One `--set` item: as given, its key path, and its value."""

    text: str
    path: list[str]
    value: Any


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return `base` with `override` merged in: tables merge, everything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def shown_item(text: str) -> str:
    """A `--set` item for a message: as typed, or escaped when it holds unprintable characters."""
    text = text if len(text) <= 80 else text[:80] + "…"
    return text if text.isprintable() else ascii(text)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse `key.path=value`; the value is TOML, or a bare string when it is not valid TOML.

    Raises:
        ValueError: when there is no `=`, or the key is not dotted letters, digits, `_`, `-`.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError("expects key=value")
    parts = [part.strip() for part in key.split(".")]
    for part in parts:
        if not _KEY_PART.fullmatch(part):
            raise ValueError(
                f"key part {part[:40]!r} is not a plain key: letters, digits, '_' and '-', "
                "joined by '.' (a list is set whole)"
            )
    raw = raw.strip()
    if len(raw) > MAX_VALUE_CHARS:
        raise ValueError(f"the value is over {MAX_VALUE_CHARS:,} characters")
    try:
        parsed = tomllib.loads(f"v = {raw}")
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        parsed = {}
    value = parsed["v"] if list(parsed) == ["v"] else raw
    return parts, value


def set_path(document: dict[str, Any], path: list[str], value: Any) -> None:
    """Set `document[path[0]][path[1]]... = value`, creating tables on the way."""
    node = document
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def parse_overrides(items: list[str]) -> tuple[list[Override], list[Problem]]:
    """Parse every `--set`; return the parsed items and a problem for each malformed one."""
    parsed: list[Override] = []
    problems: list[Problem] = []
    for item in items:
        try:
            path, value = parse_override(item)
        except ValueError as exc:
            problems.append(
                Problem(str(exc), key=f"--set {shown_item(item)}", hint="e.g. --set fit.epochs=2")
            )
            continue
        parsed.append(Override(item, path, value))
    return parsed, problems


def sweep_items(items: list[str]) -> list[str]:
    """`--sweep KEY=V1,V2,...` items as the `--set sweep.KEY=[V1, V2, ...]` items they mean.

    The values are read as one TOML array when they are one (`1e-3,1e-2`, `"a,b",c` is not),
    else split at each comma, each value TOML or a bare string (`adam,sgd`).

    Raises:
        UsageError: an item is not `KEY=V1,V2,...`.
    """
    converted = []
    for item in items:
        key, sep, raw = item.partition("=")
        try:
            parse_override(f"{key}=0")
        except ValueError as exc:
            raise UsageError(f"--sweep {shown_item(item)}: {exc}") from None
        if not sep or not raw.strip():
            raise UsageError(
                f"--sweep {shown_item(item)}: expects KEY=V1,V2,... "
                "(e.g. --sweep fit.batch_size=32,64)"
            )
        if len(raw) > MAX_VALUE_CHARS:
            raise UsageError(f"--sweep {shown_item(item)}: over {MAX_VALUE_CHARS:,} characters")
        try:
            tomllib.loads(f"v = [{raw}]")
            values = raw
        except (tomllib.TOMLDecodeError, RecursionError, ValueError):
            values = ", ".join(_toml_or_string(part) for part in _top_level_split(raw))
        converted.append(f"sweep.{key.strip()}=[{values}]")
    return converted


def _top_level_split(text: str) -> list[str]:
    """Split at the commas outside brackets, braces and quotes (`{ a = 1, b = 2 },x`)."""
    parts, depth, quote, start = [], 0, "", 0
    for index, character in enumerate(text):
        if quote:
            quote = "" if character == quote else quote
        elif character in "\"'":
            quote = character
        elif character in "[{":
            depth += 1
        elif character in "]}":
            depth -= 1
        elif character == "," and depth <= 0:
            parts.append(text[start:index])
            start = index + 1
    return [*parts, text[start:]]


def _toml_or_string(text: str) -> str:
    """`text` when it is a TOML value, else it as a TOML string."""
    text = text.strip()
    try:
        tomllib.loads(f"v = {text}")
        return text
    except (tomllib.TOMLDecodeError, RecursionError, ValueError):
        return json.dumps(text, ensure_ascii=False)
