"""CSV cells a spreadsheet reads as data, never as a formula (CSV injection).

A stored run comes from anyone, and a CSV tuilab writes is opened in Excel, LibreOffice or
Google Sheets: a cell beginning with `=`, `+`, `-` or `@` (or a tab or carriage return, which
some importers drop before looking) is evaluated there, so a note `=HYPERLINK("http://x",
"click")` or `=cmd|' /C calc'!A0` would run. `safe_cell` follows OWASP's rule and prefixes such
a cell with `'`, which every spreadsheet reads as "text follows" (and shows without it).

A number is left alone, written as text or not (`-0.5`, `1e-05`, `-inf`, `nan`): a spreadsheet
reads it as a number, which is what it is. `safe_cell` is idempotent, so a file read back and
written again (a resumed run's `history.csv`) gains no second quote.

Every CSV tuilab writes goes through `safe_writer` (or `safe_row`).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
"""The first characters a spreadsheet may evaluate: `= + - @`, tab, carriage return, and the
full-width `＝ ＋ － ＠` that some locales' Excel reads as their ASCII forms."""
PREFIX = "'"
_NUMBER = re.compile(
    r"[+-]?(?:(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE
)
"""A plain decimal number as Python and spreadsheets write it: no spaces, no `_`."""


def is_number_text(text: str) -> bool:
    """True for `-0.5`, `1e-3`, `+2`, `-inf`, `nan` (as written, no surrounding spaces)."""
    return _NUMBER.fullmatch(text) is not None


def cell_text(value: object) -> str:
    """`value` as `csv.writer` writes it: None as "", a float by its shortest repr."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return float.__repr__(value)  # numpy's float64 repr is `np.float64(0.5)`
    return str(value)


def is_formula(text: str) -> bool:
    """True when a spreadsheet could evaluate `text`: it begins with one of `FORMULA_STARTS`,
    or does after leading spaces (importers that trim them), and is not a number."""
    if not text or is_number_text(text):
        return False
    return text[0] in FORMULA_STARTS or text.lstrip(" ")[:1] in FORMULA_STARTS


def safe_cell(value: object) -> str:
    """`value` as a CSV cell a spreadsheet shows as text: a formula prefixed with `'`.

    Numbers (and text that is a number) are left alone; `safe_cell(safe_cell(x))` is
    `safe_cell(x)`."""
    text = cell_text(value)
    return PREFIX + text if is_formula(text) else text


def safe_row(values: Iterable[object]) -> list[str]:
    """Every cell of a row through `safe_cell`."""
    return [safe_cell(value) for value in values]


class SafeWriter:
    """A `csv.writer` whose every cell goes through `safe_cell`."""

    def __init__(self, stream: Any, **options: Any) -> None:
        self._writer = csv.writer(stream, **options)

    def writerow(self, row: Iterable[object]) -> Any:
        """Write one row (`csv.writer.writerow`'s return value)."""
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write every row."""
        for row in rows:
            self.writerow(row)


def safe_writer(stream: Any, **options: Any) -> SafeWriter:
    """`csv.writer(stream, **options)`, with every cell through `safe_cell`."""
    return SafeWriter(stream, **options)
