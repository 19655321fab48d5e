"""Follow a run that another process is training, by reading what it appends to its files.

The training process appends one JSON line per event to `events.jsonl` and touches its
heartbeat; a follower in any other process (another SSH session, another app) reads only the
bytes added since its last look. The training process is never asked for anything, so any number
of followers cost it nothing, and closing one never touches the training.

A followed run is untrusted input like any stored run, and a follower must never hang nor grow:
`events.jsonl` is opened only as a regular file (a FIFO in its place ends the follow with a
problem instead of blocking the app's worker forever), one `poll` reads at most
`MAX_POLL_BYTES`, a line longer than `MAX_JSON_BYTES` is dropped as it arrives, and bad lines
are counted, not kept (`ProblemTally`).

A run lives on across processes: `tuilab resume` appends to the same `events.jsonl` (after
cutting a half-written last line a killed process left), opening with `RunResumed` after the
earlier process's `RunFinished`. So the follower never stops reading: `ended` says whether the
run is over *now*, decided by the last of those events read (in file order), and it turns back
to False when a later process resumes the run.
"""

from __future__ import annotations

import io
import os
import time
from dataclasses import dataclass, field

from tuilab.errors import RunStoreError
from tuilab.runtime.events import (
    Event,
    EventFormatError,
    RunFinished,
    RunResumed,
    RunStarted,
    event_from_json,
)
from tuilab.runtime.run_folder import MAX_JSON_BYTES, ProblemTally, RunFolder, open_regular

STATUS_EVERY_S = 2.0
"""How often the follower also checks whether the training process is still alive."""
CHUNK_BYTES = 1024 * 1024
MAX_POLL_BYTES = 64 * CHUNK_BYTES
"""Read by one `poll` at most: a long log is caught up over a few polls, each of them short."""
CUT_CHECK_BYTES = 64 * 1024
"""How much of a half-read line is compared with the file again, to see a resume's cut."""


