"""Deciding how a stored run continues: which trials are done, and where the others resume.

A trial is done when it finished (all its epochs, or stopped early by EarlyStopping). Every
other trial (stopped by the user, interrupted, killed, failed, or never started) trains on
from the state of its last finished epoch (`training_state`), or from the start when it has
none. The run must not be live: a process still writing it would be written over.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from tuilab import layout
from tuilab.errors import RunStoreError
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.store_files import write_json_atomic
from tuilab.runtime.stored import load_run
from tuilab.runtime.training_state import TrialState, discard_state, read_state


@dataclass(frozen=True)
class ResumePlan:
    """What an earlier process left: the trials it finished and the states to resume from."""

    done: frozenset[str] = frozenset()
    states: dict[str, TrialState] = field(default_factory=dict)


def plan_resume(folder: RunFolder) -> ResumePlan:
    """Read a stored run and decide how it continues.

    Raises:
        RunStoreError: the run is live, was stopped for good, was recorded from a script,
            is unreadable, or holds a resume state that is not valid.
    """
    if layout.TRASH_DIR in folder.path.resolve().parts or folder.trash_record.exists():
        raise RunStoreError(
            f"{folder.run_id} is in the trash: restore it first (tuilab restore {folder.run_id})"
        )
    meta = folder.meta()
    if meta.source == "script":
        script = f" ({meta.script})" if meta.script else ""
        raise RunStoreError(
            f"{folder.run_id} was recorded from a script{script} through tuilab.keras, not "
            "trained from a scenario: tuilab cannot resume it; run the script again"
        )
    status = folder.status(meta)
    if status == "running":
        where = f"pid {meta.pid} on {meta.host}" if meta.pid else meta.host or "another process"
        raise RunStoreError(
            f"{folder.run_id} is still running ({where}); stop it first: "
            f"tuilab stop {folder.run_id}"
        )
    if not meta.resumable:
        raise RunStoreError(
            f"{folder.run_id} cannot be resumed: {meta.reason or 'it was stopped for good'}; "
            "start it again with tuilab run"
        )
    stored = load_run(folder)
    if stored.corrupt:
        raise RunStoreError(f"{folder.run_id} is corrupt: {stored.problems[0]}")
    done = frozenset(name for name, t in stored.book.trials.items() if t.status == "finished")
    states = {}
    for name in stored.book.trials:
        if name in done:
            continue
        state = read_state(folder.resume_dir(name))
        if state is not None:
            if state.trial != name:
                raise RunStoreError(f"the resume state of {name} belongs to {state.trial}")
            logged = stored.book.trials[name].epochs
            if state.epoch > logged:  # a state is saved only after its epoch is logged
                raise RunStoreError(
                    f"the resume state of {name} says epoch {state.epoch}, but its events end "
                    f"at epoch {logged}: the state does not belong to this run"
                )
            states[name] = state
    return ResumePlan(done, states)


def check_plan(plan: ResumePlan, trials: list[Any]) -> None:
    """Each resume state fits its trial: from an epoch the scenario trains to.

    Args:
        plan: What `plan_resume` read.
        trials: The scenario's trials (`runner.plan_trials`).

    Raises:
        RunStoreError: a state past its trial's last epoch, or for a trial it does not have.
    """
    epochs = {trial.name: trial.config.fit.epochs for trial in trials}
    for name, state in plan.states.items():
        if name not in epochs:
            raise RunStoreError(f"the run holds a resume state of {name}, not one of its trials")
        if state.epoch > epochs[name]:
            raise RunStoreError(
                f"the resume state of {name} says epoch {state.epoch}, but {name} trains "
                f"{epochs[name]} epochs: the state does not belong to this run"
            )


def forget_resume(folder: RunFolder, reason: str) -> None:
    """Mark an ended run as not resumable and delete its trials' resume states (never raises)."""
    with contextlib.suppress(RunStoreError, OSError):
        meta = folder.meta().model_dump()
        meta["resumable"] = False
        meta["reason"] = meta.get("reason") or reason
        write_json_atomic(folder.run_json, meta)
    trials = folder.trials_dir
    with contextlib.suppress(OSError):
        for trial in trials.iterdir() if trials.is_dir() else ():
            if trial.is_dir() and not trial.is_symlink():
                discard_state(folder.resume_dir(trial.name))
