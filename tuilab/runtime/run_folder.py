"""One run folder: its layout, reading it back, its status, and what is wrong with it.

Nothing else in tuilab spells a file name of the store. Layout of
`runs/<scenario-stem>/<YYYYmmdd-HHMMSS>/`:

    run.json          status (running | finished | failed | stopped), pid, host, times
    heartbeat         touched every few seconds by the training process while it runs
    scenario.toml     the file as given;  resolved.json: every variant merged, overrides applied
                      (a run recorded from a script: no scenario.toml, resolved.json says
                      what its model, compile and fit said; run.json: "source": "script")
    events.jsonl      every event but transient progress, one JSON line each (append-only)
    results.json      per trial and per variant results (rewritten atomically)
    variants/<trial>/ history.csv, summary.json, batchnorm.jsonl, layers.jsonl (per-layer
                      weight and gradient norms), model.keras, checkpoints,
                      resume/ (the last finished epoch's state, until the trial finishes),
                      tensorboard/ (TensorBoard event files: `tensorboard --logdir runs`)
    tags.txt, note.md the user's tags (one a line) and note (`runtime.library` writes them)

Deleted runs wait in `runs/.trash/<stem>/<stamp>/` (with `trashed.json`) until purged.

Epochs are 1-based in every file (events, `history.csv`, checkpoint names), as users count.

A stored run is untrusted input (runs are copied between machines): every file is parsed
through a schema (`run_documents.py`). A run whose files fail it is `corrupt`, with the reason,
and every other run works as before. A half-written *last* line of `events.jsonl` (a killed
process) is expected and skipped; a bad line anywhere else makes the run corrupt, and the
readable events are kept.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tuilab import layout
from tuilab.errors import RunStoreError
from tuilab.runtime.events import Event, EventFormatError, event_from_json
from tuilab.runtime.results import ResultsBook
from tuilab.runtime.run_documents import ResultsDoc, RunMeta, first_error
from tuilab.runtime.user_text import read_note, read_tags

HEARTBEAT_SECONDS = 5.0
"""How often a training process touches its heartbeat."""
STALE_SECONDS = 60.0
"""A `running` run whose heartbeat is older than this is `incomplete` (its process is gone)."""
MAX_JSON_BYTES = 16 * 1024 * 1024
STATUSES = ("running", "finished", "failed", "stopped")
_SAFE_FOLDER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,79}")
_UNSAFE_FOLDER_CHARACTER = re.compile(r"[^A-Za-z0-9_.\-]")


@dataclass(frozen=True)
class EventLog:
    """A run's events, and the problems met while reading them (empty when all is well)."""

    events: list[Event]
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunInfo:
    """One stored run, from its small files only (fast to list)."""

    folder: Path
    scenario: str
    stem: str
    started: str
    status: str
    variants: list[str] = field(default_factory=list)
    best_val_accuracy: float | None = None
    """The best validation accuracy of any trial."""
    test_accuracy: float | None = None
    """The test accuracy of that same trial (shown beside it, never used to rank)."""
    problem: str = ""
    """Why the run is `corrupt`."""
    tags: tuple[str, ...] = ()
    note: str = ""
    """The user's note, as stored (show it through `presentation.text.clean`)."""

    @property
    def run_id(self) -> str:
        """`<stem>/<stamp>`, how commands name a run."""
        return f"{self.folder.parent.name}/{self.folder.name}"


