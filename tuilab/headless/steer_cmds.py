"""`tuilab stop`, `lr` and `checkpoint`: steer a run that another process trains.

Each command writes one request into the run's `control/` folder (`send_request`) and waits
briefly for the training process to take it, so the user learns at once whether it was read;
`lr` and `checkpoint` then wait for the run's answer in its events (`steer_answers`): applied,
refused, or not applied yet.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from tuilab.errors import RunStoreError
from tuilab.headless.steer_answers import events_size, wait_for_answers
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


AFTER_EPOCH = "it stops once the current epoch and its validation are done"
AT_BATCH_END = "it applies at the end of the current batch"


def when(action: str, trial: str | None) -> str:
    """When the request takes effect, as the training process applies it."""
    if action != "stop_after_epoch":
        return AT_BATCH_END
    rest = "the run goes on with the others" if trial else "no further trial starts"
    return f"{AFTER_EPOCH}; {rest}"


def steer(
    root: Path,
    run: str,
    action: str,
    factor: float | None,
    console: Console,
    errors: Console,
    wait_s: float = READ_WAIT_S,
    trial: str | None = None,
    answer_s: float = 0.0,
) -> int:
    """Send one request to a running run and say what happens next.

    With `answer_s`, wait that long (in all) for the run to answer in its events, and say
    whether the request was applied, refused, or not yet read.

    Returns:
        0 (sent, applied, or not answered yet), or 1 when the run refused it or could not
        carry it out.

    Raises:
        RunStoreError: no such run, a run that is not running, a bad factor, or a control
            folder that is not private to this user (the command then exits 2).
    """
    folder = find_run(root, run, statuses=("running",))
    if trial is not None:
        _check_trial(folder, trial)
    offset = events_size(folder)
    started = time.monotonic()
    request = send_request(folder.path, action, factor, trial)
    whom = f"{trial} of {folder.run_id}" if trial else folder.run_id
    effect = when(action, trial)
    console.print(plain(f"sent: {what(action, factor)} to {whom} ({effect})"), soft_wrap=True)
    waited = answer_s or wait_s  # `answer_s`: the whole wait, reading included
    if waited <= 0:
        return 0
    if not wait_until_read(request, waited):
        errors.print(
            plain(
                f"not read yet: the run has not read it in {waited:g} s; it stays in "
                f"{request.parent} until the training process reads it (a tuilab older than "
                "this one never does)",
                "yellow",
            ),
            soft_wrap=True,
        )
        return 0
    if answer_s <= 0:
        return 0
    left = answer_s - (time.monotonic() - started)
    found = wait_for_answers(folder, offset, action, trial, request.name, left)
    if not found:
        console.print(
            plain(
                f"read, not applied yet ({answer_s:g} s): the run applies it after its next "
                "training batch; its events (tuilab attach, tuilab show) will say",
                "yellow",
            ),
            soft_wrap=True,
        )
        return 0
    for verdict, text in found:
        style = "green" if verdict == "applied" else "red"
        console.print(plain(f"{verdict}: {text}", style), soft_wrap=True)
    return 0 if all(verdict == "applied" for verdict, _ in found) else 1


def _check_trial(folder: RunFolder, trial: str) -> None:
    """Refuse a `--trial` the run does not have, naming the ones it has."""
    events = folder.read_events().events
    names = next((e.trials for e in events if isinstance(e, RunStarted | RunResumed)), [])
    if trial not in names:
        known = ", ".join(names[:12]) + (" …" if len(names) > 12 else "")
        raise RunStoreError(f"{folder.run_id} has no trial {trial!r} (its trials: {known})")