@dataclass
class EventFollower:
    """Reads a run's new events on each `poll`; `ended` while the run is over.

    Attributes:
        folder: The run being followed.
        offset: Bytes of `events.jsonl` already read (complete lines only).
        tally: Lines that were not valid events (reported, skipped): the first few kept.
        ended: True after `RunFinished` (until a `RunResumed` read after it: the run was
            resumed by another process), once the run is no longer `running` (its process
            died: `incomplete`, or it ended without a final event), or for good when
            `events.jsonl` cannot be followed (not a regular file).
    """

    folder: RunFolder
    offset: int = 0
    tally: ProblemTally = field(default_factory=ProblemTally)
    ended: bool = False
    _finished: bool = False
    """The last start, resume or finish event read is a `RunFinished`."""
    _gone: bool = False
    """The training process is gone without a final event (since the last start or resume)."""
    _broken: bool = False
    """`events.jsonl` cannot be followed: never read again."""
    _line: int = 0
    _checked: float = 0.0
    _read_to: int = 0
    """Bytes of the file read so far: `offset` plus the start of a line not yet complete."""
    _tail: bytearray = field(default_factory=bytearray)
    _skipping: bool = False
    """Inside a line already reported as too long: its bytes are dropped up to its newline."""

    @property
    def problems(self) -> list[str]:
        """What was wrong, as `and N more bad lines` after the first few."""
        return self.tally.lines()

    def poll(self) -> list[Event]:
        """The complete events appended since the last call (a half-written line waits).

        `ended` is decided once the file is read to its end: a long log's `RunFinished` is
        not taken for the run's end while a `RunResumed` may follow in the next poll.
        """
        events: list[Event] = []
        read = self._read(events) if not self._broken else 0
        for event in events:  # in file order: the last start, resume or finish decides
            if isinstance(event, RunFinished):
                self._finished = True
            elif isinstance(event, RunStarted | RunResumed):
                self._finished = self._gone = False
        live = not (self._finished or self._gone or self._broken)
        if live and not read and time.monotonic() - self._checked > STATUS_EVERY_S:
            self._checked = time.monotonic()
            self._gone = self.status() != "running"
        caught_up = read < MAX_POLL_BYTES
        self.ended = self._broken or ((self._finished or self._gone) and caught_up)
        return events

    def status(self) -> str:
        """The run's status now, from `run.json` and the heartbeat (no event is read)."""
        try:
            return self.folder.status(self.folder.meta())
        except RunStoreError:
            return "corrupt"

    def _read(self, events: list[Event]) -> int:
        """Read and parse what was appended (at most `MAX_POLL_BYTES`); the bytes read."""
        try:
            stream = open_regular(self.folder.events_jsonl)
        except FileNotFoundError:
            return 0  # not written yet
        except (OSError, RunStoreError) as exc:  # a FIFO, device, folder or link: never read
            self.tally.add(f"events.jsonl cannot be followed: {exc}")
            self._broken = True
            return 0
        total = 0
        with stream:
            try:
                size = os.fstat(stream.fileno()).st_size
                if size < self._read_to or not self._tail_still_there(stream):
                    self._cut(size)
                stream.seek(self._read_to)
                while total < MAX_POLL_BYTES:
                    chunk = stream.read(CHUNK_BYTES)
                    if not chunk:
                        break
                    total += len(chunk)
                    self._read_to += len(chunk)
                    self._take(chunk, events)
            except OSError as exc:
                self.tally.add(f"events.jsonl cannot be read: {exc}")
        return total

    def _tail_still_there(self, stream: io.BufferedReader) -> bool:
        """The start of a line read earlier is still in the file (not cut, then appended to)."""
        if not self._tail:
            return True
        start = bytes(self._tail[:CUT_CHECK_BYTES])
        stream.seek(self.offset)
        return stream.read(len(start)) == start

    def _cut(self, size: int) -> None:
        """A resume cut the half line a killed process left (and may have appended since): read
        on from the end of the last complete line, the half line dropped."""
        self.offset = min(self.offset, size)
        self._read_to, self._tail, self._skipping = self.offset, bytearray(), False

    def _take(self, chunk: bytes, events: list[Event]) -> None:
        """Parse the lines `chunk` completes; keep the start of the next (bounded)."""
        start = 0
        if self._skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                self.offset = self._read_to
                return
            self._skipping, start = False, newline + 1
        last = chunk.rfind(b"\n", start)
        if last < 0:
            self._tail += chunk[start:]
        else:
            first = chunk.find(b"\n", start)
            self._line_done(bytes(self._tail) + chunk[start:first], events)
            for raw in chunk[first + 1 : last].split(b"\n") if last > first else ():
                self._line_done(raw, events)
            self._tail = bytearray(chunk[last + 1 :])
        self.offset = self._read_to - len(self._tail)
        if len(self._tail) > MAX_JSON_BYTES:  # no newline in sight: dropped as it comes
            self._line += 1
            self.tally.add(f"events.jsonl line {self._line}: longer than {MAX_JSON_BYTES:,} bytes")
            self._tail, self._skipping, self.offset = bytearray(), True, self._read_to

    def _line_done(self, raw: bytes, events: list[Event]) -> None:
        self._line += 1
        if len(raw) > MAX_JSON_BYTES:
            self.tally.add(f"events.jsonl line {self._line}: longer than {MAX_JSON_BYTES:,} bytes")
            return
        try:
            events.append(event_from_json(raw.decode("utf-8")))
        except (EventFormatError, UnicodeDecodeError) as exc:
            self.tally.add(f"events.jsonl line {self._line}: {exc}")


def newest_running(runs: list) -> RunFolder | None:
    """The newest run whose training process is alive, from a `list_runs` listing."""
    for info in runs:
        if info.status == "running":
            return RunFolder(info.folder)
    return None
