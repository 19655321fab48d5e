"""The training process's answer to a steering request, read from the run's `events.jsonl`.

The run records what it did with each request it took from `control/`: `ControlApplied`
(stopped, checkpoint saved or failed, a rate that follows a schedule left alone), a
`LearningRateChanged` by the user, or `ControlRefused` (a trial that is not training, a request
meant for an earlier process). `tuilab lr` and `tuilab checkpoint` wait a few seconds for it.
"""

from __future__ import annotations

import os
import time

from tuilab.runtime.control_channel import POLL_SECONDS
from tuilab.runtime.events import (
    ControlApplied,
    ControlRefused,
    Event,
    EventFormatError,
    LearningRateChanged,
    event_from_json,
)
from tuilab.runtime.run_folder import MAX_JSON_BYTES, RunFolder, open_regular

MORE_ANSWERS_S = 0.5
"""After a first answer, how long to look for those of other trials training at the same time."""
MAX_READ_BYTES = 4 * 1024 * 1024
"""Read by one look at most (events of a few seconds of training are far fewer)."""
FAILED = {"checkpoint_failed": "checkpoint", "confusion_failed": "confusion"}


def events_size(folder: RunFolder) -> int:
    """Bytes in the run's `events.jsonl` now (0 when unreadable): answers come after them."""
    try:
        return os.stat(folder.events_jsonl).st_size
    except OSError:
        return 0


def _new_events(folder: RunFolder, offset: int) -> tuple[list[Event], int]:
    """The complete events written after `offset`, and the offset after them."""
    try:
        stream = open_regular(folder.events_jsonl)
    except OSError:
        return [], offset
    with stream:
        stream.seek(offset)
        data = stream.read(MAX_READ_BYTES)
    end = data.rfind(b"\n") + 1
    events = []
    for line in data[:end].split(b"\n"):
        if not line or len(line) > MAX_JSON_BYTES:
            continue
        try:
            events.append(event_from_json(line.decode("utf-8")))
        except (EventFormatError, UnicodeDecodeError):
            continue  # a bad line is `tuilab show`'s to report
    return events, offset + end


def answer(event: Event, action: str, trial: str | None, name: str) -> tuple[str, str] | None:
    """(`applied`, `not applied`, `failed` or `refused`, what happened) when `event` answers
    the request `name` for `action` (and `trial`), else None."""
    if isinstance(event, ControlRefused):
        words = action.replace("_", " ")
        ours = (
            event.reason.startswith(f"{words} not applied")
            or name[:57] in event.reason
            or f"discarded a {action} request" in event.reason
        )
        return ("refused", event.reason) if ours else None
    if trial is not None and getattr(event, "trial", trial) != trial:
        return None
    if isinstance(event, LearningRateChanged):
        if action != "scale_lr" or event.reason != "user":
            return None
        return (
            "applied",
            f"{event.trial}: learning rate {event.old:.3g} -> {event.new:.3g} "
            f"at epoch {event.epoch}",
        )
    if not isinstance(event, ControlApplied):
        return None
    if FAILED.get(event.action) == action:
        return "failed", f"{event.trial}: {event.detail}"
    if event.action != action:
        return None
    if event.detail.startswith("not applied"):
        return "not applied", f"{event.trial}: {event.detail.removeprefix('not applied: ')}"
    if action == "checkpoint":
        return "applied", f"{event.trial}: saved {event.detail} at epoch {event.epoch}"
    detail = f" ({event.detail})" if event.detail else ""
    return "applied", f"{event.trial}, epoch {event.epoch}{detail}"


def wait_for_answers(
    folder: RunFolder,
    offset: int,
    action: str,
    trial: str | None,
    name: str,
    seconds: float,
) -> list[tuple[str, str]]:
    """The answers to one request that the run writes within `seconds` (polling its events);
    empty when it has not answered yet."""
    deadline = time.monotonic() + max(seconds, 0.0)
    found: list[tuple[str, str]] = []
    while True:
        events, offset = _new_events(folder, offset)
        found += [a for a in (answer(e, action, trial, name) for e in events) if a]
        now = time.monotonic()
        if now >= deadline:
            return found
        if found:
            deadline = min(deadline, now + MORE_ANSWERS_S)
        time.sleep(min(POLL_SECONDS / 2, max(deadline - now, 0.0)))
