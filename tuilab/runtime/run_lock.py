"""One process owns a run: the soft lock `owner.lock` in its folder, held while it trains.

The process that creates, resumes or amends a run holds the lock for as long as its store is
open; `resume`, `delete`, `restore` and `purge` of a held run are refused with the holder's pid
and host. The lock is filelock's `MarkerSoftFileLock`: a marker file created exclusively
(safe on network file systems, where `flock` is not), holding the owner's pid, host and
process start time. A holder on this host that died is recognised from those and its lock is
taken over at once; a holder on another host is judged by the run's heartbeat (`run_folder`):
one older than `STALE_SECONDS` means the process is gone, and its lock is broken.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tuilab import layout
from tuilab.errors import RunStoreError
from tuilab.runtime.run_folder import STALE_SECONDS, RunFolder


@dataclass(frozen=True)
class Holder:
    """Who holds a run: a process on a host."""

    pid: int
    host: str

    def __str__(self) -> str:
        here = self.host == socket.gethostname()
        return f"pid {self.pid}" + ("" if here else f" on {self.host}")


class RunHeld(RunStoreError):
    """The run is owned by another live process (`holder`, when its marker names one)."""

    def __init__(self, message: str, holder: Holder | None) -> None:
        super().__init__(message)
        self.holder = holder


class RunLock:
    """The soft lock of one run folder (not reentrant; one per owning process).

    Args:
        folder: The run folder.
    """

    def __init__(self, folder: RunFolder | Path) -> None:
        self.folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
        self.since: datetime | None = None
        """When this process took the run (aware local time), while it holds it."""
        self._lock = None

    @property
    def path(self) -> Path:
        """`owner.lock` in the run folder (never through a link)."""
        return self.folder.inside(layout.OWNER_LOCK)

    def acquire(self, doing: str = "train") -> RunLock:
        """Take the run, or say who has it.

        Raises:
            RunHeld: another live process holds it.
            RunStoreError: the folder cannot hold a lock (read-only, a link in the way).
        """
        from filelock import MarkerSoftFileLock, Timeout

        lock = MarkerSoftFileLock(str(self.path), timeout=0, thread_local=False, is_singleton=False)
        for attempt in (1, 2):
            try:
                lock.acquire()
                break
            except Timeout:
                holder = _holder_of(lock)
                if attempt == 1 and holder is not None and self._gone_elsewhere(holder):
                    lock.force_break()  # its host cannot be asked: the heartbeat has stopped
                    continue
                raise RunHeld(self._held_message(holder, doing), holder) from None
            except OSError as exc:
                raise RunStoreError(
                    f"cannot lock {self.folder.run_id}: {exc.strerror or exc}"
                ) from None
        self._lock = lock
        self.since = datetime.now().astimezone()
        return self

    def release(self) -> None:
        """Give the run up (idempotent)."""
        lock, self._lock, self.since = self._lock, None, None
        if lock is not None:
            with contextlib.suppress(OSError):
                lock.release(force=True)

    def forget(self) -> None:
        """Drop the lock without touching the file: the folder was moved (its marker moved
        with it, and `remove_marker` deletes it there)."""
        self._lock, self.since = None, None

    def _gone_elsewhere(self, holder: Holder) -> bool:
        if holder.host == socket.gethostname():
            return False  # filelock already took over a dead holder of this host
        age = self.folder.heartbeat_age()
        return age is None or age > STALE_SECONDS

    def _held_message(self, holder: Holder | None, doing: str) -> str:
        who = str(holder) if holder else "another process"
        return (
            f"cannot {doing} {self.folder.run_id}: it is held by {who}, which is training it "
            f"(stop it first: tuilab stop {self.folder.run_id})"
        )

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _holder_of(lock: object) -> Holder | None:
    owner = getattr(lock, "owner", None)
    return Holder(owner.pid, owner.hostname) if owner is not None else None


def holder(folder: RunFolder | Path) -> Holder | None:
    """The live process that holds the run, or None (a dead holder's marker does not count).

    Asked by taking the lock for an instant, so it writes the marker: for commands that
    change the run anyway (delete, restore, purge).
    """
    probe = RunLock(folder)
    try:
        probe.acquire()
    except RunHeld as exc:
        return exc.holder or Holder(0, "an unknown host")
    except RunStoreError:
        return None
    probe.release()
    return None


def remove_marker(folder: RunFolder | Path) -> None:
    """Delete `owner.lock` of a run no process holds (after moving it, say)."""
    folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
    with contextlib.suppress(OSError, RunStoreError):
        folder.inside(layout.OWNER_LOCK).unlink()
