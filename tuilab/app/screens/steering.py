"""The dashboard's steering keys: stop, stop after the epoch, stop one trial, lr, checkpoint.

A run trained here is steered through its `RunControl`; an attached run (trained by another
process) through request files in its folder. `h` and `k` reach the highlighted trial when it
is training, else every training trial; `x` stops the highlighted trial alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tuilab.errors import TuilabError
from tuilab.presentation.numbers import format_value
from tuilab.runtime.events import ControlApplied, ControlRefused, Event, LearningRateChanged

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel

    from tuilab.app.run_state import RunState
    from tuilab.runtime.control import RunControl
    from tuilab.runtime.run_folder import RunFolder


class SteeringActions:
    """Mixed into the dashboard screen, which provides the attributes annotated here."""

    attached: RunFolder | None
    control: RunControl
    state: RunState
    _selected: str | None
    _awaiting: set[str]
    """The requests (`lr`, `checkpoint`) asked from this screen, answered with a toast."""

    def _steer(self, action: str, factor: float | None = None, trial: str | None = None) -> bool:
        """Send a request to the attached run's training process; False when not attached."""
        if self.attached is None:
            return False
        from tuilab.runtime.control_channel import send_request

        try:
            send_request(self.attached.path, action, factor, trial)
        except TuilabError as exc:
            self.notify(str(exc), title="Not sent", severity="error")
        return True

    def _highlighted_training(self) -> str | None:
        """The highlighted trial when it is training now, else None (meaning every trial)."""
        trial = self._selected
        return trial if trial and self.state.status(trial) == "running" else None

    def action_stop(self) -> None:
        if not self._steer("stop"):
            self.control.stop()
        self._log("control_applied", "stop requested: at the end of this batch")

    def action_stop_after_epoch(self) -> None:
        if not self._steer("stop_after_epoch"):
            self.control.stop_after_epoch()
        self._log("control_applied", "stop requested: after this epoch")

    def action_stop_trial(self) -> None:
        """Stop only the highlighted trial; the run goes on with the others."""
        trial = self._highlighted_training()
        if trial is None:
            self.notify("highlight a trial that is training to stop it alone", timeout=2)
            return
        if not self._steer("stop", trial=trial):
            self.control.stop(trial=trial)
        self._log("control_applied", f"stop requested for {trial}: the others go on")

    def action_halve_lr(self) -> None:
        trial = self._highlighted_training()
        if not self._steer("scale_lr", 0.5, trial):
            self.control.scale_learning_rate(0.5, trial=trial)
        self._asked("lr", f"lr ÷2 asked for {trial or 'every training trial'}")

    def ask_confusion(self, trial: str) -> bool:
        """Ask for `trial`'s confusion on the test split now; False when it is not training."""
        live = self.running or self.attached is not None
        if not live or self.state.status(trial) != "running":
            return False
        if not self._steer("confusion", trial=trial):
            self.control.confusion(trial=trial)
        return True

    def action_checkpoint(self) -> None:
        trial = self._highlighted_training()
        if not self._steer("checkpoint", trial=trial):
            self.control.checkpoint(trial=trial)
        self._asked("checkpoint", f"checkpoint asked for {trial or 'every training trial'}")

    def _asked(self, what: str, line: str) -> None:
        """Say on screen that `what` was asked; `acknowledge` says when training answers."""
        self._awaiting.add(what)
        self.notify(f"{line}: at the end of this batch", timeout=3)

    def acknowledge(self, event: Event) -> None:
        """A toast when the training process answers a request asked from this screen (its
        new learning rate, the checkpoint's file, or why not); other events say nothing."""
        answer = steering_answer(event)
        if answer is not None and (
            answer[0] in self._awaiting or (answer[0] == "refused" and self._awaiting)
        ):
            what, line, severity = answer
            self.notify(line, title=what, severity=severity, timeout=4)


def steering_answer(event: Event) -> tuple[str, str, SeverityLevel] | None:
    """(request, what to say, severity) for an event that answers an `h` or `k` request, or
    says a request was refused ("refused")."""
    if isinstance(event, LearningRateChanged) and event.reason == "user":
        change = f"{format_value(event.old)} → {format_value(event.new)}"
        return "lr", f"{event.trial}: lr {change}", "information"
    if isinstance(event, ControlApplied) and event.action == "scale_lr":
        return "lr", f"{event.trial}: lr {event.detail}", "warning"
    if isinstance(event, ControlApplied) and event.action == "checkpoint":
        return "checkpoint", f"{event.trial}: saved {event.detail}", "information"
    if isinstance(event, ControlApplied) and event.action == "checkpoint_failed":
        return "checkpoint", f"{event.trial}: not saved: {event.detail}", "error"
    if isinstance(event, ControlRefused):  # a request from here or from the shell
        return "refused", event.reason, "warning"
    return None
