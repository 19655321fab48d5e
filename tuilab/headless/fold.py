"""Fit shell output to the terminal without ever splitting a number, an id or a name.

A line or a cell is cut into *atoms* (a `name value` pair, a word, a dotted key's part) and
the atoms are packed into lines of the width; a terminal that wraps a longer line breaks it
anywhere (`lr 0.00` / `1`), so nothing printed here is longer than the width unless a single
atom is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from tuilab.presentation.columns import Column, Row, needed_width
from tuilab.presentation.text import clean

SEPARATORS = (" | ", "; ", ", ")
"""Where a long line breaks first: between its parts, then its clauses, then list items."""
CONTINUATION = "    "
"""Continuation lines of a folded line start with this."""
_NUMBER = re.compile(r"^[-+(]?[\d.,:]+(e[-+]?\d+)?[%s)×]*[,;]?$")


def _pairs(text: str) -> list[str]:
    """Words, a number kept with the word before it (`acc 0.887`, `lr 0.001`)."""
    atoms: list[str] = []
    for word in text.split(" "):
        if atoms and _NUMBER.match(word) and not _NUMBER.match(atoms[-1].split(" ")[-1]):
            atoms[-1] += " " + word
        elif word:
            atoms.append(word)
    return [atom + " " for atom in atoms]


def line_atoms(text: str, width: int, level: int = 0) -> list[str]:
    """`text` in pieces of at most `width` where it can be, each ending in its separator."""
    if len(text) <= width:
        return [text]
    if level == len(SEPARATORS):
        return _pairs(text)
    separator = SEPARATORS[level]
    parts = text.split(separator)
    atoms: list[str] = []
    for index, part in enumerate(parts):
        tail = separator if index < len(parts) - 1 else ""
        pieces = line_atoms(part, width, level + 1)
        pieces[-1] = pieces[-1].rstrip(" ") + tail
        atoms += pieces
    return atoms


def pack(atoms: Sequence[str], width: int, indent: str = "") -> list[str]:
    """Atoms joined into lines of at most `width` (an atom longer than that stays on the line
    it starts, which the terminal wraps anyway); lines after the first start with `indent`,
    unless only that keeps one within `width`."""
    lines: list[str] = []
    current = ""

    def close(text: str) -> None:
        text = text.rstrip()
        fits = not lines or len(indent + text) <= width or len(text) > width
        lines.append((indent if lines and fits else "") + text)

    for atom in atoms:
        prefix = indent if lines else ""
        alone = len(atom.rstrip()) <= width - len(indent)  # else no line holds it: it stays
        if current and alone and len(prefix + current + atom.rstrip()) > width:
            close(current)
            current = ""
        current += atom
    if current or not lines:
        close(current)
    return lines


UNBOUNDED = 1_000_000
"""The width of a pipe or a file: nothing wraps a line there, so none is folded."""


def line_width(console: Console) -> int:
    """The width lines are folded to: the terminal's, or `COLUMNS` when it is set; into a
    pipe or a file, unbounded (a log keeps each event on one line)."""
    if console.is_terminal or os.environ.get("COLUMNS", "").isdigit():
        return console.width
    return UNBOUNDED


def fold_line(text: str, width: int) -> str:
    """One line of output folded at its separators to `width`, numbers and names whole."""
    if len(text) <= width or width < 20:
        return text
    return "\n".join(pack(line_atoms(text, width), width, CONTINUATION))


def leading(text: str, width: int) -> str:
    """As many of `text`'s first atoms as fit in `width` (a live line that cannot fold drops
    its last values whole rather than cut one)."""
    if len(text) <= width:
        return text
    first = pack(line_atoms(text, 1), width)[0].rstrip(" |;,") if width > 0 else ""
    return first if len(first) <= width else ""


def heading(title: str, rest: str, width: int) -> Text:
    """`title` in bold, then `rest`, folded to `width` as one line (titles are user text)."""
    title = clean(title)
    text = Text(fold_line(title + clean(rest), width))
    text.stylize("bold", 0, len(title))
    return text


def key_atoms(key: str) -> list[str]:
    """A dotted key in parts that keep their dot (`compile.`, `optimizer.`, `learning_rate`):
    it may break after a dot, never inside a name."""
    parts = key.split(".")
    return [part + "." for part in parts[:-1]] + [parts[-1]]


def word_atoms(text: str) -> list[str]:
    """A cell's words, each with the space after it."""
    return [word + " " for word in text.split()] or [""]


def cell_lines(atoms: Sequence[str], width: int) -> str:
    """A cell's text wrapped to `width` at its atoms' ends (newlines Rich keeps as they are)."""
    return "\n".join(pack(atoms, width))


def column_widths(
    kept: Sequence[Column[Row]], rows: Sequence[Row], width: int, padding: int = 3
) -> list[int]:
    """Each kept column's width (no padding): numbers and ids at their widest, folding text at
    what it needs (its longest word at least) plus a share of the room left, up to its widest."""
    widths = [needed_width(c, rows, True) for c in kept]
    room = width - 1 - sum(w + padding for w in widths)
    for index, col in enumerate(kept):
        if col.fold and room > 0:
            widest = max([len(col.header), *(len(col.text(row)) for row in rows)])
            extra = max(min(room, widest - widths[index]), 0)
            widths[index] += extra
            room -= extra
    return widths


def groups(first: int, widths: Sequence[int], width: int, padding: int = 3) -> list[list[int]]:
    """Indices of `widths` in runs that fit beside a first column `first` wide (each run at
    least one column): a table too wide for the terminal becomes several, none cut."""
    runs: list[list[int]] = []
    used = first + padding + 1
    for index, size in enumerate(widths):
        if runs and runs[-1] and used + size + padding <= width:
            runs[-1].append(index)
            used += size + padding
        else:
            runs.append([index])
            used = first + padding + 1 + size + padding
    return runs
