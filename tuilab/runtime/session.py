"""Prepare a run before any training: validate, load data, open the store. Shared by the
headless command and the app, so both fail the same way on bad input (nothing stored)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuilab.errors import RunStoreError
from tuilab.runtime.control import RunControl
from tuilab.runtime.events import Event


@dataclass
class RunRequest:
    """What the user asked to run."""

    scenario: Path
    variants: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    runs_dir: Path = Path("runs")
    json: bool = False
    store: bool = True
    resume: Path | None = None
    """A stored run folder to continue (`tuilab resume`) instead of a new run."""
    parallel: int | None = None
    """Trials at once (`--parallel`), over the scenario's `[run] parallel`."""


def prepare_run(request: RunRequest, control: RunControl | None = None) -> tuple[Any, Any]:
    """Validate the scenario, load its data and open the run store.

    Returns:
        The runner (not started; its sink still to be set) and the store (or None).

    Raises:
        TuilabError: bad scenario, missing data, unwritable runs folder: nothing is stored.
    """
    from tuilab.runtime.backends import use_scenario_backend
    from tuilab.runtime.distribute import is_chief, prepare_strategies
    from tuilab.runtime.store import RunStore
    from tuilab.runtime.validation import check_scenario
    from tuilab.scenario import load_scenario

    if request.resume is not None:
        return prepare_resume(request.resume, control, request.parallel)
    scenario = load_scenario(request.scenario, request.overrides).select(request.variants)
    use_scenario_backend(scenario)  # before anything imports Keras
    execution = prepare_execution(scenario, request.parallel)
    prepare_strategies([v.run for v in scenario.variants.values()])
    check_scenario(scenario)
    runner = make_runner(scenario, control, execution)
    runner.preload()
    writes = request.store and is_chief()  # in a cluster, only the chief writes the run store
    store = RunStore.create(request.runs_dir, scenario) if writes else None
    if store:
        runner.artifacts = store.folder
        runner.run_dir = str(store.folder)
    return runner, store


def prepare_execution(scenario: Any, parallel: int | None) -> Any:
    """The run's `Execution`; a coordinating process keeps its own TensorFlow off the GPUs."""
    from tuilab.runtime.worker_slots import execution_of, hide_gpus_here

    execution = execution_of(scenario, parallel)
    if execution.in_workers:
        hide_gpus_here()
    return execution


def make_runner(
    scenario: Any, control: RunControl | None, execution: Any, resume: Any = None
) -> Any:
    """A `Runner`, or a `ParallelRunner` when trials train in worker processes."""
    from tuilab.runtime.runner import Runner

    if execution.in_workers:
        from tuilab.runtime.parallel import ParallelRunner

        return ParallelRunner(
            scenario, lambda event: None, control, resume=resume, execution=execution
        )
    return Runner(scenario, sink=lambda event: None, control=control, resume=resume)


