"""The `?` screen: every key of the screen beneath that applies now, described, on one screen."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import ClassVar, NamedTuple

from rich.table import Table
from rich.text import Text
from textual.actions import parse as parse_action
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Static

from tuilab.presentation.text import clean


class KeysScreen(ModalScreen[None]):
    """Every key of one screen that applies now: its own (and its focused tuilab widgets'),
    then the app's; keys shown disabled are dim. Textual's generic keys get one line."""

    BINDINGS: ClassVar[list[Binding]] = [
        Binding("escape,question_mark,q", "close", "Close", id="keys.close"),
    ]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.entries = own_keys(screen)
        kind = type(screen).__name__.removesuffix("Screen").lower()
        self.name_shown = clean(f"{kind}: {screen.sub_title}" if screen.sub_title else kind)

    def compose(self) -> ComposeResult:
        with Vertical(id="keys-box"):
            yield Static(Text(f"Keys: {self.name_shown}", style="bold"), id="keys-title")
            yield Static(_key_table(self.entries), id="keys-table")
            yield Static(Text(GENERIC_KEYS, style="dim"), id="keys-generic")

    def action_close(self) -> None:
        """Back to the screen."""
        self.dismiss(None)


GENERIC_KEYS = (
    "The keys that apply now (dim: not available yet).  Esc, ? or q closes it.\n"
    "Lists: arrows PgUp PgDn Home End ⏎.  Tab: next panel.  ^p: command palette."
)


class KeyEntry(NamedTuple):
    """One line of the keys screen: its keys as shown, what they do, and whether they run
    now; `node` and `action` are its first binding's (what the command palette runs)."""

    keys: str
    what: str
    on: bool
    node: DOMNode
    action: str


def own_keys(screen: Screen) -> list[KeyEntry]:
    """The bindings tuilab's own classes define on `screen`, its focused widgets and the app,
    in that order: those whose `check_action` hides them now (False) left out, those it
    disables (None) marked unavailable. Keys with one description (`<` `>` BN layer) share
    an entry."""
    app = screen.app
    chain = screen.focused.ancestors_with_self if screen.focused else []
    nodes = [screen, *[n for n in chain if isinstance(n, Widget) and n.screen is not n], app]
    keymap: dict[str, str] = getattr(app, "_keymap", None) or {}
    entries: dict[tuple[int, str], KeyEntry] = {}
    for index, node in enumerate(nodes):
        for binding in _tuilab_bindings(type(node)):
            state = _action_state(node, binding)
            if state is False:
                continue
            keys = keymap.get(binding.id, binding.key) if binding.id else binding.key
            what = binding.description + (f" — {binding.tooltip}" if binding.tooltip else "")
            entry = entries.get((index, what), KeyEntry("", what, False, node, binding.action))
            shown = entry.keys.split()
            for key in keys.split(","):
                display = app.get_key_display(dataclasses.replace(binding, key=key.strip()))
                if display not in shown:
                    shown.append(display)
            entries[index, what] = entry._replace(keys=" ".join(shown), on=entry.on or bool(state))
    return list(entries.values())


def _tuilab_bindings(cls: type) -> list[Binding]:
    """The bindings declared by tuilab's classes in `cls`'s MRO (Textual's own left out)."""
    seen: list[Binding] = []
    for base in reversed(cls.__mro__):
        if base.__module__.startswith("tuilab.") and "BINDINGS" in vars(base):
            seen.extend(Binding.make_bindings(vars(base)["BINDINGS"]))
    return seen


def _action_state(node: DOMNode, binding: Binding) -> bool | None:
    """`check_action` on the binding's action: True runs, None is disabled, False hidden."""
    target, name, parameters = parse_action(binding.action)
    return (node.app if target == "app" else node).check_action(name, parameters)


def _key_table(entries: list[KeyEntry]) -> Table:
    """Columns of key and description (one when few, three when many), top to bottom."""
    columns = 1 if len(entries) <= 8 else 2 if len(entries) <= 32 else 3
    rows = -(-len(entries) // columns)
    table = Table.grid(padding=(0, 1), expand=True)
    for _ in range(columns):
        table.add_column(justify="right", style="bold", no_wrap=True)
        table.add_column(ratio=1, overflow="ellipsis", no_wrap=True)
    for row in range(rows):
        cells: list[Text] = []
        for column in range(columns):
            index = column * rows + row
            if index < len(entries):
                entry = entries[index]
                style = "" if entry.on else "dim"
                cells += [Text(entry.keys, style=style), Text(clean(entry.what), style=style)]
            else:
                cells += [Text(), Text()]
        table.add_row(*cells)
    return table


def palette_entries(screen: Screen) -> Iterable[SystemCommand]:
    """Command-palette entries for `screen`'s own keys that apply now (those `?` lists as
    available), one per description: `<` and `>` give one "BN layer" entry, running the
    first key's action."""
    for entry in own_keys(screen):
        if entry.on and entry.node is screen:
            yield SystemCommand(
                entry.what,
                f"key: {entry.keys}",
                lambda action=entry.action: screen.run_action(action),
            )
