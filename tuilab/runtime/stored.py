"""Replaying a stored run: its checked events folded into results. Never imports TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tuilab.errors import RunStoreError
from tuilab.runtime.events import Event
from tuilab.runtime.results import ResultsBook
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.tensorboard_read import is_tensorboard_logdir, read_tensorboard_log
from tuilab.scenario.sweep_record import SweepInfo


@dataclass
class StoredRun:
    """A run read back: events in order, results rebuilt from them, and any problems."""

    folder: RunFolder
    events: list[Event]
    book: ResultsBook
    status: str
    problems: list[str] = field(default_factory=list)

    @property
    def corrupt(self) -> bool:
        """True when some stored file or line failed its schema."""
        return bool(self.problems)


def load_run(folder: RunFolder | Path) -> StoredRun:
    """Read a run's events and rebuild its results (right for killed runs too); a TensorBoard
    log directory reads as a run of its scalars.

    Raises:
        RunStoreError: the folder has no readable `events.jsonl`.
    """
    folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
    if not folder.looks_like_run() and is_tensorboard_logdir(folder.path):
        return _tensorboard_run(folder)
    log = folder.read_events()
    problems = list(log.problems)
    book = ResultsBook()
    for event in log.events:
        book.handle(event)
    try:
        status = folder.status(folder.meta())
    except RunStoreError as exc:
        problems.insert(0, str(exc))
        status = book.status
    book.settle(status)
    return StoredRun(folder, log.events, book, book.status, problems)


def _tensorboard_run(folder: RunFolder) -> StoredRun:
    """A TensorBoard log directory as a finished run (its scalars; no layers, no test); what
    was skipped reading it (a FIFO named like an event file, a corrupt record) is a problem."""
    log = read_tensorboard_log(folder.path)
    book = ResultsBook()
    for event in log.events:
        book.handle(event)
    return StoredRun(folder, log.events, book, book.status, list(log.problems))


def stored_sweep(folder: RunFolder) -> SweepInfo | None:
    """The sweep record of a stored run (None when the run is not a sweep).

    Raises:
        RunStoreError: `resolved.json` holds a sweep entry that is not a valid one.
    """
    document = folder.resolved().get("sweep")
    if document is None:
        return None
    try:
        return SweepInfo.from_document(document)
    except ValueError as exc:
        raise RunStoreError(f"{folder.run_id}: resolved.json: {exc}") from None