def prepare_resume(
    folder: Path, control: RunControl | None = None, parallel: int | None = None
) -> tuple[Any, Any]:
    """Check a stored run can continue, rebuild its scenario and data, reopen its store.

    Returns:
        The runner (resuming) and the reopened store.

    Raises:
        TuilabError: the run is live, finished, corrupt or its data is missing: nothing written.
    """
    import os

    from tuilab.runtime.backends import stored_backend, use_scenario_backend
    from tuilab.runtime.distribute import prepare_strategies
    from tuilab.runtime.resume import check_plan, plan_resume
    from tuilab.runtime.run_folder import RunFolder
    from tuilab.runtime.run_lock import RunLock
    from tuilab.runtime.runner import plan_trials
    from tuilab.runtime.store import RunStore
    from tuilab.runtime.validation import check_scenario
    from tuilab.scenario.resolved import scenario_from_resolved

    if os.environ.get("TF_CONFIG"):
        raise RunStoreError(
            "resuming a multi-worker (TF_CONFIG) run is not supported: every worker would "
            "write the same resume state; unset TF_CONFIG to resume it on one machine"
        )
    run = RunFolder(folder)
    run.refuse_links("resume")
    lock = RunLock(run).acquire("resume")  # held from here on: a second resume is refused
    try:
        plan = plan_resume(run)
        scenario = scenario_from_resolved(run.read_json(run.resolved_json), run.resolved_json)
        use_scenario_backend(scenario, stored_backend(run.read_events().events))  # as started
        execution = prepare_execution(scenario, parallel)
        prepare_strategies([v.run for v in scenario.variants.values()])
        check_scenario(scenario)
        trials = plan_trials(scenario)
        if all(trial.name in plan.done for trial in trials):
            raise RunStoreError(f"{run.run_id}: nothing to resume, every trial finished")
        check_plan(plan, trials)
        runner = make_runner(scenario, control, execution, resume=plan)
        runner.preload()
        store = RunStore.reopen(run.path, lock)
    except BaseException:
        lock.release()
        raise
    runner.artifacts = run.path
    runner.run_dir = str(run.path)
    return runner, store


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended: its status, and an error message when it did not end normally."""

    status: str
    error: str = ""


def execute(
    runner: Any, store: Any, deliver: Callable[[Event], None], steer: bool = True
) -> RunOutcome:
    """Train with the store recording every event first; the one way both front ends run.

    Whatever happens (an internal error, the disk filling up, a signal that ends the runner
    early), the store ends marked with a final status, so no run is left `running`. A stored
    run also takes steering requests from other processes (`tuilab stop`, `tuilab lr`, an
    attached app) through its `control/` folder, polled on a thread of its own, and writes
    every trial's TensorBoard files (`tensorboard_log`) on another.

    Args:
        runner: A prepared `Runner`.
        store: Its `RunStore`, or None when not storing.
        deliver: Receives every event after the store has it: on the training thread, but a
            `ControlRefused` on the control channel's thread (never two at once).
        steer: Poll the run folder for steering requests (needs a store).
    """
    import threading

    from tuilab.runtime.control_channel import ControlChannel
    from tuilab.runtime.events import ControlRefused, VariantStarted
    from tuilab.runtime.tensorboard_log import TensorBoardLog

    store_errors: list[str] = []
    board = TensorBoardLog(store.folder) if store is not None else None
    one_at_a_time = threading.Lock()  # the control thread's refusals and the training events
    current = {"trial": ""}

    def record(event: Event) -> None:
        if isinstance(event, VariantStarted):
            current["trial"] = event.trial
        if store is not None and not store_errors:
            try:
                store.handle(event)
            except RunStoreError as exc:  # disk full: stop the run, keep what is stored
                store_errors.append(str(exc))
                runner.control.stop()
        if board is not None:  # queued only: written on a thread of its own, never fails
            board.handle(event)
        deliver(event)

    def sink(event: Event) -> None:
        with one_at_a_time:
            record(event)

    def refused(reason: str) -> None:
        with one_at_a_time:
            if not store.finished:  # after the run's end it stays on the channel only
                record(ControlRefused(current["trial"], reason))

    channel = None
    if store is not None and steer:
        since = store.lock.since
        channel = ControlChannel(store.folder, runner.control, on_refused=refused, since=since)
        channel.start()
    runner.sink = sink
    try:
        status = runner.run()
    except Exception as exc:
        reason = f"internal error: {type(exc).__name__}: {exc}"
        if channel is not None:
            channel.close()  # no refusal written while the store closes
        if store is not None:
            store.mark_ended("failed", reason)
        return RunOutcome("failed", reason)
    finally:
        if channel is not None:
            channel.close()
        if board is not None:
            board.close()
        if store is not None and not store.finished:
            store.mark_ended("failed" if store_errors else "stopped", "; ".join(store_errors))
    if store_errors:
        return RunOutcome("failed", store_errors[0])
    return RunOutcome(status)
