"""`tuilab stop`, `lr` and `checkpoint`: steer a run that another process trains.

Each command writes one request into the run's `control/` folder (`send_request`) and waits
briefly for the training process to take it, so the user learns at once whether it was read.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from tuilab.errors import RunStoreError
from tuilab.presentation.text import plain
from tuilab.runtime.control_channel import POLL_SECONDS, send_request
from tuilab.runtime.events import RunResumed, RunStarted
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.run_listing import find_run

READ_WAIT_S = 3.0
"""How long a command waits for the run to take its request (it polls every 0.2 s)."""


def what(action: str, factor: float | None) -> str:
    """The request in words: "stop after this epoch", "scale the learning rate by 0.5"."""
    if action == "scale_lr":
        return f"scale the learning rate by {factor:g}"
    return {
        "stop": "stop",
        "stop_after_epoch": "stop after this epoch",
        "checkpoint": "checkpoint",
        "confusion": "report its confusion on the test split",
    }.get(action, action)


def wait_until_read(request: Path, seconds: float = READ_WAIT_S) -> bool:
    """True once the training process has taken (deleted) the request file."""
    deadline = time.monotonic() + seconds
    while request.exists():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS / 4)
    return True


def steer(
    root: Path,
    run: str,
    action: str,
    factor: float | None,
    console: Console,
    errors: Console,
    wait_s: float = READ_WAIT_S,
    trial: str | None = None,
) -> int:
    """Send one request to a running run and say what happens next.

    Returns:
        0 (sent; a warning follows when the run has not taken it within `wait_s`).

    Raises:
        RunStoreError: no such run, a run that is not running, a bad factor, or a control
            folder that is not private to this user (the command then exits 2).
    """
    folder = find_run(root, run, statuses=("running",))
    if trial is not None:
        _check_trial(folder, trial)
    request = send_request(folder.path, action, factor, trial)
    whom = f"{trial} of {folder.run_id}" if trial else folder.run_id
    console.print(
        plain(
            f"sent: {what(action, factor)} to {whom} (it applies at the end of the current batch)"
        ),
        soft_wrap=True,
    )
    if not wait_until_read(request, wait_s):
        errors.print(
            plain(
                f"the run has not read it yet ({wait_s:g} s); it stays in {request.parent} "
                "until the training process reads it (a tuilab older than this one never does)",
                "yellow",
            ),
            soft_wrap=True,
        )
    return 0


def _check_trial(folder: RunFolder, trial: str) -> None:
    """Refuse a `--trial` the run does not have, naming the ones it has."""
    events = folder.read_events().events
    names = next((e.trials for e in events if isinstance(e, RunStarted | RunResumed)), [])
    if trial not in names:
        known = ", ".join(names[:12]) + (" …" if len(names) > 12 else "")
        raise RunStoreError(f"{folder.run_id} has no trial {trial!r} (its trials: {known})")
