"""Follow a run that another process is training, by reading what it appends to its files.

The training process appends one JSON line per event to `events.jsonl` and touches its
heartbeat; a follower in any other process (another SSH session, another app) reads only the
bytes added since its last look. The training process is never asked for anything, so any number
of followers cost it nothing, and closing one never touches the training.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tuilab.runtime.events import Event, EventFormatError, RunFinished, event_from_json
from tuilab.runtime.run_folder import RunFolder

STATUS_EVERY_S = 2.0
"""How often the follower also checks whether the training process is still alive."""


@dataclass
class EventFollower:
    """Reads a run's new events on each `poll`; `ended` once the run is over.

    Attributes:
        folder: The run being followed.
        offset: Bytes of `events.jsonl` already read (complete lines only).
        problems: Lines that were not valid events (reported, skipped).
        ended: True after `RunFinished`, or once the run is no longer `running`
            (its process died: `incomplete`, or it ended without a final event).
    """

    folder: RunFolder
    offset: int = 0
    problems: list[str] = field(default_factory=list)
    ended: bool = False
    _line: int = 0
    _checked: float = 0.0

    def poll(self) -> list[Event]:
        """The complete events appended since the last call (a half-written line waits)."""
        try:
            with open(self.folder.events_jsonl, "rb") as stream:
                stream.seek(self.offset)
                chunk = stream.read()
        except OSError:
            chunk = b""
        end = chunk.rfind(b"\n")
        events: list[Event] = []
        if end >= 0:
            self.offset += end + 1
            for raw in chunk[: end + 1].splitlines():
                self._line += 1
                try:
                    events.append(event_from_json(raw.decode("utf-8")))
                except (EventFormatError, UnicodeDecodeError) as exc:
                    self.problems.append(f"events.jsonl line {self._line}: {exc}")
        if any(isinstance(event, RunFinished) for event in events):
            self.ended = True
        elif time.monotonic() - self._checked > STATUS_EVERY_S:
            self._checked = time.monotonic()
            if self.folder.info().status != "running" and not chunk:
                self.ended = True
        return events


def newest_running(runs: list) -> RunFolder | None:
    """The newest run whose training process is alive, from a `list_runs` listing."""
    for info in runs:
        if info.status == "running":
            return RunFolder(info.folder)
    return None
