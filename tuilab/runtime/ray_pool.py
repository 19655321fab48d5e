"""Trials as Ray tasks (`[run] executor = "ray"`): a sweep that outgrows one box.

tuilab schedules nothing itself: each trial is a Ray task asking for one GPU when the cluster
has GPUs (else one CPU), on whatever node Ray picks; the cluster is the one `RAY_ADDRESS`
names (`ray start --head` on one machine, `ray start --address=...` on the others), or a
local one Ray starts when it is unset. tuilab must be installed on every node.

A task trains in a temporary folder on its node; its events travel live through a small
mailbox actor (which also carries steering requests the other way); when the trial ends, its
files (model, checkpoints, callbacks' files, resume state) come back with the task's result
and are written into the run folder where the command was started. Each epoch's resume state
also travels back as soon as it is saved, and a resumed trial's state travels to its task, so
a node that dies fails only the trials it was training, and `tuilab resume` continues them
from their last finished epoch. The mailbox lives on the coordinator's node.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import threading
from pathlib import Path, PurePosixPath
from typing import Any

from tuilab import layout
from tuilab.backend import requested_backend
from tuilab.errors import TuilabError
from tuilab.runtime.control import Request
from tuilab.runtime.events import Event
from tuilab.runtime.local_pool import TrialDone, TrialLost
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.training_state import discard_state, state_files, write_state_files
from tuilab.runtime.trial_worker import TrialTask, TrialTrainer, WorkerSpec

COMMAND_POLL_SECONDS = 0.5
STORE_WRITES = frozenset(
    {layout.HISTORY_CSV, layout.SUMMARY_JSON, layout.BATCHNORM_JSONL, layout.LAYERS_JSONL}
)
"""Trial files the run store writes from the events: a task's copies are not brought back."""


