"""Turn pydantic validation errors into (key path, message, hint), and suggest fixes.

Key paths and names are shown as the user wrote them (case and all), and escaped with `repr`
so a control character or a terminal escape sequence in a hostile file is never printed raw.
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import Any

from pydantic import BaseModel, ValidationError

from tuilab.scenario.locate import KeyPath

MAX_SHOWN = 60
"""Characters of a user's name or value shown in a message."""
MAX_ERRORS = 200
"""Pydantic errors converted per validation; a file with more shows the first ones."""


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """`repr(value)`, cut to about `limit` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[:limit] + "…" + (text[0] if text[0] in "'\"" else "")


def suggest(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """A 'did you mean' hint: a name that differs only in case first, then a close one."""
    return _suggest(word[:101], tuple(choices))


@functools.lru_cache(maxsize=1024)
def _suggest(word: str, choices: tuple[str, ...]) -> str:
    if len(word) > 100:
        return "valid: " + ", ".join(choices) if 0 < len(choices) <= 12 else ""
    lowered = {c.lower(): c for c in choices}
    if word.lower() in lowered and lowered[word.lower()] != word:
        return f"did you mean {lowered[word.lower()]!r}? names are case-sensitive"
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if choices and len(choices) <= 12:
        return "valid: " + ", ".join(choices)
    return ""


def model_at(model: type[BaseModel], loc: KeyPath) -> type[BaseModel] | None:
    """The pydantic model reached by following the field names `loc` from `model`."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        info = current.model_fields.get(str(part))
        if info is None:
            return None
        annotation = info.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def model_fields(model: type[BaseModel], loc: KeyPath) -> list[str]:
    """The field names of the pydantic model reached by following `loc` from `model`."""
    found = model_at(model, loc)
    return list(found.model_fields) if found else []


def clean_loc(loc: tuple[Any, ...], data: Any, keep_last: bool) -> KeyPath:
    """The part of a pydantic error location that exists in `data`.

    Pydantic inserts the member of a union it tried (`str`, `dict[str,any]`, a class name) into
    the location; those are not keys of the input, so following the input drops them, whatever
    a user's own keys look like. `keep_last` keeps a final key that is absent (a missing field).
    """
    path: list[str | int] = []
    node = data
    for position, part in enumerate(loc):
        in_dict = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
        elif keep_last and position == len(loc) - 1 and isinstance(part, str | int):
            node = None
        else:
            continue
        path.append(part)
    return tuple(path)


def _message(error: dict[str, Any]) -> str:
    message = (
        str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "should be")
    )
    return re.sub(r" or instance of \w+", "", message)


def problems_from_validation(
    exc: ValidationError, model: type[BaseModel], data: Any
) -> list[tuple[KeyPath, str, str]]:
    """Convert pydantic errors on `data` to (key path, message, hint), merging union members."""
    grouped: dict[KeyPath, list[str]] = {}
    inputs: dict[KeyPath, Any] = {}
    hints: dict[KeyPath, str] = {}
    for error in exc.errors(include_url=False)[:MAX_ERRORS]:
        kind = error["type"]
        path = clean_loc(
            tuple(error["loc"]), data, keep_last=kind in ("missing", "extra_forbidden")
        )
        if kind == "extra_forbidden" and path:
            key = str(path[-1])
            grouped.setdefault(path, []).append(f"unknown key {shown(key)}")
            hints[path] = suggest(key, model_fields(model, path[:-1]))
            continue
        message = _message(error)
        got = error.get("input")
        if kind not in ("missing", "value_error") and not isinstance(got, dict | list):
            inputs[path] = got
        if kind == "literal_error" and isinstance(got, str):
            choices = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
            hints[path] = suggest(got, choices)
        if message not in grouped.setdefault(path, []):
            grouped[path].append(message)
    deeper = {p[:n] for p in grouped for n in range(len(p))}
    problems = []
    for path, messages in grouped.items():
        if path in deeper:
            continue  # a union member matched deeper down: its error is the useful one
        text = messages[0] + "".join(" or " + m.removeprefix("should be ") for m in messages[1:])
        if path in inputs:
            text += f", got {shown(inputs[path])}"
        problems.append((path, text, hints.get(path, "")))
    return problems
