"""A question answered with one key, as a modal screen."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label


@dataclass(frozen=True)
class Choice:
    """One answer: the key that gives it, what it does, and the value the screen returns."""

    key: str
    label: str
    value: str


class ChoiceScreen(ModalScreen[str | None]):
    """Answer with a choice's key; Escape answers None (do nothing)."""

    def __init__(self, question: str, choices: list[Choice], cancel: str = "cancel") -> None:
        super().__init__()
        self.question = question
        self.choices = choices
        self.cancel = cancel

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label(self.question, markup=False)
            for choice in self.choices:
                yield Label(f"[b]{choice.key}[/b]  {choice.label}", classes="choice")
            yield Label(f"[b]Esc[/b]  {self.cancel}", classes="choice")

    def on_key(self, event: events.Key) -> None:
        """Dismiss with the value of the choice whose key was pressed."""
        if event.key == "escape":
            event.stop()
            self.dismiss(None)
            return
        for choice in self.choices:
            if event.key == choice.key:
                event.stop()
                self.dismiss(choice.value)
                return
