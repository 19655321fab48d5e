"""Worker processes on this machine for a parallel run (`[run] executor = "local"`).

Processes are spawned, not forked: TensorFlow's threads do not survive a fork, and a spawned
worker sets its GPU and thread count before TensorFlow starts. Each worker trains trials one
after another (TensorFlow and the data are loaded once per worker, not once per trial).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any

from tuilab.runtime.control import Request
from tuilab.runtime.events import Event
from tuilab.runtime.trial_worker import TrialTask, WorkerSpec, worker_main
from tuilab.runtime.worker_slots import Slot

CLOSE_SECONDS = 10.0
MAX_READ = 500
"""Messages read from one worker before the others get their turn."""


@dataclass(frozen=True)
class TrialDone:
    """A worker reports a trial ended, with its status."""

    trial: str
    status: str


@dataclass(frozen=True)
class TrialLost:
    """A trial's worker died or could not start: the trial failed for `reason`."""

    trial: str
    reason: str


@dataclass
class _Worker:
    process: Any
    tasks: Any
    commands: Any
    inbox: Any
    """The read end of the worker's own pipe: a worker killed mid-write breaks only its own."""
    trial: str = ""
    gone: str = ""
    """Why the worker can take no more trials ("" while it can)."""
    seen_dead: int = 0


class LocalPool:
    """`len(slots)` worker processes; trials go to idle ones, messages come back on a pipe each."""

    def __init__(self, spec: WorkerSpec, slots: list[Slot]) -> None:
        context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        with real_standard_streams():
            for slot in slots:
                tasks, commands = context.Queue(), context.Queue()
                inbox, outbox = context.Pipe(duplex=False)
                process = context.Process(
                    target=worker_main,
                    args=(spec, slot, tasks, outbox, commands),
                    name=f"tuilab-worker-{slot.index}",
                    daemon=True,
                )
                process.start()
                outbox.close()  # the worker's end: EOF here once the worker is gone
                self._workers.append(_Worker(process, tasks, commands, inbox))

    def idle(self) -> int:
        """Workers able to take a trial now."""
        return sum(1 for w in self._workers if not w.trial and not w.gone)

    def usable(self) -> int:
        """Workers that have not died or failed to start."""
        return sum(1 for w in self._workers if not w.gone)

    def why_unusable(self) -> str:
        """Why the last worker was lost (for trials that can then never start)."""
        reasons = [w.gone for w in self._workers if w.gone]
        return reasons[-1] if reasons else ""

    def pids(self) -> dict[str, int]:
        """Trial -> the pid of the worker process training it now."""
        return {w.trial: w.process.pid for w in self._workers if w.trial and not w.gone}

    def submit(self, task: TrialTask) -> None:
        """Hand `task` to an idle worker (call only when `idle()`)."""
        worker = next(w for w in self._workers if not w.trial and not w.gone)
        worker.trial = task.trial
        worker.tasks.put(task)

    def send(self, trial: str, request: Request) -> None:
        """Forward a steering request to the worker training `trial`."""
        for worker in self._workers:
            if worker.trial == trial and not worker.gone:
                worker.commands.put((trial, request))

    def receive(self, timeout: float) -> list[Event | TrialDone | TrialLost]:
        """Everything the workers said within `timeout` seconds, then any trial lost."""
        received: list[Event | TrialDone | TrialLost] = []
        open_inboxes = {w.inbox: w for w in self._workers if not w.gone}
        for inbox in wait(list(open_inboxes), timeout):
            worker = open_inboxes[inbox]
            try:
                for _ in range(MAX_READ):
                    received.extend(self._read(inbox.recv()))
                    if not inbox.poll():
                        break
            except (EOFError, OSError, pickle.UnpicklingError):
                worker.seen_dead = max(worker.seen_dead, 1)  # closed, or cut mid-message
        received.extend(self._lost())
        return received

    def _read(self, message: tuple[Any, ...]) -> list[Event | TrialDone | TrialLost]:
        kind, index = message[0], message[1]
        worker = self._workers[index]
        if kind == "event":
            return [message[2]]
        if kind == "done":
            worker.trial = ""
            return [TrialDone(message[2], message[3])]
        worker.gone = f"a worker process could not start: {message[2]}"  # "broken"
        return self._release(worker)

    def _lost(self) -> list[TrialDone | TrialLost]:
        """Trials whose worker died (seen dead twice, so its last messages are read first)."""
        lost: list[TrialDone | TrialLost] = []
        for worker in self._workers:
            if worker.gone or (worker.process.is_alive() and not worker.seen_dead):
                continue
            worker.seen_dead += 1
            if worker.seen_dead >= 2:
                worker.process.join(timeout=CLOSE_SECONDS)
                worker.gone = f"its worker process ended ({_exit_reason(worker.process.exitcode)})"
                lost.extend(self._release(worker))
        return lost

    def _release(self, worker: _Worker) -> list[TrialDone | TrialLost]:
        trial, worker.trial = worker.trial, ""
        return [TrialLost(trial, worker.gone)] if trial else []

    def close(self) -> None:
        """Ask every worker to leave, then end those that do not within `CLOSE_SECONDS`."""
        for worker in self._workers:
            for channel in (worker.commands, worker.tasks):
                with contextlib.suppress(OSError, ValueError):
                    channel.put(None)
        for worker in self._workers:
            worker.process.join(timeout=CLOSE_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=CLOSE_SECONDS)
        for worker in self._workers:
            worker.inbox.close()
            for channel in (worker.tasks, worker.commands):
                channel.cancel_join_thread()
                channel.close()


@contextlib.contextmanager
def real_standard_streams() -> Iterator[None]:
    """The process's own stdout and stderr while workers start: multiprocessing hands its
    helper process `sys.stderr.fileno()`, which the app's print capture does not have."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = sys.__stdout__ or saved[0], sys.__stderr__ or saved[1]
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
