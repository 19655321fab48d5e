"""Steering a running fit from another thread: stop, stop after epoch, scale lr, checkpoint,
confusion report now."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    """One steering request.

    Attributes:
        action: "stop", "stop_after_epoch", "scale_lr", "checkpoint" or "confusion".
        factor: The learning-rate multiplier for "scale_lr".
        whole_run: For stops: end the run (True) or only the trial(s) it reaches (False).
        trial: The one trial it is for (None: every trial training now).
    """

    action: str
    factor: float = 1.0
    whole_run: bool = True
    trial: str | None = None

    def reaches(self, trial: str) -> bool:
        """True when this request is for `trial` (or for every trial)."""
        return self.trial is None or self.trial == trial


class RunControl:
    """Thread-safe request box read by the reporter after each batch.

    `pending` is a plain attribute so the training thread's per-batch check costs one read.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self.pending = False
        self.run_stopped = False

    def _put(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)
            self.pending = True
        if request.action in ("stop", "stop_after_epoch") and request.whole_run:
            self.run_stopped = True  # no further trial starts

    def stop(self, whole_run: bool = True, trial: str | None = None) -> None:
        """Stop at the end of the current batch: the run, or only `trial` / the current trial.

        A stop aimed at one `trial` never ends the run: the other trials go on.
        """
        self._put(Request("stop", whole_run=whole_run and trial is None, trial=trial))

    def stop_after_epoch(self, whole_run: bool = True, trial: str | None = None) -> None:
        """Stop when the current epoch (and its validation) ends."""
        self._put(Request("stop_after_epoch", whole_run=whole_run and trial is None, trial=trial))

    def scale_learning_rate(self, factor: float, trial: str | None = None) -> None:
        """Multiply the learning rate of `trial` (None: every training trial) by `factor` now."""
        if not factor > 0:
            raise ValueError("the learning-rate factor must be positive")
        self._put(Request("scale_lr", factor=factor, trial=trial))

    def checkpoint(self, trial: str | None = None) -> None:
        """Save the model of `trial` (None: every training trial) as it is now."""
        self._put(Request("checkpoint", trial=trial))

    def confusion(self, trial: str | None = None) -> None:
        """Report the confusion of `trial` (None: every training trial) on the test split now."""
        self._put(Request("confusion", trial=trial))

    def put(self, request: Request) -> None:
        """Queue a request as it is (one forwarded from another process)."""
        self._put(request)

    def take(self) -> list[Request]:
        """Remove and return the pending requests (training thread)."""
        with self._lock:
            requests, self._requests = self._requests, []
            self.pending = False
        return requests
