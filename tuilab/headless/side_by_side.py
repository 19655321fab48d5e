"""Tables with one column per compared selection (scenario keys, layer rows), for the shell.

A selection's column is never narrower than its label (`20261206-204204:adam` stays whole) nor
than its cells' longest atom; when the selections do not fit beside the first column, the table
becomes several, each with the first column and as many selections as fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text

from tuilab.headless.fold import cell_lines, fold_line, groups
from tuilab.presentation.text import clean

Atoms = list[str]
"""A cell cut where it may break, each atom with its separator (see `tuilab.headless.fold`)."""


@dataclass(frozen=True)
class SideRow:
    """One row: its first cell and one cell per selection, as atoms."""

    first: Atoms
    cells: Sequence[Atoms]
    style: str = ""


def _joined(atoms: Atoms) -> int:
    return len("".join(atoms).rstrip())


def _longest(atoms: Atoms) -> int:
    return max((len(atom.rstrip()) for atom in atoms), default=0)


def _grow(widths: list[int], fulls: list[int], room: int) -> int:
    """Widen each column towards its full width while there is room; the room left."""
    for index, full in enumerate(fulls):
        extra = max(min(room, full - widths[index]), 0)
        widths[index] += extra
        room -= extra
    return room


def side_by_side(
    title: str,
    first_header: str,
    labels: Sequence[str],
    rows: Sequence[SideRow],
    width: int,
    justify_first: str = "left",
) -> list[Table]:
    """The rows under the first column and one column per label, as one table or several."""
    labels = [clean(label) for label in labels]
    first_min = max([len(first_header), *(_longest(r.first) for r in rows)])
    first_full = max([len(first_header), *(_joined(r.first) for r in rows)])
    mins = [max([len(lb), *(_longest(r.cells[i]) for r in rows)]) for i, lb in enumerate(labels)]
    fulls = [max([len(lb), *(_joined(r.cells[i]) for r in rows)]) for i, lb in enumerate(labels)]
    runs = groups(first_min, mins, width)
    tables = []
    for number, run in enumerate(runs, 1):
        widths = [mins[i] for i in run]
        room = width - 1 - (first_min + 3) - sum(w + 3 for w in widths)
        first = [first_min]
        room = _grow(first, [first_full], room)
        _grow(widths, [fulls[i] for i in run], room)
        shown = title if len(runs) == 1 else f"{title} ({number} of {len(runs)})"
        table = Table(title=Text(fold_line(clean(shown), width)), title_justify="left")
        table.add_column(Text(first_header), width=first[0], overflow="fold", justify=justify_first)
        for index, size in zip(run, widths, strict=True):
            table.add_column(Text(labels[index]), width=size, overflow="fold")
        for row in rows:
            cells = [cell_lines(row.cells[i], size) for i, size in zip(run, widths, strict=True)]
            if not any(cells):
                continue  # nothing of this row in these selections (a shorter layer table)
            table.add_row(
                Text(cell_lines(row.first, first[0])),
                *(Text(clean(cell, multiline=True)) for cell in cells),
                style=row.style,
            )
        tables.append(table)
    return tables
