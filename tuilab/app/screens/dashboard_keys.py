"""The dashboard's keys, and which of them its footer shows for the run being viewed.

Every key applies or is hidden: steering keys exist only while the run trains (here, or in the
process an attached dashboard follows), `r` only once a run started here is over. An 80-column
footer holds about seven keys beside `q` Quit and `?` Keys (which lists every key that applies),
so it shows what matters now: the five steering keys while the run trains, the view keys once
it is over or for a stored run.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.binding import BindingsMap

    from tuilab.runtime.session import RunRequest

STEERING = ("stop", "stop_after_epoch", "stop_trial", "halve_lr", "checkpoint")
LIVE_FOOTER = frozenset(STEERING)
"""The footer while the run trains: the steering keys (with `q` Quit and `?` Keys)."""
IDLE_FOOTER = frozenset({"rerun", "next_tab", "next_metric", "compare"})
"""The footer once the run is over, and for a stored run (with the command palette)."""

DASHBOARD_BINDINGS = [
    Binding("s", "stop", "Stop", show=False, id="dashboard.stop"),
    Binding("e", "stop_after_epoch", "Stop@epoch", show=False, id="dashboard.stop_after_epoch"),
    Binding("x", "stop_trial", "Stop trial", show=False, id="dashboard.stop_trial"),
    Binding("h", "halve_lr", "lr÷2", show=False, id="dashboard.halve_lr"),
    Binding("k", "checkpoint", "Checkpoint", show=False, id="dashboard.checkpoint"),
    Binding("r", "rerun", "Rerun", id="dashboard.rerun"),
    Binding("n", "next_tab", "Tab", id="dashboard.next_tab"),
    Binding("p", "previous_tab", "Prev tab", show=False, id="dashboard.previous_tab"),
    Binding("m", "next_metric", "Metric", id="dashboard.next_metric"),
    Binding("space", "toggle_visible", "Hide/show", show=False, id="dashboard.toggle_visible"),
    Binding("t", "toggle_train", "Train curve", show=False, id="dashboard.toggle_train"),
    Binding("v", "toggle_validation", "Val curve", show=False, id="dashboard.toggle_val"),
    Binding("g", "toggle_log", "Log scale", show=False, id="dashboard.toggle_log"),
    Binding("a", "smooth", "Smooth", show=False, id="dashboard.smooth"),
    Binding("less_than_sign", "bn_layer(-1)", "BN layer", show=False, id="dashboard.bn_prev"),
    Binding("greater_than_sign", "bn_layer(1)", "BN layer", show=False, id="dashboard.bn_next"),
    Binding("o", "sort_results", "Sort", show=False, id="dashboard.sort"),
    Binding("y", "sweep_chart", "Sweep chart", show=False, id="dashboard.sweep_chart"),
    Binding("c", "compare", "Compare", id="dashboard.compare"),
    Binding("d", "data", "Data", show=False, id="dashboard.data"),
    Binding("f", "confusion", "Confusion", show=False, id="dashboard.confusion"),
    Binding("w", "layer_health", "Weights", show=False, id="dashboard.layer_health"),
    Binding("escape", "back", "Back", show=False, id="dashboard.back"),
]
"""Keys; ids let users remap them. Steering keys work only while the run trains: `s`, `e`
stop the whole run, `x` only the highlighted trial; `h`, `k` act on the highlighted trial
when it is training, else on every training trial (a parallel run trains several)."""


class DashboardKeys:
    """Mixed into the dashboard screen, which provides the attributes annotated here."""

    running: bool
    request: RunRequest | None
    _bindings: BindingsMap

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide steering when nothing trains, and rerun while something does (or resumed)."""
        if action in STEERING:
            return self.running
        if action == "rerun":  # a resumed run has no scenario file of its own to rerun
            return not self.running and self.request is not None and self.request.resume is None
        return True

    def refresh_keys(self) -> None:
        """Show the footer keys of the run's state now (training or over), then redraw it.

        The screen's own bindings are re-flagged in place, so keys remapped by a keymap stay
        remapped; the command palette's entry gives its room to the steering keys.
        """
        shown = LIVE_FOOTER if self.running else IDLE_FOOTER
        bindings = self._bindings.key_to_bindings
        for key, entries in bindings.items():
            bindings[key] = [
                dataclasses.replace(b, show=b.action in shown) if _ours(b) else b for b in entries
            ]
        with contextlib.suppress(NoMatches):  # not composed yet
            self.query_one(Footer).show_command_palette = not self.running
        self.refresh_bindings()


def _ours(binding: Binding) -> bool:
    return bool(binding.id and binding.id.startswith("dashboard."))
