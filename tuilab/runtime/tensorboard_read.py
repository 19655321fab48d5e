"""TensorBoard log directories read as stored runs: `tuilab show/compare LOGDIR` and the app.

Each TensorBoard run (a folder of event files) becomes a trial; Keras's `TensorBoard` callback
writes `X/train` and `X/validation`, which become one trial `X` whose validation scalars get
the `val_` prefix, so its curves overlay tuilab's. `epoch_loss` reads as `loss`; Keras counts
epochs from step 0, tuilab from 1. The result is the same events a tuilab run stores, so every
reader works on it unchanged.

A log directory is untrusted input (copied between machines, or anything a user points at),
so this reader never hangs and never grows without bound:

- Folders are walked as `os.walk(followlinks=False)` does, by hand (no recursion): a link to a
  folder is never followed, a folder is visited once (by device and inode: a bind-mount loop
  ends too), at most `MAX_RUN_DEPTH` deep and `MAX_FOLDERS` in all; the walk stops once it has
  `MAX_RUNS` runs (the first in name order).
- Event files are opened only as regular files (`open_regular`: a FIFO or a device named like
  an event file is skipped, and said so, never opened for reading), each once: no folder is
  listed again per file (TensorBoard's `DirectoryWatcher` lists a run's folder after every
  file, the square of the files in a folder).
- Records are read by the TFRecord framing TensorBoard's own reader uses (length, its masked
  CRC-32C, data, the data's CRC, not checked here: that would cost more than the parse in
  Python); a record whose length fails its check ends that file (TensorBoard's `DataLossError`),
  one that runs past the end is a record still being written (skipped, as TensorBoard waits
  for it), one over `MAX_RECORD_BYTES` is skipped unread (an image or a graph, not a scalar).
- Scalars are kept for at most `MAX_POINTS` steps per run, sampled as TensorBoard's reservoir
  samples (uniformly, seeded, always keeping the newest), and `MAX_TAGS` metrics per run; a
  `SessionLog.START` (or, in files before version 2, a step going back) drops the steps at or
  after it, as TensorBoard's purge does (here by whole steps, not by tags). Every fold is
  linear in the records read.
- Problems (a skipped file, a corrupt record) are counted past the first few (`ProblemTally`).

Never imports TensorFlow: the framing and `event_pb2` are TensorBoard's own, TensorFlow-free.
"""

from __future__ import annotations

import heapq
import os
import random
import struct
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuilab.runtime.events import (
    EpochEnded,
    Event,
    RunFinished,
    RunStarted,
    VariantFinished,
    VariantStarted,
)
from tuilab.runtime.run_folder import ProblemTally, open_regular

EVENT_FILE_PREFIX = "events.out.tfevents."
MAX_DEPTH = 4
"""How deep below the log directory event files are looked for to tell it is one."""
MAX_RUN_DEPTH = 16
"""How deep below the log directory runs are read."""
MAX_FOLDERS = 20_000
"""Folders visited at most, however the log directory is laid out."""
MAX_RUNS = 200
MAX_POINTS = 10_000
"""Steps kept per run (TensorBoard keeps as many per tag by default)."""
MAX_TAGS = 1_000
"""Scalar series kept per run; summary metadata is remembered for as many tags."""
MAX_RECORD_BYTES = 16 * 1024 * 1024
"""A record larger than this is skipped unread: no scalar summary is anywhere near it."""
VALIDATION_FOLDERS = ("validation", "eval", "val")
TRAIN_FOLDERS = ("train",)
_HEADER = struct.Struct("<QI")
_START = 1
"""`SessionLog.START`: the run restarted from this step."""


@dataclass(frozen=True)
class TensorBoardLog:
    """A log directory's scalars as tuilab events, and what was skipped while reading it."""

    events: list[Event]
    problems: list[str] = field(default_factory=list)


def is_event_file(name: str) -> bool:
    """An event file with summaries, by TensorBoard's rule (`.profile-empty` ones hold none)."""
    return "tfevents" in name and not name.endswith(".profile-empty")


def is_tensorboard_logdir(path: Path) -> bool:
    """True when `path` is a folder with TensorBoard event files (regular files) at most
    `MAX_DEPTH` below."""
    if not path.is_dir():
        return False
    return next(_runs(path, MAX_DEPTH, ProblemTally()), None) is not None


def _runs(logdir: Path, max_depth: int, problems: ProblemTally) -> Iterator[tuple[str, list[Path]]]:
    """(run name, its event files in name order) for every folder holding some, depth first
    and in name order: no link to a folder is followed, no folder is visited twice."""
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[Path, str, int]] = [(logdir, "", 0)]
    visited = 0
    while stack and visited < MAX_FOLDERS:
        folder, name, depth = stack.pop()
        try:
            info = os.stat(folder)
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            visited += 1
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as exc:
            problems.add(f"{name or '.'}: cannot be listed ({exc.strerror or exc})")
            continue
        files: list[Path] = []
        children: list[tuple[Path, str, int]] = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if depth < max_depth:
                        children.append((Path(entry.path), _join(name, entry.name), depth + 1))
                elif is_event_file(entry.name):
                    if entry.is_file():  # a regular file, or a link to one
                        files.append(Path(entry.path))
                    else:
                        problems.add(f"{_join(name, entry.name)}: not a regular file (skipped)")
            except OSError:
                continue
        if files:
            yield name, files
        stack.extend(reversed(children))  # popped in name order
    if stack:
        problems.add(f"more than {MAX_FOLDERS:,} folders: the rest were not read")


