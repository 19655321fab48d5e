"""A selection list whose Space toggles the option highlighted when the key is pressed.

Textual's SelectionList turns Space into an OptionSelected message and toggles whatever is
highlighted when that message is handled. Keys that arrive together (a fast burst: Space, Down,
Space) are all handled first, so both Spaces toggled the option Down moved to: chosen, then
unchosen again. Here the toggle happens in the key's own action, before the next key is read.
"""

from __future__ import annotations

from textual.widgets import SelectionList


class ToggleList(SelectionList[int]):
    """Space (or a click) toggles the option highlighted at that moment, in order."""

    def action_select(self) -> None:
        """Toggle the highlighted option now (no message in between to be handled late)."""
        highlighted = self.highlighted
        if highlighted is None:
            return
        option = self.get_option_at_index(highlighted)
        if not option.disabled:
            self.toggle(option)
