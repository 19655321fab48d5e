"""User text made safe to show: no markup interpreted, no control character reaching a terminal.

Scenario files and run stores are shared, so a name may hold Rich markup (`[/]`), an escape
sequence that retitles or clears the terminal, or bidirectional overrides. Every front end shows
such text through `clean` (a plain string) or `plain` (a Rich `Text`, never parsed as markup).
"""

from __future__ import annotations

import re

from rich.text import Text

# C0 and C1 controls, DEL, and the zero-width and bidirectional formatting characters.
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_KEPT_IN_BLOCKS = {"\n", "\t"}


def _visible(character: str) -> str:
    return f"\\x{ord(character):02x}" if ord(character) < 0x100 else f"\\u{ord(character):04x}"


def clean(value: object, *, multiline: bool = False, limit: int | None = None) -> str:
    """`value` as text with every control character shown as an escape (`\\x1b`).

    Args:
        value: Anything; `str()` is taken.
        multiline: Keep newlines and tabs (for messages); else they become spaces.
        limit: Cut to this many characters with `…` (for names only, never numbers).
    """
    text = str(value)

    def replace(match: re.Match[str]) -> str:
        character = match.group(0)
        if character in _KEPT_IN_BLOCKS:
            return character if multiline else " "
        return _visible(character)

    text = _UNSAFE.sub(replace, text)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def plain(value: object, style: str = "", *, multiline: bool = False) -> Text:
    """A Rich `Text` of `clean(value)`: safe to hand to Rich or Textual, never read as markup."""
    return Text(clean(value, multiline=multiline), style=style)


def has_control(text: str) -> bool:
    """True when `text` holds a character `clean` would escape (tests use it on output)."""
    return any(c not in _KEPT_IN_BLOCKS for c in _UNSAFE.findall(text))


def compact_trial(name: str, width: int) -> str:
    """A trial's name for a narrow column: whole when it fits, else a sweep trial's values.

    `adam[lr=0.01,batch=32]` becomes `adam:0.01,32`, then `a:0.01,32` (a sweep of the implicit
    `default` variant: `0.01,32`; `.r2` kept) when the whole name does not fit, so the trials of
    a sweep stay apart in a 28-column sidebar; the full name is in the tabs and the legend.
    """
    if len(name) <= width:
        return clean(name)
    base, bracket, rest = name.partition("[")
    inner, closing, suffix = rest.rpartition("]")
    if not (bracket and closing):
        return clean(name, limit=width)
    values = ",".join(part.partition("=")[2] or part for part in inner.split(",")) + suffix
    shorter = values if base == "default" else f"{base[:1]}:{values}"
    for candidate in (f"{base}:{values}", shorter):
        if len(candidate) <= width:
            return clean(candidate)
    return clean(shorter, limit=width)