def _join(name: str, child: str) -> str:
    return f"{name}/{child}" if name else child


def _trial_and_prefix(run: str, logdir: Path) -> tuple[str, str]:
    """TensorBoard run `X/validation` -> (trial `X`, prefix `val_`); `X/train` -> (X, "")."""
    parts = Path(run).parts if run not in ("", ".") else ()
    if parts and parts[-1] in VALIDATION_FOLDERS:
        return "/".join(parts[:-1]) or logdir.name, "val_"
    if parts and parts[-1] in TRAIN_FOLDERS:
        return "/".join(parts[:-1]) or logdir.name, ""
    return "/".join(parts) or logdir.name, ""


def _metric(tag: str, prefix: str) -> str:
    name = tag.removeprefix("epoch_").replace("/", "_")
    if name in ("learning_rate", "lr"):
        return "learning_rate"
    return name if name.startswith("val_") else prefix + name


def _epoch_series(tag: str) -> bool:
    """Per-batch and evaluation-over-iterations series are not epochs: left out."""
    return not tag.startswith("batch_") and "_vs_iterations" not in tag


def read_tensorboard(logdir: Path) -> list[Event]:
    """The log directory's scalars as tuilab events: one trial per TensorBoard run."""
    return read_tensorboard_log(logdir).events