class RunFolder:
    """A run folder on disk: paths, schema-checked reading, status."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # -- layout --------------------------------------------------------------------------
    def inside(self, *parts: str) -> Path:
        """`parts` below the run folder, checked step by step: no step may be a link.

        A run folder is copied and unpacked by users, so a link planted inside it (a trial's
        `resume/` pointing at another folder, say) must never be read, written or deleted
        through. Steps that do not exist yet are fine (they are created as real folders).

        Raises:
            RunStoreError: a step is a symbolic link.
        """
        path = self.path
        for depth, part in enumerate(parts, start=1):
            path = path / part
            try:
                mode = os.lstat(path).st_mode
            except OSError:  # missing (or not a folder): nothing below it to follow
                return self.path.joinpath(*parts)
            if stat.S_ISLNK(mode):
                inside = "/".join(parts[:depth])
                raise RunStoreError(
                    f"{inside} is a symbolic link (tuilab never reads, writes or deletes "
                    "through a link inside a run folder: replace it with the files themselves)"
                )
        return path

    def trial_file(self, trial: str, *parts: str) -> Path:
        """A file or folder in a trial's folder, by its layout name (see `_inside`)."""
        return self.inside(layout.TRIALS_DIR, trial_folder_name(trial), *parts)

    def links(self, limit: int = 20) -> list[str]:
        """The symbolic links anywhere inside the run folder (relative paths, at most `limit`),
        found without following any link."""
        found: list[str] = []
        for top, folders, files in os.walk(self.path, followlinks=False):
            for name in (*folders, *files):
                if os.path.islink(os.path.join(top, name)):
                    found.append(os.path.relpath(os.path.join(top, name), self.path))
                    if len(found) >= limit:
                        return found
        return found

    def refuse_links(self, doing: str) -> None:
        """Refuse to `doing` a run folder that holds a symbolic link anywhere.

        Raises:
            RunStoreError: it holds one (the first few are named).
        """
        if os.path.islink(self.path):
            raise RunStoreError(f"{self.path} is a symbolic link: give the run's real folder")
        found = self.links(limit=4)
        if found:
            named = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
            raise RunStoreError(
                f"cannot {doing} {self.run_id}: it holds symbolic links ({named}); tuilab "
                "never writes through a link inside a run folder (replace each with the files "
                "themselves, or remove it)"
            )

    @property
    def run_json(self) -> Path:
        """Status, pid, host and times."""
        return self.inside(layout.RUN_JSON)

    def worker_log(self, index: int) -> Path:
        """What worker process `index` of a parallel run printed (TensorFlow's messages)."""
        return self.inside(layout.WORKERS_DIR, f"worker-{index}.log")

    @property
    def control_dir(self) -> Path:
        """Steering requests from other processes (`control_channel`)."""
        return self.inside(layout.CONTROL_DIR)

    @property
    def heartbeat(self) -> Path:
        """Touched by the training process while it runs."""
        return self.inside(layout.HEARTBEAT)

    @property
    def scenario_toml(self) -> Path:
        """The scenario file as given."""
        return self.inside(layout.SCENARIO_TOML)

    @property
    def resolved_json(self) -> Path:
        """Every variant resolved."""
        return self.inside(layout.RESOLVED_JSON)

    @property
    def events_jsonl(self) -> Path:
        """The event log."""
        return self.inside(layout.EVENTS_JSONL)

    @property
    def results_json(self) -> Path:
        """Per trial and per variant results."""
        return self.inside(layout.RESULTS_JSON)

    @property
    def trials_dir(self) -> Path:
        """`variants/`, one folder per trial."""
        return self.inside(layout.TRIALS_DIR)

    @property
    def tags_txt(self) -> Path:
        """The user's tags, one a line."""
        return self.inside(layout.TAGS_TXT)

    @property
    def note_md(self) -> Path:
        """The user's note."""
        return self.inside(layout.NOTE_MD)

    @property
    def trash_record(self) -> Path:
        """In a deleted run: where it came from, and when it was deleted."""
        return self.inside(layout.TRASH_RECORD)

    def trial(self, name: str) -> Path:
        """`variants/<folder>/` of a trial (see `trial_folder_name`)."""
        return self.inside(layout.TRIALS_DIR, trial_folder_name(name))

    def history_csv(self, trial: str) -> Path:
        """Per-epoch metrics of one trial, epoch 1-based."""
        return self.trial_file(trial, layout.HISTORY_CSV)

    def summary_json(self, trial: str) -> Path:
        """The layer table."""
        return self.trial_file(trial, layout.SUMMARY_JSON)

    def batchnorm_jsonl(self, trial: str) -> Path:
        """BatchNormalization variables per epoch."""
        return self.trial_file(trial, layout.BATCHNORM_JSONL)

    def model_file(self, trial: str) -> Path:
        """The trained model."""
        return self.trial_file(trial, layout.MODEL_KERAS)

    def tensorboard_dir(self, trial: str) -> Path:
        """The trial's TensorBoard event files (`train/`, `validation/`, its hyperparameters)."""
        return self.trial_file(trial, layout.TENSORBOARD_DIR)

    def resume_dir(self, trial: str) -> Path:
        """The state of the trial's last finished epoch, kept until the trial finishes."""
        return self.trial_file(trial, layout.RESUME_DIR)

    def checkpoint_file(self, trial: str, epoch: int) -> Path:
        """A checkpoint taken on request during `epoch` (1-based)."""
        return self.trial_file(trial, layout.CHECKPOINT_PATTERN.format(epoch=epoch))

    @property
    def run_id(self) -> str:
        """`<stem>/<stamp>`."""
        return f"{self.path.parent.name}/{self.path.name}"

    # -- reading -------------------------------------------------------------------------
    def is_run(self) -> bool:
        """True when the folder holds its own `run.json` (a regular file, not a link): what
        makes a folder a tuilab run wherever it is given."""
        return _regular(self.path / layout.RUN_JSON)

    def looks_like_run(self) -> bool:
        """True when the folder holds a `run.json` or an `events.jsonl` (even a corrupt one):
        how a listing of the runs folder tells runs (a corrupt one too) from other folders."""
        return self.is_run() or _regular(self.path / layout.EVENTS_JSONL)

    def read_json(self, path: Path) -> Any:
        """A JSON file of this run, bounded in size.

        Raises:
            RunStoreError: missing, not a regular file, too large, or not JSON.
        """
        name = path.name
        if not _regular(path):
            raise RunStoreError(f"{name} is missing")
        if path.stat().st_size > MAX_JSON_BYTES:
            raise RunStoreError(f"{name} is larger than {MAX_JSON_BYTES // 1024 // 1024} MB")
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise RunStoreError(f"{name} is not valid JSON ({exc})") from None

    def meta(self) -> RunMeta:
        """`run.json`, checked.

        Raises:
            RunStoreError: missing or not a valid `run.json`.
        """
        try:
            return RunMeta.model_validate(self.read_json(self.run_json))
        except ValidationError as exc:
            raise RunStoreError(f"run.json: {first_error(exc)}") from None

    def results(self) -> ResultsDoc:
        """`results.json`, checked (the parts listings read).

        Raises:
            RunStoreError: missing or not valid.
        """
        try:
            return ResultsDoc.model_validate(self.read_json(self.results_json))
        except ValidationError as exc:
            raise RunStoreError(f"results.json: {first_error(exc)}") from None

    def resolved(self) -> dict[str, Any]:
        """`resolved.json` as a dict (an empty one when missing or invalid)."""
        try:
            data = self.read_json(self.resolved_json)
        except RunStoreError:
            return {}
        return data if isinstance(data, dict) else {}

    def read_events(self) -> EventLog:
        """Every valid event; problems name the line and what is wrong with it (the first
        `MAX_KEPT_PROBLEMS` verbatim, then how many more: see `ProblemTally`).

        Read line by line from a file opened only as a regular file (`open_regular`), each
        line at most `MAX_JSON_BYTES`: memory holds the events, never the bad lines.

        Raises:
            RunStoreError: there is no readable `events.jsonl` at all.
        """
        path = self.events_jsonl
        if not _regular(path):
            raise RunStoreError(f"{self.path}: no events.jsonl, not a tuilab run")
        try:
            stream = open_regular(path)
        except NotRegularFile:  # swapped for a FIFO or a link since the check
            raise RunStoreError(f"{self.path}: no events.jsonl, not a tuilab run") from None
        except OSError as exc:
            raise RunStoreError(f"{self.path}: events.jsonl cannot be read ({exc})") from None
        events: list[Event] = []
        problems = ProblemTally()
        number = 0
        with stream:
            try:
                while line := stream.readline(MAX_JSON_BYTES + 1):
                    number += 1
                    complete = line.endswith(b"\n")
                    if not complete and len(line) > MAX_JSON_BYTES:
                        while line and not line.endswith(b"\n"):  # the rest of it, unkept
                            line = stream.readline(_SKIP_BYTES)
                        problems.add(
                            f"events.jsonl line {number}: longer than {MAX_JSON_BYTES:,} bytes"
                        )
                        continue
                    try:
                        events.append(event_from_json(line.decode("utf-8")))
                    except (EventFormatError, UnicodeDecodeError) as exc:
                        if complete:  # a half-written last line is what a kill leaves
                            problems.add(f"events.jsonl line {number}: {exc}")
            except OSError as exc:
                raise RunStoreError(f"{self.path}: events.jsonl cannot be read ({exc})") from None
        return EventLog(events, problems.lines())

    # -- status --------------------------------------------------------------------------
    def heartbeat_age(self) -> float | None:
        """Seconds since the training process last touched its heartbeat, if it has one."""
        try:
            return max(0.0, time.time() - os.lstat(self.heartbeat).st_mtime)
        except (OSError, RunStoreError):
            return None

    def status(self, meta: RunMeta) -> str:
        """The stored status; a `running` run whose process is gone is `incomplete`.

        Decided from the heartbeat's age (right for a run copied from another host too), and
        on this host also from its pid, which answers at once after a kill.
        """
        if meta.status != "running":
            return meta.status
        if meta.host == socket.gethostname() and meta.pid and not _alive(meta.pid):
            return "incomplete"
        age = self.heartbeat_age()
        if age is None:  # a run stored before heartbeats, or one that never started beating
            return "running" if meta.host == socket.gethostname() else "incomplete"
        return "running" if age <= STALE_SECONDS else "incomplete"

    def _trial_values(self, status: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Each trial's best and test metrics: from `results.json` (the fold of the events the
        store writes as each trial ends) once the run has ended, else from folding the events
        themselves, so that a live or killed run lists the epochs it has, as `show` does."""
        if status not in ("running", "incomplete"):
            return [(t.best, t.test) for t in self.results().trials.values()]
        book = ResultsBook()
        for event in self.read_events().events:
            book.handle(event)
        self.results()  # still checked: a corrupt results.json makes the run corrupt
        return [(t.best, t.test) for t in book.trials.values()]

    def info(self) -> RunInfo:
        """What a listing shows; a run that fails its schema is `corrupt` with the reason."""
        tags, note, problem = (), "", ""
        try:
            tags = read_tags(self.tags_txt)
        except RunStoreError as exc:
            problem = str(exc)
        try:
            note = read_note(self.note_md)
        except RunStoreError as exc:
            problem = problem or str(exc)
        try:
            meta = self.meta()
            status = self.status(meta)
            trials = self._trial_values(status)
        except RunStoreError as exc:
            stem = self.path.parent.name
            return RunInfo(
                self.path, stem, stem, "", "corrupt", problem=str(exc), tags=tags, note=note
            )
        best_val, its_test = None, None
        for best, test in trials:
            value = best.get("val_accuracy")
            if value is not None and (best_val is None or value > best_val):
                best_val, its_test = value, test.get("accuracy")
        return RunInfo(
            self.path,
            meta.scenario,
            meta.stem,
            meta.started,
            "corrupt" if problem else status,
            list(meta.variants),
            best_val,
            its_test,
            problem,
            tags,
            note,
        )


def trial_folder_name(name: str) -> str:
    """The folder of a trial: its name when that is a safe folder name (variant names and
    their repeats, `adam`, `adam.r2`), else the name with odd characters as `_` and a hash of
    the whole name (`adam_lr_0.01_-3f2a9c1b04`), so that two sweep trials never share a folder
    and none can escape `variants/`. Applying it to its own result changes nothing."""
    if _SAFE_FOLDER.fullmatch(name):
        return name
    cleaned = _UNSAFE_FOLDER_CHARACTER.sub("_", name).lstrip(".-")[:60] or "trial"
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{cleaned}-{digest}"


def _regular(path: Path) -> bool:
    """A regular file (not a link, FIFO, device or folder)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def trash_dir(root: Path) -> Path:
    """`<root>/.trash/`: deleted runs, as `<stem>/<stamp>/`."""
    return root / layout.TRASH_DIR


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (killed, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return True  # no /proc (macOS): the signal answer stands
    return stat_line.rpartition(")")[2].split()[:1] != ["Z"]


MAX_KEPT_PROBLEMS = 20
"""Problems met reading lines (or records) that are kept verbatim; the rest are counted."""
MAX_PROBLEM_CHARS = 300
"""A kept problem is cut to this many characters (a bad line's own text can be in it)."""
_SKIP_BYTES = 1024 * 1024
"""How much of an over-long line is read (and dropped) at a time."""


@dataclass
class ProblemTally:
    """Problems met reading many lines or records: the first `MAX_KEPT_PROBLEMS` verbatim, the
    rest only counted, so a file of a million bad lines costs the memory of twenty."""

    noun: str = "bad lines"
    kept: list[str] = field(default_factory=list)
    more: int = 0
    """Problems met after the first `MAX_KEPT_PROBLEMS`: counted, not kept."""

    def add(self, problem: str) -> None:
        """Keep `problem` (cut to `MAX_PROBLEM_CHARS`) or, past the first few, count it."""
        if len(self.kept) >= MAX_KEPT_PROBLEMS:
            self.more += 1
        elif len(problem) > MAX_PROBLEM_CHARS:
            self.kept.append(problem[: MAX_PROBLEM_CHARS - 1] + "…")
        else:
            self.kept.append(problem)

    def lines(self) -> list[str]:
        """The kept problems, then `and 12,345 more bad lines` when some were only counted."""
        return [*self.kept, *([f"and {self.more:,} more {self.noun}"] if self.more else [])]

    def __bool__(self) -> bool:
        return bool(self.kept)


class NotRegularFile(OSError):
    """A path that is a FIFO, device, socket or folder (or a link, where links are refused)."""


_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path: Path, mode: int) -> NotRegularFile:
    kind = next((name for test, name in _KINDS if test(mode)), "a special file")
    return NotRegularFile(f"{path.name} is not a regular file: it is {kind}")


def open_regular(path: Path, follow_links: bool = False) -> io.BufferedReader:
    """`path` opened for reading only if it is a regular file; never blocks.

    Checked with `lstat` (`stat` when `follow_links`) before opening, so no device is ever
    opened; opened with `O_NONBLOCK` (a FIFO would open at once, not wait for a writer) and,
    unless `follow_links`, `O_NOFOLLOW`; checked again with `fstat` on what was opened, so a
    file swapped for a FIFO after the first check is refused too.

    Raises:
        NotRegularFile: a FIFO, device, socket, folder, or a link when links are not followed.
        OSError: missing or unreadable.
    """
    mode = (os.stat if follow_links else os.lstat)(path).st_mode
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)
    flags = os.O_RDONLY | os.O_NONBLOCK
    for name in ("O_CLOEXEC", "O_NOCTTY", *(() if follow_links else ("O_NOFOLLOW",))):
        flags |= getattr(os, name, 0)
    try:
        descriptor = os.open(path, flags)
    except OSError:
        if not follow_links and os.path.islink(path):  # O_NOFOLLOW met a link: ELOOP
            raise _not_regular(path, stat.S_IFLNK) from None
        raise
    try:
        mode = os.fstat(descriptor).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise
