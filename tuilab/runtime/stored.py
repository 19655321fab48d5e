"""Reading stored runs: listings, events for replay, histories. Never imports TensorFlow."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuilab.errors import RunStoreError
from tuilab.runtime.events import Event, event_from_json
from tuilab.runtime.results import ResultsBook


@dataclass(frozen=True)
class RunInfo:
    """One stored run, from its small files only (fast to list)."""

    folder: Path
    scenario: str
    stem: str
    started: str
    status: str
    variants: list[str] = field(default_factory=list)
    best_test_accuracy: float | None = None

    @property
    def run_id(self) -> str:
        """`<stem>/<stamp>`, how commands name a run."""
        return f"{self.folder.parent.name}/{self.folder.name}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def run_status(meta: dict[str, Any]) -> str:
    """The stored status, or `incomplete` for a run whose process died while running."""
    status = meta.get("status", "incomplete")
    if status == "running":
        same_host = meta.get("host") == socket.gethostname()
        if not same_host or not _alive(int(meta.get("pid", 0) or 0)):
            return "incomplete"
    return status


def read_run_info(folder: Path) -> RunInfo | None:
    """A `RunInfo` for a run folder, or None if it is not one."""
    meta = _read_json(folder / "run.json")
    if not meta:
        return None
    results = _read_json(folder / "results.json")
    accuracies = [
        t["test"]["accuracy"]
        for t in results.get("trials", {}).values()
        if isinstance(t.get("test"), dict) and t["test"].get("accuracy") is not None
    ]
    return RunInfo(
        folder,
        meta.get("scenario", folder.parent.name),
        meta.get("stem", folder.parent.name),
        meta.get("started", ""),
        run_status(meta),
        list(meta.get("variants", [])),
        max(accuracies) if accuracies else None,
    )


def list_runs(root: Path) -> list[RunInfo]:
    """Every stored run under `root`, newest first."""
    if not root.is_dir():
        return []
    runs = []
    for scenario_folder in root.iterdir():
        if not scenario_folder.is_dir():
            continue
        for folder in scenario_folder.iterdir():
            info = read_run_info(folder) if folder.is_dir() else None
            if info:
                runs.append(info)
    runs.sort(key=lambda r: (r.started, r.folder.name), reverse=True)
    return runs


def find_run(root: Path, name: str) -> Path:
    """Resolve a run given as a path, `<stem>/<stamp>`, a stamp, or `latest`/`<stem>` (newest).

    Raises:
        RunStoreError: nothing matches.
    """
    direct = Path(name)
    if (direct / "run.json").is_file():
        return direct
    if (root / name / "run.json").is_file():
        return root / name
    runs = list_runs(root)
    for info in runs:
        if name in ("latest", info.stem, info.folder.name):
            return info.folder
    raise RunStoreError(f"no stored run {name!r} under {root} (see `tuilab runs`)")


def load_events(folder: Path) -> list[Event]:
    """A run's stored events; a half-written last line (a killed process) is skipped."""
    path = folder / "events.jsonl"
    if not path.is_file():
        raise RunStoreError(f"{folder}: no events.jsonl, not a tuilab run")
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            events.append(event_from_json(line))
        except (ValueError, KeyError, TypeError):
            continue
    return events


def load_results(folder: Path) -> ResultsBook:
    """Results rebuilt from the events (also right for runs killed before results.json)."""
    book = ResultsBook()
    for event in load_events(folder):
        book.handle(event)
    if book.status == "running":
        book.status = run_status(_read_json(folder / "run.json"))
    return book


def resolved_scenario(folder: Path) -> dict[str, Any]:
    """The stored `resolved.json`."""
    return _read_json(folder / "resolved.json")