def read_tensorboard_log(logdir: Path) -> TensorBoardLog:
    """The log directory's scalars as tuilab events, and the problems met reading them."""
    problems = ProblemTally("more problems")
    runs: list[_RunPoints] = []
    for run, files in _runs(logdir, MAX_RUN_DEPTH, problems):
        points = _RunPoints(*_trial_and_prefix(run, logdir), problems)
        for path in files:
            points.read(path, _join(run, path.name))
        runs.append(points)
        if len(runs) >= MAX_RUNS:
            break
    values: dict[str, dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    times: dict[str, dict[int, float]] = defaultdict(dict)
    for points in runs:
        if not points.values:
            continue  # no scalars: no trial
        trial_values, trial_times = values[points.trial], times[points.trial]
        for step, logs in points.values.items():
            trial_values[step].update(logs)
            trial_times[step] = max(trial_times.get(step, 0.0), points.times[step])
    return TensorBoardLog(_as_events(logdir, values, times), problems.lines())


class _RunPoints:
    """One TensorBoard run's epoch scalars: step -> metric -> value, and each step's time.

    At most `MAX_POINTS` steps: past that, each new step replaces a kept one at random
    (a reservoir, seeded as TensorBoard's) or, like TensorBoard's `always_keep_last`, the
    newest. A restart drops the steps at or after it, popped from a heap of the kept steps:
    each step is pushed and popped once, so every fold stays linear.
    """

    def __init__(self, trial: str, prefix: str, problems: ProblemTally) -> None:
        self.trial, self.prefix, self.problems = trial, prefix, problems
        self.values: dict[int, dict[str, float]] = {}
        self.times: dict[int, float] = {}
        self._plugins: dict[str, str] = {}
        self._metrics: set[str] = set()
        self._kept: list[int] = []
        self._where: dict[int, int] = {}
        self._newest: int | None = None
        self._seen = 0
        self._random = random.Random(0)
        self._heap: list[int] = []
        """Negated steps: the largest first, for purges (stale entries skipped)."""
        self._file_version = 0.0
        self._most_recent = None

    def read(self, path: Path, name: str) -> None:
        """Fold every record of one event file in."""
        from google.protobuf.message import DecodeError
        from tensorboard.compat.proto import event_pb2

        try:
            stream = open_regular(path, follow_links=True)
        except OSError as exc:
            self.problems.add(f"{name}: {exc} (skipped)")
            return
        with stream:
            try:
                for record in _records(stream, name, self.problems):
                    try:
                        event = event_pb2.Event.FromString(record)
                    except (DecodeError, RecursionError, ValueError):
                        self.problems.add(f"{name}: a record is not an event (skipped)")
                        continue
                    self._take(event)
            except OSError as exc:
                self.problems.add(f"{name}: cannot be read ({exc.strerror or exc})")

    def _take(self, event: Any) -> None:
        if event.HasField("file_version"):
            version = event.file_version.split("brain.Event:")[-1]
            try:
                self._file_version = float(version)
            except ValueError:
                self._file_version = -1.0
        if self._file_version >= 2:
            if event.HasField("session_log") and event.session_log.status == _START:
                self._purge(event.step)
        elif self._most_recent is not None and event.step < self._most_recent:
            if event.HasField("summary"):
                self._purge(event.step)
        else:
            self._most_recent = event.step
        if not event.HasField("summary"):
            return
        for value in event.summary.value:
            tag = value.tag
            if value.HasField("metadata") and len(self._plugins) < MAX_TAGS:
                self._plugins.setdefault(tag, value.metadata.plugin_data.plugin_name)
            if not _epoch_series(tag):
                continue
            if value.HasField("simple_value"):  # a TensorFlow 1 style scalar summary
                self._add(event.step, tag, value.simple_value, event.wall_time)
            elif value.HasField("tensor") and self._plugins.get(tag) == "scalars":
                number = _scalar(value.tensor)  # tf.summary.scalar in TensorFlow 2 (Keras)
                if number is not None:
                    self._add(event.step, tag, number, event.wall_time)

    def _add(self, step: int, tag: str, number: float, wall_time: float) -> None:
        metric = _metric(tag, self.prefix)
        if metric not in self._metrics:
            if len(self._metrics) >= MAX_TAGS:
                return
            self._metrics.add(metric)
        if step not in self.values:
            self._admit(step)
        self.values[step][metric] = number
        self.times[step] = max(self.times[step], wall_time)

    def _admit(self, step: int) -> None:
        self._seen += 1
        if len(self._kept) >= MAX_POINTS:  # full: a random kept step makes room, or the newest
            slot = self._random.randint(0, self._seen)
            if slot >= MAX_POINTS and self._newest in self._where:
                self._drop(self._newest)
            else:
                self._drop(self._kept[slot % MAX_POINTS])
        self._where[step] = len(self._kept)
        self._kept.append(step)
        self.values[step], self.times[step] = {}, 0.0
        self._newest = step
        heapq.heappush(self._heap, -step)
        if len(self._heap) > 4 * MAX_POINTS:  # mostly steps dropped since: start afresh
            self._heap = [-kept for kept in self._kept]
            heapq.heapify(self._heap)

    def _drop(self, step: int) -> None:
        index = self._where.pop(step)
        last = self._kept.pop()
        if last != step:
            self._kept[index] = last
            self._where[last] = index
        del self.values[step], self.times[step]

    def _purge(self, step: int) -> None:
        """Drop the steps at or after `step` (the run restarted from it)."""
        while self._heap and -self._heap[0] >= step:
            stale = -heapq.heappop(self._heap)
            if stale in self._where:
                self._drop(stale)


def _records(stream: Any, name: str, problems: ProblemTally) -> Iterator[bytes]:
    """The records of a TFRecord file, read from its start to the last complete one."""
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

    size = os.fstat(stream.fileno()).st_size
    while True:
        header = stream.read(_HEADER.size)
        if len(header) < _HEADER.size:
            return  # the end, or a record still being written
        length, check = _HEADER.unpack(header)
        if masked_crc32c(header[:8]) != check:
            problems.add(f"{name}: a corrupt record at byte {stream.tell() - _HEADER.size:,}")
            return  # nothing after it can be framed
        if length > MAX_RECORD_BYTES:
            end = stream.tell() + length + 4
            if end > size:
                return
            stream.seek(end)
            continue
        data = stream.read(length)
        if len(data) < length or len(stream.read(4)) < 4:
            return
        yield data


def _scalar(tensor: Any) -> float | None:
    """The value of a one-element tensor (None for anything else): its shape is checked first,
    as `make_ndarray` would fill whatever element count the shape claims."""
    from tensorboard.util import tensor_util

    if any(dim.size != 1 for dim in tensor.tensor_shape.dim):
        return None
    try:
        array = tensor_util.make_ndarray(tensor)
        return float(array.reshape(-1)[0]) if array.size == 1 else None
    except (TypeError, ValueError, KeyError, IndexError, OverflowError):
        return None


def _as_events(
    logdir: Path,
    values: dict[str, dict[int, dict[str, float]]],
    times: dict[str, dict[int, float]],
) -> list[Event]:
    trials = sorted(values)
    first_step = min((min(steps) for steps in values.values() if steps), default=0)
    shift = 1 if first_step == 0 else 0  # Keras logs epoch 1 at step 0
    events: list[Event] = [
        RunStarted(f"TensorBoard: {logdir.name}", str(logdir), trials, trials, 1, {}, None, "")
    ]
    total = 0.0
    for trial in trials:
        steps = sorted(values[trial])
        epochs = steps[-1] + shift if steps else 0
        events.append(VariantStarted(trial, trial, 1, 0, epochs, 0, 0))
        previous = times[trial][steps[0]] if steps else 0.0
        rate = 0.0
        for step in steps:
            logs = dict(values[trial][step])
            rate = logs.pop("learning_rate", rate)
            seconds = max(0.0, times[trial][step] - previous)
            previous = times[trial][step]
            events.append(EpochEnded(trial, step + shift, logs, rate, seconds, 0.0))
        seconds = times[trial][steps[-1]] - times[trial][steps[0]] if steps else 0.0
        total += seconds
        events.append(VariantFinished(trial, trial, "finished", epochs, {}, seconds, rate))
    events.append(RunFinished("finished", total))
    return events
