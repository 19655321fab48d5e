"""The run store: one folder per run, written as training goes, readable after a crash.

Layout of `runs/<scenario-stem>/<YYYYmmdd-HHMMSS>/`:
    run.json          status (running | finished | failed | stopped), pid, times
    scenario.toml     the file as given;  resolved.json: every variant merged, overrides applied
    events.jsonl      every event but transient progress, one JSON line each (append-only)
    results.json      per trial and per variant results (rewritten atomically)
    variants/<trial>/ history.csv (Keras CSVLogger columns), summary.json,
                      batchnorm.jsonl, model.keras, checkpoint-epochNNNN.keras
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import re
import shutil
import socket
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from tuilab.errors import RunStoreError
from tuilab.runtime.events import (
    BatchNormSnapshot,
    EpochEnded,
    Event,
    RunFinished,
    VariantFailed,
    VariantFinished,
    VariantStarted,
    json_safe,
)
from tuilab.runtime.results import ResultsBook
from tuilab.scenario.loader import Scenario, resolved_document

MIN_FREE_BYTES = 50 * 1024 * 1024
_SAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def safe_name(name: str) -> str:
    """A folder name that cannot escape its parent (`../x` -> `x`, odd characters -> `_`)."""
    cleaned = _SAFE.sub("_", name).lstrip(".")
    return cleaned[:80] or "run"


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to a temporary file, then rename: readers never see half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "w", encoding="utf-8") as stream:
        json.dump(data, stream, indent=2, allow_nan=False, default=_json_default)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(temporary, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


class RunStore:
    """Writes one run's folder; use `handle` as (part of) the runner's event sink."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.book = ResultsBook()
        self._events: IO[str] = open(folder / "events.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._history: dict[str, tuple[IO[str], list[str]]] = {}
        self._meta: dict[str, Any] = {}

    @classmethod
    def create(cls, root: Path, scenario: Scenario) -> RunStore:
        """Make the run folder and write what is known before training.

        Raises:
            RunStoreError: the folder cannot be written or the disk is (nearly) full.
        """
        parent = root / safe_name(scenario.stem)
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
                f"only {free // 1024 // 1024} MB free under {root}; training needs at least "
                f"{MIN_FREE_BYTES // 1024 // 1024} MB for its run folder"
            )
        store = cls(folder)
        store._write_start(scenario)
        return store

    def _write_start(self, scenario: Scenario) -> None:
        with contextlib.suppress(OSError):  # resolved.json below is the authoritative record
            shutil.copyfile(scenario.path, self.folder / "scenario.toml")
        resolved = {
            "path": str(scenario.path),
            "overrides": list(scenario.overrides),
            "variants": {name: resolved_document(scenario, name) for name in scenario.variants},
        }
        write_json_atomic(self.folder / "resolved.json", json_safe(resolved))
        self._meta = {
            "scenario": scenario.name,
            "stem": scenario.stem,
            "variants": list(scenario.variants),
            "status": "running",
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.now().isoformat(timespec="seconds"),
        }
        write_json_atomic(self.folder / "run.json", self._meta)
        write_json_atomic(self.folder / "results.json", self.book.to_dict())

    def trial_folder(self, trial: str) -> Path:
        """`variants/<trial>/`, created on demand."""
        folder = self.folder / "variants" / safe_name(trial)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def handle(self, event: Event) -> None:
        """Record one event (called on the training thread, so it is on disk when it returns)."""
        if event.transient:
            return
        self.book.handle(event)
        self._events.write(event.to_json() + "\n")
        self._events.flush()
        if isinstance(event, VariantStarted):
            folder = self.trial_folder(event.trial)
            write_json_atomic(folder / "summary.json", event.summary)
            if event.batchnorm:
                self._append_line(
                    folder / "batchnorm.jsonl", {"epoch": 0, "layers": event.batchnorm}
                )
        elif isinstance(event, EpochEnded):
            self._append_history(event)
        elif isinstance(event, BatchNormSnapshot):
            folder = self.trial_folder(event.trial)
            self._append_line(
                folder / "batchnorm.jsonl", {"epoch": event.epoch, "layers": event.layers}
            )
        elif isinstance(event, VariantFinished | VariantFailed):
            self._close_history(event.trial)
            write_json_atomic(self.folder / "results.json", json_safe(self.book.to_dict()))
        elif isinstance(event, RunFinished):
            write_json_atomic(self.folder / "results.json", json_safe(self.book.to_dict()))
            self._meta.update(
                status=event.status, finished=datetime.now().isoformat(timespec="seconds")
            )
            write_json_atomic(self.folder / "run.json", self._meta)
            self.close()

    def _append_line(self, path: Path, data: dict[str, Any]) -> None:
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(json_safe(data), separators=(",", ":")) + "\n")

    def _append_history(self, event: EpochEnded) -> None:
        """One CSVLogger-style row: epoch (0-based, as Keras writes it), sorted logs, lr."""
        if event.trial not in self._history:
            path = self.trial_folder(event.trial) / "history.csv"
            columns = sorted({*event.logs, "learning_rate"})
            stream = open(path, "a", newline="", encoding="utf-8")  # noqa: SIM115
            csv.writer(stream).writerow(["epoch", *columns])
            self._history[event.trial] = (stream, columns)
        stream, columns = self._history[event.trial]
        values = {**event.logs, "learning_rate": event.learning_rate}
        csv.writer(stream).writerow([event.epoch - 1, *(values.get(c, "") for c in columns)])
        stream.flush()

    def _close_history(self, trial: str) -> None:
        entry = self._history.pop(trial, None)
        if entry:
            entry[0].close()

    def close(self) -> None:
        """Close open files (idempotent)."""
        for trial in list(self._history):
            self._close_history(trial)
        if not self._events.closed:
            self._events.close()

    def mark_interrupted(self, status: str) -> None:
        """Record a run that ended without a RunFinished event (signal before the runner ended)."""
        self._meta.update(status=status, finished=datetime.now().isoformat(timespec="seconds"))
        write_json_atomic(self.folder / "run.json", self._meta)
        self.close()
