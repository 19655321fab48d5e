"""Train several trials at once, each in a worker process (`[run] parallel = N`).

`ParallelRunner` is a `Runner` whose trials train elsewhere: in local worker processes
(`local_pool`) or as Ray tasks (`ray_pool`). This process stays the run's one voice: it emits
the run's opening and closing events, passes on every trial's events in the order they
arrive (the store and the screens see the same events as in a sequential run, interleaved),
and routes steering: a request for one trial goes to its worker, a request for every trial
goes to each worker, a whole-run stop also keeps the trials not started from starting.
"""

from __future__ import annotations

import time
from typing import Any

from tuilab.runtime.control import Request
from tuilab.runtime.events import BatchProgress, ControlRefused, EpochEnded, Event, VariantFailed
from tuilab.runtime.local_pool import TrialDone, TrialLost
from tuilab.runtime.reporter import not_training
from tuilab.runtime.runner import Runner, Trial
from tuilab.runtime.trial_worker import TrialTask, WorkerSpec
from tuilab.runtime.worker_slots import Execution, plan_slots

POLL_SECONDS = 0.1


class ParallelRunner(Runner):
    """A `Runner` that trains up to `execution.parallel` trials at once in worker processes."""

    def __init__(self, *args: Any, execution: Execution, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execution = execution
        self._where: dict[str, tuple[int, int, int]] = {}
        """Trial -> (epoch, batch, epochs done) as its events told, for a lost worker."""
        self._pool: Any = None

    def worker_pids(self) -> dict[str, int]:
        """Trial -> pid of the process training it now (local workers; empty otherwise)."""
        pool = self._pool
        return pool.pids() if pool is not None and hasattr(pool, "pids") else {}

    def _open_pool(self, workers: int) -> Any:
        spec = WorkerSpec(self.scenario, self.artifacts, self.run_dir)
        if self.execution.executor == "ray":
            from tuilab.runtime.ray_pool import RayPool

            return RayPool(spec, workers)
        from tuilab.runtime.local_pool import LocalPool

        return LocalPool(spec, plan_slots(workers))

    def _train_all(self, trials: list[Trial]) -> list[str]:
        if not trials:
            return []
        pending = list(trials)
        running: dict[str, tuple[Trial, float]] = {}
        statuses: list[str] = []
        pool = self._pool = self._open_pool(min(self.execution.parallel, len(trials)))
        try:
            while pending or running:
                self._forward_requests(pool, running)
                while pending and pool.idle() and not self.control.run_stopped:
                    trial = pending.pop(0)
                    state = self.resume.states.get(trial.name) if self.resume else None
                    pool.submit(TrialTask(trial.name, state))
                    running[trial.name] = (trial, time.perf_counter())
                if not running:
                    if pending and not self.control.run_stopped and not pool.usable():
                        statuses += [self._never_started(t, pool.why_unusable()) for t in pending]
                    break
                for message in pool.receive(POLL_SECONDS):
                    status = self._take(message, running)
                    if status:
                        statuses.append(status)
        finally:
            pool.close()
            self._pool = None
        return statuses

    def _take(self, message: Any, running: dict[str, tuple[Trial, float]]) -> str:
        """Pass on an event, or close a trial; the trial's status when it ended."""
        if isinstance(message, Event):
            self._follow(message)
            self.sink(message)
            return ""
        trial, started = running.pop(message.trial)
        if isinstance(message, TrialDone):
            return str(message.status)
        epoch, batch, done = self._where.get(trial.name, (0, 0, 0))
        assert isinstance(message, TrialLost)
        seconds = time.perf_counter() - started
        self.sink(
            VariantFailed(trial.name, trial.variant, message.reason, epoch, batch, done, seconds)
        )
        return "failed"

    def _follow(self, event: Event) -> None:
        if isinstance(event, BatchProgress):
            done = self._where.get(event.trial, (0, 0, 0))[2]
            self._where[event.trial] = (event.epoch, event.batch, done)
        elif isinstance(event, EpochEnded):
            self._where[event.trial] = (event.epoch, 0, event.epoch)

    def _never_started(self, trial: Trial, reason: str) -> str:
        self.sink(VariantFailed(trial.name, trial.variant, reason))
        return "failed"

    def _forward_requests(self, pool: Any, running: dict[str, tuple[Trial, float]]) -> None:
        """Route the run's steering requests to the workers of the trials they are for."""
        if not self.control.pending:
            return
        for request in self.control.take():
            if request.trial is None:
                for name in running:
                    pool.send(name, request)
            elif request.trial in running:
                pool.send(request.trial, Request(request.action, request.factor, False, None))
            else:
                self.sink(ControlRefused(request.trial, not_training(request)))
