"""A question answered with one key, as a modal screen."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from tuilab.presentation.text import plain


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
                yield Label(
                    Text.assemble((choice.key, "bold"), "  ", plain(choice.label)), classes="choice"
                )
            yield Label(Text.assemble(("Esc", "bold"), "  ", plain(self.cancel)), classes="choice")

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


class PromptScreen(ModalScreen[str | None]):
    """A line of text: Enter answers it, Escape answers None (do nothing)."""

    def __init__(self, question: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-box"):
            yield Label(self.question, markup=False)
            yield Input(
                self.value, placeholder=self.placeholder, id="prompt-input", select_on_focus=False
            )
            yield Label("[b]Enter[/b]  save   [b]Esc[/b]  cancel", classes="choice")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Answer with the text as typed."""
        event.stop()
        self.dismiss(event.value)

    def on_key(self, event: events.Key) -> None:
        """Escape cancels."""
        if event.key == "escape":
            event.stop()
            self.dismiss(None)
