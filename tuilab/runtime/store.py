"""Writing a run folder as training goes, readable after a crash (layout: `run_folder.py`).

Every write goes through `RunStore`: events appended line by line, JSON files written then
renamed (`store_files.py`), a heartbeat touched every few seconds by a daemon thread. A write
that fails (disk full, folder removed) raises `RunStoreError` so the runner fails the trial
instead of crashing. A store holds its run's lock (`run_lock`) from opening to closing: one
process at a time writes a run, and no path it writes passes through a link.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from tuilab.errors import RunStoreError
from tuilab.layout import BATCHNORM_JSONL, CONFUSION_JSON, LAYERS_JSONL, MISTAKES_NPZ
from tuilab.runtime.csv_cells import safe_writer
from tuilab.runtime.events import (
    BatchNormSnapshot,
    ClassificationReport,
    EpochEnded,
    Event,
    RunFinished,
    VariantFailed,
    VariantFinished,
    VariantResumed,
    VariantStarted,
    json_safe,
)
from tuilab.runtime.layer_events import LayerStats
from tuilab.runtime.results import ResultsBook
from tuilab.runtime.run_folder import HEARTBEAT_SECONDS, RunFolder
from tuilab.runtime.run_lock import RunLock
from tuilab.runtime.store_files import (
    cut_partial_line,
    epoch_of,
    keep_lines_until,
    open_append,
    read_csv,
    write_csv,
    write_json_atomic,
)
from tuilab.scenario.loader import Scenario, resolved_document

MIN_FREE_BYTES = 50 * 1024 * 1024
_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def safe_name(name: str) -> str:
    """A folder name that cannot escape its parent (`../x` -> `x`, odd characters -> `_`)."""
    cleaned = _SAFE.sub("_", name).lstrip(".")
    return cleaned[:80] or "run"


class RunStore:
    """Writes one run's folder; use `handle` as (part of) the runner's event sink."""

    def __init__(self, folder: Path, lock: RunLock | None = None) -> None:
        self.run = RunFolder(folder)
        self.folder = folder
        self.lock = lock if lock is not None else RunLock(self.run).acquire()
        """The run's lock, held until `close`."""
        self.book = ResultsBook()
        try:
            self._events: IO[str] = open_append(self.run.events_jsonl)
        except BaseException:
            self.lock.release()
            raise
        self._history: dict[str, tuple[IO[str], list[str]]] = {}
        self._meta: dict[str, Any] = {}
        self._beating = threading.Event()
        self._beat_thread: threading.Thread | None = None

    @classmethod
    def create(cls, root: Path, scenario: Scenario) -> RunStore:
        """Make the run folder, write what is known before training, start the heartbeat.

        Raises:
            RunStoreError: the folder cannot be written or the disk is (nearly) full.
        """
        return cls._create(root, scenario.stem, lambda store: store._write_start(scenario))

    @classmethod
    def create_for_script(
        cls, root: Path, name: str, trial: str, resolved: dict[str, Any], script: str
    ) -> RunStore:
        """Make the folder of a run recorded from a user's own Keras script (`tuilab.keras`):
        no `scenario.toml`, `resolved` (what its model, compile and fit said) as `resolved.json`,
        and `"source": "script"` in `run.json` (`tuilab resume` refuses it).

        Raises:
            RunStoreError: the folder cannot be written or the disk is (nearly) full.
        """
        meta = {"scenario": name, "stem": safe_name(name), "variants": [trial], "source": "script"}
        meta["script"] = script
        return cls._create(root, name, lambda store: store._write_documents(resolved, meta))

    @classmethod
    def _create(cls, root: Path, stem: str, write_start: Callable[[RunStore], None]) -> RunStore:
        """A new `<root>/<stem>/<stamp>/` folder, its first files written by `write_start`."""
        parent = root / safe_name(stem)
        try:
            parent.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            folder, suffix = parent / stamp, 1
            while True:
                try:
                    folder.mkdir()
                    break
                except FileExistsError:
                    suffix += 1
                    folder = parent / f"{stamp}-{suffix}"
            free = shutil.disk_usage(folder).free
        except OSError as exc:
            raise RunStoreError(
                f"runs folder {root} is not writable ({exc.strerror}); "
                "use --runs-dir or $TUILAB_RUNS to store runs elsewhere"
            ) from None
        if free < MIN_FREE_BYTES:
            shutil.rmtree(folder, ignore_errors=True)
            raise RunStoreError(
                f"only {free // 1024 // 1024} MB free under {root}; training needs at "
                f"least {MIN_FREE_BYTES // 1024 // 1024} MB for its run folder"
            )
        store = cls(folder)
        try:
            write_start(store)
        except OSError as exc:
            store.close()
            raise RunStoreError(f"cannot write {folder}: {exc.strerror or exc}") from None
        store._start_heartbeat()
        return store

    @classmethod
    def reopen(cls, folder: Path, lock: RunLock | None = None) -> RunStore:
        """Open a stopped, killed or failed run to append to it (`tuilab resume`).

        Its results are rebuilt from its events, a half-written last event line (a killed
        process) is cut off, `run.json` says `running` again with this process's pid and the
        time of the resume, and the heartbeat starts.

        Args:
            folder: The run folder.
            lock: Its lock, when the caller took it before planning the resume.

        Raises:
            RunStoreError: the run cannot be read or written, or another process holds it.
        """
        from tuilab.runtime.stored import load_run

        run = RunFolder(folder)
        lock = lock if lock is not None else RunLock(run).acquire("resume")
        try:
            meta = run.meta().model_dump()
            cut_partial_line(run.events_jsonl)
            stored = load_run(run)
            store = cls(folder, lock)
        except OSError as exc:
            lock.release()
            raise RunStoreError(f"cannot write {folder}: {exc.strerror or exc}") from None
        except BaseException:
            lock.release()
            raise
        for event in stored.events:
            store.book.handle(event)
        now = datetime.now().isoformat(timespec="seconds")
        meta.update(status="running", pid=os.getpid(), host=socket.gethostname())
        meta["resumed"] = [*meta.get("resumed", []), now]
        for key in ("finished", "reason"):
            meta.pop(key, None)
        store._meta = meta
        try:
            run.heartbeat.touch()
            write_json_atomic(run.run_json, meta)
        except OSError as exc:
            store.close()
            raise RunStoreError(f"cannot write {folder}: {exc.strerror or exc}") from None
        store._start_heartbeat()
        return store

    @classmethod
    def amend(cls, folder: Path) -> RunStore:
        """Open an ended run to append events (its results rebuilt from them), `run.json` and
        heartbeat untouched: a script's `evaluate` after its fit (`tuilab.keras`). Close it after.

        Raises:
            RunStoreError: the run cannot be read or written.
        """
        from tuilab.runtime.stored import load_run

        lock = RunLock(folder).acquire("record into")
        try:
            stored = load_run(RunFolder(folder))
            store = cls(folder, lock)
        except OSError as exc:
            lock.release()
            raise RunStoreError(f"cannot write {folder}: {exc.strerror or exc}") from None
        except BaseException:
            lock.release()
            raise
        for event in stored.events:
            store.book.handle(event)
        return store

    def _write_start(self, scenario: Scenario) -> None:
        with contextlib.suppress(OSError):  # resolved.json below is the authoritative record
            shutil.copyfile(scenario.path, self.run.scenario_toml)
        resolved = {
            "path": str(scenario.path),
            "overrides": list(scenario.overrides),
            "variants": {name: resolved_document(scenario, name) for name in scenario.variants},
        }
        if scenario.sweep is not None:
            resolved["sweep"] = scenario.sweep.to_document()
        meta = {"scenario": scenario.name, "stem": scenario.stem}
        meta["variants"] = list(scenario.variants)
        self._write_documents(resolved, meta)

    def _write_documents(self, resolved: dict[str, Any], meta: dict[str, Any]) -> None:
        """`resolved.json`, `run.json` (`meta`, running in this process), `results.json`."""
        write_json_atomic(self.run.resolved_json, json_safe(resolved))
        self._meta = {
            **meta,
            "status": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now().isoformat(timespec="seconds"),
        }
        self.run.heartbeat.touch()
        write_json_atomic(self.run.run_json, self._meta)
        write_json_atomic(self.run.results_json, self.book.to_dict())

    def _start_heartbeat(self) -> None:
        """Touch `heartbeat` every few seconds from a daemon thread (never the training one)."""

        heartbeat = self.run.heartbeat

        def beat() -> None:
            while not self._beating.wait(HEARTBEAT_SECONDS):
                with contextlib.suppress(OSError):
                    os.utime(heartbeat, follow_symlinks=False)

        self._beat_thread = threading.Thread(target=beat, name="tuilab-heartbeat", daemon=True)
        self._beat_thread.start()

    def trial_folder(self, trial: str) -> Path:
        """`variants/<trial>/`, created on demand."""
        folder = self.run.trial(trial)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def handle(self, event: Event) -> None:
        """Record one event (on the training thread, so it is on disk when it returns).

        Raises:
            RunStoreError: the folder cannot be written (disk full, removed, read-only).
        """
        if event.transient:
            return
        try:
            self._record(event)
        except OSError as exc:
            raise RunStoreError(
                f"cannot write the run folder {self.folder}: {exc.strerror or exc}"
            ) from None

    def _record(self, event: Event) -> None:
        self.book.handle(event)
        self._events.write(event.to_json() + "\n")
        self._events.flush()
        if isinstance(event, VariantResumed):
            self._rewind(event.trial, event.from_epoch)
        elif isinstance(event, VariantStarted):
            folder = self.trial_folder(event.trial)
            self._rewind(event.trial, None)  # a trial started again from its first epoch
            write_json_atomic(self.run.summary_json(folder.name), event.summary)
            if event.batchnorm:
                self._append_line(
                    self.run.batchnorm_jsonl(folder.name), {"epoch": 0, "layers": event.batchnorm}
                )
        elif isinstance(event, EpochEnded):
            self._append_history(event)
        elif isinstance(event, BatchNormSnapshot | LayerStats):
            folder = self.trial_folder(event.trial)
            name = BATCHNORM_JSONL if isinstance(event, BatchNormSnapshot) else LAYERS_JSONL
            path = self.run.trial_file(folder.name, name)
            self._append_line(path, {"epoch": event.epoch, "layers": event.layers})
        elif isinstance(event, ClassificationReport):
            self.trial_folder(event.trial)
            write_json_atomic(self.run.trial_file(event.trial, CONFUSION_JSON), event.to_dict())
        elif isinstance(event, VariantFinished | VariantFailed):
            self._close_history(event.trial)
            write_json_atomic(self.run.results_json, json_safe(self.book.to_dict()))
        elif isinstance(event, RunFinished):
            write_json_atomic(self.run.results_json, json_safe(self.book.to_dict()))
            self._finish(event.status)

    def _rewind(self, trial: str, epoch: int | None) -> None:
        """Keep only the history, BatchNorm and layer lines up to `epoch` (None: none)."""
        name = self.trial_folder(trial).name
        self._close_history(trial)
        self.run.trial_file(name, CONFUSION_JSON).unlink(missing_ok=True)  # reported again
        self.run.trial_file(name, MISTAKES_NPZ).unlink(missing_ok=True)
        history = self.run.history_csv(name)
        if history.exists():
            rows = read_csv(history)
            kept = [r for r in rows[1:] if epoch is not None and epoch_of(r[0]) <= epoch]
            if epoch is None or not rows:
                history.unlink()
            else:
                write_csv(history, [rows[0], *kept])
                self._history[trial] = (open_append(history, newline=""), rows[0][1:])
        for lines_file in (self.run.batchnorm_jsonl(name), self.run.trial_file(name, LAYERS_JSONL)):
            if lines_file.exists():
                keep_lines_until(lines_file, epoch)

    def _append_line(self, path: Path, data: dict[str, Any]) -> None:
        with open_append(path) as stream:
            stream.write(json.dumps(json_safe(data), separators=(",", ":")) + "\n")

    def _append_history(self, event: EpochEnded) -> None:
        """One row: epoch (1-based, as in the events), the sorted metrics, learning_rate."""
        if event.trial not in self._history:
            path = self.run.history_csv(self.trial_folder(event.trial).name)
            columns = sorted({*event.logs, "learning_rate"})
            stream = open_append(path, newline="")
            safe_writer(stream).writerow(["epoch", *columns])
            self._history[event.trial] = (stream, columns)
        stream, columns = self._history[event.trial]
        values = {**event.logs, "learning_rate": event.learning_rate}
        safe_writer(stream).writerow([event.epoch, *(values.get(c, "") for c in columns)])
        stream.flush()

    def _close_history(self, trial: str) -> None:
        entry = self._history.pop(trial, None)
        if entry:
            entry[0].close()

    def _finish(self, status: str, reason: str = "") -> None:
        self._meta.update(status=status, finished=datetime.now().isoformat(timespec="seconds"))
        if reason:
            self._meta["reason"] = reason
        try:
            write_json_atomic(self.run.run_json, self._meta)
        finally:
            self.close()

    def close(self) -> None:
        """Stop the heartbeat, close open files and give up the run's lock (idempotent)."""
        self._beating.set()
        for trial in list(self._history):
            with contextlib.suppress(OSError):
                self._close_history(trial)
        if not self._events.closed:
            with contextlib.suppress(OSError):
                self._events.close()
        self.lock.release()

    @property
    def finished(self) -> bool:
        """True once the run's end is recorded (a `RunFinished` or `mark_ended`)."""
        return self._beating.is_set()

    def mark_ended(self, status: str, reason: str = "") -> None:
        """Record a run that ended without a `RunFinished` event (a signal, an internal error).

        Never raises: if even `run.json` cannot be written, the heartbeat stops, so listings
        call the run `incomplete` within a minute.
        """
        if self.finished:
            return
        with contextlib.suppress(OSError):
            self._finish(status, reason[:500])
        self.close()
