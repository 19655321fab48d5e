"""A full-screen view of one trial over the dashboard, `<` `>` switching trial (the base of the
confusion and weights views): it redraws when what it shows changes or the width does."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.events import Resize
from textual.screen import ModalScreen
from textual.widgets import Static

from tuilab.app.run_state import RunState
from tuilab.presentation.text import plain


class TrialViewScreen(ModalScreen[None]):
    """Title line and a scrolling body for `self.trial`; subclasses draw the body."""

    PREFIX: ClassVar[str] = "trial"
    """The ids of the view's parts: `<prefix>-box`, `<prefix>-title`, `<prefix>-body`."""
    HEADING: ClassVar[str] = "Trial"
    """`<heading> of <trial> (2/3)` on the title line."""
    REFRESH_S: ClassVar[float] = 1.0

    DEFAULT_CSS = """
    TrialViewScreen { align: center middle; }
    TrialViewScreen > VerticalScroll {
        width: 100%; height: 100%; border: round $accent; padding: 0 1; background: $surface;
    }
    """

    def __init__(self, state: RunState, trial: str | None) -> None:
        super().__init__()
        self.state = state
        self.trial = trial if trial in state.trials else (state.trials or [None])[0]
        self._shown: object = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id=f"{self.PREFIX}-box"):
            yield Static(id=f"{self.PREFIX}-title")
            yield Static(id=f"{self.PREFIX}-body")

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()
        self._draw()
        self.set_interval(self.REFRESH_S, self._refresh)  # a live trial's numbers arrive later

    def shown_key(self) -> object:
        """What the body shows now; the view redraws when it changes."""
        return (self.trial, self.body_width())

    def _refresh(self) -> None:
        if self.trial is None and self.state.trials:  # opened before the first trial started
            self.trial = self.state.trials[0]
        if self._shown != self.shown_key():
            self._draw()

    def body_width(self) -> int:
        return max(self.query_one(f"#{self.PREFIX}-body", Static).content_size.width, 20)

    def body(self) -> Static:
        return self.query_one(f"#{self.PREFIX}-body", Static)

    def action_trial(self, step: int) -> None:
        """The previous or next trial of the run."""
        trials = self.state.trials
        if not trials:
            return
        position = trials.index(self.trial) if self.trial in trials else 0
        self.trial = trials[(position + step) % len(trials)]
        self._draw()

    def _draw(self) -> None:
        self._shown = self.shown_key()
        count = len(self.state.trials)
        where = f" ({self.state.trials.index(self.trial) + 1}/{count})" if self.trial else ""
        self.query_one(f"#{self.PREFIX}-title", Static).update(
            Text.assemble(
                plain(f"{self.HEADING} of {self.trial or '-'}{where}", "bold"),
                plain("  escape closes, < > switch trial", "dim"),
            )
        )
        self.draw_body(self.body_width())

    def draw_body(self, width: int) -> None:
        """Fill `self.body()` for `self.trial` in `width` columns."""
        raise NotImplementedError

    def on_resize(self, event: Resize) -> None:
        self.call_after_refresh(self._refresh)