class Mailbox:
    """A Ray actor: events from the tasks to the coordinator, requests the other way."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.requests: dict[str, list[Any]] = {}

    def put(self, item: Any) -> None:
        self.events.append(item)

    def take(self) -> list[Any]:
        items, self.events = self.events, []
        return items

    def send(self, trial: str, request: Any) -> None:
        self.requests.setdefault(trial, []).append(request)

    def requests_for(self, trial: str) -> list[Any]:
        return self.requests.pop(trial, [])


def train_remotely(
    spec: WorkerSpec, task: TrialTask, mailbox: Any, resume: dict[str, bytes] | None = None
) -> dict[str, Any]:
    """The Ray task: train one trial in a temporary run folder; its status and its files.

    `resume` is the state a resumed trial continues from (`state_files`); each state this
    task saves goes back through the mailbox as ("state", trial, files).
    """
    import ray

    from tuilab.backend import import_keras

    import_keras()
    with tempfile.TemporaryDirectory(prefix="tuilab-trial-") as scratch:
        folder = Path(scratch) / "run"
        states = RunFolder(folder).resume_dir(task.trial)
        if resume:
            write_state_files(states, resume)
        local = WorkerSpec(spec.scenario, folder, spec.run_dir)
        trainer = TrialTrainer(local, lambda event: mailbox.put.remote(("event", event)))
        done = threading.Event()
        shipped = {"state": b""}

        def ship_state() -> None:
            """Send the state once per save (its arrays are read only when it is new)."""
            with contextlib.suppress(OSError):
                if (states / layout.RESUME_STATE).read_bytes() == shipped["state"]:
                    return
            files = state_files(states)
            if files and files[layout.RESUME_STATE] != shipped["state"]:
                shipped["state"] = files[layout.RESUME_STATE]
                mailbox.put.remote(("state", task.trial, files))

        def obey() -> None:
            while not done.wait(COMMAND_POLL_SECONDS):
                for request in ray.get(mailbox.requests_for.remote(task.trial)):
                    trainer.obey(task.trial, request)
                ship_state()

        watcher = threading.Thread(target=obey, daemon=True)
        watcher.start()
        try:
            status = trainer.train(task)
        finally:
            done.set()
            watcher.join()
            ship_state()  # the last epoch's, if the watcher had not seen it yet
        ray.get(mailbox.put.remote(("flushed", task.trial)))  # every event is in before we return
        return {
            "status": status,
            "files": _trial_files(RunFolder(folder).trial(task.trial)),
            "node": ray.get_runtime_context().get_node_id(),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }


def _trial_files(folder: Path) -> dict[str, bytes]:
    """Every file the trial wrote, by its path inside the trial folder (not the store's own)."""
    if not folder.is_dir():
        return {}
    files = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and not path.is_symlink() and relative not in STORE_WRITES:
            files[relative] = path.read_bytes()
    return files


class RayPool:
    """Up to `workers` trials at once as Ray tasks; same interface as `LocalPool`."""

    def __init__(self, spec: WorkerSpec, workers: int) -> None:
        try:
            import ray
        except ImportError:
            raise TuilabError(
                'executor = "ray" needs Ray: pip install "tuilab[ray]" (on every node)'
            ) from None
        self._ray = ray
        self._connected_here = not ray.is_initialized()
        if self._connected_here:
            with _quiet():
                ray.init(log_to_driver=False, logging_level="ERROR", configure_logging=True)
        self._spec_ref = ray.put(spec)
        self._mailbox = ray.remote(Mailbox).options(num_cpus=0, **_here()).remote()
        gpus = ray.cluster_resources().get("GPU", 0)
        need = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        backend = {"env_vars": {"KERAS_BACKEND": requested_backend()}}  # the coordinator's
        self._task = ray.remote(train_remotely).options(max_retries=0, runtime_env=backend, **need)
        self._workers = workers
        self._running: dict[str, Any] = {}
        self._folder = RunFolder(spec.artifacts) if spec.artifacts is not None else None

    def idle(self) -> int:
        return self._workers - len(self._running)

    def usable(self) -> int:
        return self._workers

    def why_unusable(self) -> str:
        return ""

    def submit(self, task: TrialTask) -> None:
        resume = None
        if task.state is not None and self._folder is not None:
            resume = state_files(self._folder.resume_dir(task.trial))
        self._running[task.trial] = self._task.remote(self._spec_ref, task, self._mailbox, resume)

    def send(self, trial: str, request: Request) -> None:
        self._mailbox.send.remote(trial, request)

    def receive(self, timeout: float) -> list[Event | TrialDone | TrialLost]:
        """Events so far, then the trials whose tasks ended (their files written here)."""
        ray = self._ray
        refs = list(self._running.values())
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout) if refs else ([], [])
        received: list[Event | TrialDone | TrialLost] = []
        for item in ray.get(self._mailbox.take.remote()):
            if item[0] == "event":
                received.append(item[1])
            elif item[0] == "state":
                self._keep_state(item[1], item[2])
        for trial, ref in list(self._running.items()):
            if ref not in ready:
                continue
            del self._running[trial]
            try:
                result = ray.get(ref)
            except Exception as exc:  # a task error, a dead worker or node
                received.append(TrialLost(trial, f"its Ray task failed: {_first_line(exc)}"))
                continue
            self._bring_back(trial, result)
            if result["status"] == "finished" and self._folder is not None:
                discard_state(self._folder.resume_dir(trial))
            received.append(TrialDone(trial, result["status"]))
        return received

    def _keep_state(self, trial: str, files: dict[str, bytes]) -> None:
        """Store the resume state a task just saved (a dead node's trial resumes from it)."""
        if self._folder is None or trial not in self._running:
            return
        folder = self._folder.resume_dir(trial)
        if not folder.parent.resolve().is_relative_to(self._folder.path.resolve()):
            return  # never through a link out of the run folder
        with contextlib.suppress(TuilabError, OSError):  # the task's final files still come
            write_state_files(folder, files)

    def _bring_back(self, trial: str, result: dict[str, Any]) -> None:
        """Write the task's files into the trial's folder, refusing any path leading out."""
        if self._folder is None:
            return
        target = self._folder.trial(trial)
        for name, data in result["files"].items():
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts or not path.parts:
                continue
            destination = target.joinpath(*path.parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            if destination.is_symlink() or not destination.resolve().is_relative_to(
                target.resolve()
            ):
                continue  # never written through a link, never outside the trial's folder
            destination.write_bytes(data)
        where = {k: result[k] for k in ("node", "host", "pid")} | {"executor": "ray"}
        (target / layout.WORKER_JSON).write_text(json.dumps(where, indent=2), encoding="utf-8")

    def close(self) -> None:
        """Cancel what still runs; disconnect (and stop the local Ray this pool started)."""
        for ref in self._running.values():
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
        self._running.clear()
        if self._connected_here:
            with _quiet():
                self._ray.shutdown()


@contextlib.contextmanager
def _quiet() -> Any:
    """Ray's start-up and shut-down messages must not land on the app's screen."""
    from tuilab.backend import stderr_silenced
    from tuilab.runtime.local_pool import real_standard_streams

    with real_standard_streams(), stderr_silenced():
        yield


def _here() -> dict[str, Any]:
    """Ray options placing an actor on this (the coordinator's) node, which lives as long as
    the run does (soft affinity placed it on a worker node when this one had no CPU)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    try:
        node = ray.get_runtime_context().get_node_id()
    except Exception:  # a Ray client connection has no node here
        return {}
    return {"scheduling_strategy": NodeAffinitySchedulingStrategy(node, soft=False)}


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:300]
