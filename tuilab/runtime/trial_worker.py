"""A worker process of a parallel run: trains the trials it is handed, one at a time.

It trains each trial with the same `Runner.run_trial` as a sequential run, so the events, the
files in the run folder and the numbers are the same; only the events travel to the
coordinating process (which stores and shows them) as messages instead of a function call.

Messages to the coordinator, through `outbox.send` (a pipe of its own, or a Ray queue):
    ("event", worker, event)          an event of the trial it trains
    ("done", worker, trial, status)   the trial ended (finished, finished_early, stopped, failed)
    ("broken", worker, reason)        the worker cannot train at all (set-up failed)
Commands from the coordinator, on `commands`: (trial, Request), or None to end.

The worker ignores Ctrl-C (the coordinator forwards stops) and leaves when its coordinator
dies, so a killed run leaves no process training on behind it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuilab.runtime.worker_slots import Slot

ORPHAN_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker of a run needs (sent once, pickled).

    Attributes:
        scenario: The validated scenario (a `Scenario`).
        artifacts: The run folder, or None when the run is not stored.
        run_dir: The run folder as the events name it.
    """

    scenario: Any
    artifacts: Path | None
    run_dir: str | None

    def log(self, worker: int) -> Path | None:
        """Where worker `worker`'s own output (TensorFlow's messages) goes; None drops it."""
        if self.artifacts is None:
            return None
        from tuilab.runtime.run_folder import RunFolder

        return RunFolder(self.artifacts).worker_log(worker)


@dataclass(frozen=True)
class TrialTask:
    """One trial to train: its name, and its resume state (a `TrialState`) if it continues."""

    trial: str
    state: Any = None


def worker_main(spec: WorkerSpec, slot: Slot, tasks: Any, outbox: Any, commands: Any) -> None:
    """Entry point of a worker process (spawned: nothing inherited but these arguments)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.setpgrp()  # out of the terminal's process group: Ctrl-C reaches the coordinator only
    _redirect_output(spec.log(slot.index))
    _leave_with_coordinator(os.getppid())
    try:
        from tuilab.runtime.worker_slots import configure_worker

        configure_worker(slot)
        trainer = TrialTrainer(spec, lambda event: outbox.send(("event", slot.index, event)))
    except Exception as exc:  # reported, never raised into multiprocessing
        outbox.send(("broken", slot.index, f"{type(exc).__name__}: {exc}"))
        return
    threading.Thread(target=_obey, args=(commands, trainer), daemon=True).start()
    while (task := tasks.get()) is not None:
        status = trainer.train(task)
        outbox.send(("done", slot.index, task.trial, status))


class TrialTrainer:
    """Trains one trial at a time in this process with a sequential `Runner`, data cached."""

    def __init__(self, spec: WorkerSpec, sink: Any) -> None:
        from tuilab.runtime.control import RunControl
        from tuilab.runtime.runner import Runner, plan_trials

        self.trials = {t.name: t for t in plan_trials(spec.scenario)}
        self.runner = Runner(spec.scenario, sink, artifacts=spec.artifacts, run_dir=spec.run_dir)
        self.control = RunControl()
        self.current = ""
        self._lock = threading.Lock()

    def train(self, task: TrialTask) -> str:
        """Train `task`'s trial; its status."""
        from tuilab.backend import import_keras
        from tuilab.runtime.control import RunControl
        from tuilab.runtime.resume import ResumePlan

        with self._lock:
            self.control = self.runner.control = RunControl()
            self.current = task.trial
        states = {task.trial: task.state} if task.state is not None else {}
        self.runner.resume = ResumePlan(states=states) if states else None
        try:
            return self.runner.run_trial(self.trials[task.trial])
        finally:
            with self._lock:
                self.current = ""
            import_keras().mixed_precision.set_global_policy("float32")

    def obey(self, trial: str, request: Any) -> None:
        """Apply a steering request if it is for the trial training now (else it came late)."""
        with self._lock:
            if trial == self.current:
                self.control.put(request)


def _obey(commands: Any, trainer: TrialTrainer) -> None:
    while True:
        try:
            command = commands.get()
        except (EOFError, OSError):
            return
        if command is None:
            return
        trainer.obey(*command)


def _redirect_output(log: Path | None) -> None:
    """Send this process's stdout and stderr (TensorFlow's C++ logs too) to `log`, or nowhere:
    a worker must never write over the app's screen."""
    if log is not None:
        with contextlib.suppress(OSError):
            log.parent.mkdir(exist_ok=True)
        if log.parent.is_symlink():  # a stored run's folder may be hostile: never follow out
            log = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW
    try:
        target = os.open(log or os.devnull, flags, 0o600)
    except OSError:
        target = os.open(os.devnull, os.O_WRONLY)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)


def _leave_with_coordinator(coordinator: int) -> None:
    """End this process soon after its coordinator has gone (killed: nobody reads the events)."""

    def watch() -> None:
        while os.getppid() == coordinator:
            time.sleep(ORPHAN_CHECK_SECONDS)
        os._exit(3)

    threading.Thread(target=watch, name="tuilab-orphan-watch", daemon=True).start()
