"""Deep merge of variant tables and `--set key=value` overrides."""

from __future__ import annotations

import copy
import tomllib
from typing import Any

from tuilab.errors import Problem


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return `base` with `override` merged in: tables merge, everything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse `key.path=value`; the value is TOML, or a bare string when it is not valid TOML.

    Raises:
        ValueError: when there is no `=` or the key is empty.
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ValueError(f"--set expects key=value, got {text!r}")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.split("."), value


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


def parse_overrides(items: list[str]) -> tuple[list[tuple[list[str], Any]], list[Problem]]:
    """Parse every `--set`; return the parsed pairs and a problem for each malformed one."""
    parsed: list[tuple[list[str], Any]] = []
    problems: list[Problem] = []
    for item in items:
        try:
            parsed.append(parse_override(item))
        except ValueError as exc:
            problems.append(Problem(str(exc), key="--set", hint="e.g. --set fit.epochs=2"))
    return parsed, problems
