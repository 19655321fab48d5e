"""TensorBoard event files for every trial, written from the run's events.

`tensorboard --logdir runs` then reads the whole run store. In each trial's folder,
`variants/<trial>/tensorboard/` holds, in Keras's own layout (so TensorBoard overlays the
training and validation curves of one trial):

    train/        epoch_<metric> for every metric of the epoch's logs but the `val_` ones,
                  epoch_learning_rate (the rate the epoch trained with), and the histograms
                  batchnorm/<layer>/{gamma,beta,moving_mean,moving_variance}
    validation/   epoch_<metric> from the `val_<metric>` logs
    (the folder)  the trial's hyperparameters for the HParams plugin, trial id
                  `<stem>/<stamp>/<trial>`; its metrics are inferred by TensorBoard from the
                  scalars of train/ and validation/

Steps are epochs, 1-based as everywhere in tuilab; the histograms at step 0 are the values
before training. A resumed trial writes into the same folder: the epochs after its resume point
then appear twice in TensorBoard (the stored history keeps only the last).

Cost: `handle` only puts the event on a queue; a daemon thread writes. The summaries are made
by TensorBoard's own summary functions (`scalar_pb`, `histogram_pb`, `hparams_pb`, which
bucket in NumPy; `tf.summary.histogram` runs some twenty eager TensorFlow ops per histogram,
about 40 times slower: `bench/tensorboard_cost.py`) and written as `event_pb2.Event` records by
TensorBoard's own `RecordWriter` into a plain file, named as TensorFlow names its event files.
No TensorFlow on any Keras backend: TensorBoard's `EventFileWriter` would import it through
`tensorboard.compat.tf` (for `tf.io.gfile`) whenever it is installed.

Durability: every record is flushed to the operating system when written (one record per
trial, folder and step), so a killed run keeps every epoch written before it died.

Failures: the first exception (disk full, folder removed, anything) switches the writer off for
the rest of the run; training never notices. The reason is kept in `problem` and logged once
as a warning on the `tuilab.runtime.tensorboard_log` logger.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import queue
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuilab.runtime.events import (
    BatchNormSnapshot,
    EpochEnded,
    Event,
    RunFinished,
    VariantFailed,
    VariantFinished,
    VariantResumed,
    VariantStarted,
)
from tuilab.runtime.run_folder import RunFolder

log = logging.getLogger(__name__)

TRAIN = "train"
VALIDATION = "validation"
HPARAMS = ""
"""The trial's TensorBoard folder itself: where its hyperparameters go."""
VALIDATION_PREFIX = "val_"
LEARNING_RATE_TAG = "epoch_learning_rate"
BATCHNORM_TAG = "batchnorm/{layer}/{name}"
PROSE = frozenset({"description"})
"""Keys of the resolved scenario that are prose, not hyperparameters."""
MAX_TEXT = 400
"""A list or table longer than this as compact text is left out of the hyperparameters."""
CLOSE_SECONDS = 60.0
"""How long `close` waits for the queued events to be written."""
EVENT_FILE_PREFIX = "events.out.tfevents."
FILE_VERSION = "brain.Event:2"
_FILE_NUMBERS = itertools.count()
"""The last part of an event file's name: distinct per file within a process, as TF's."""

HParam = bool | int | float | str
_WRITTEN = (
    VariantStarted,
    VariantResumed,
    EpochEnded,
    BatchNormSnapshot,
    VariantFinished,
    VariantFailed,
    RunFinished,
)
_STOP = object()


def hyperparameters(
    resolved: Mapping[str, Any], variant: str, repeat: int = 1, seed: int | None = None
) -> dict[str, HParam]:
    """A trial's hyperparameters as dotted keys with scalar values, for the HParams plugin.

    `{"compile": {"optimizer": {"learning_rate": 0.01}}}` gives
    `compile.optimizer.learning_rate = 0.01`; lists (the layers, the callbacks, the metrics)
    become one compact text each, left out when longer than `MAX_TEXT`; descriptions are left
    out. `variant`, `trial.repeat` and `trial.seed` say which trial of the variant it is.
    """
    flat: dict[str, HParam] = {"variant": variant, "trial.repeat": repeat}
    if seed is not None:
        flat["trial.seed"] = seed
    _flatten(resolved, "", flat)
    return flat


def _flatten(document: Mapping[str, Any], prefix: str, flat: dict[str, HParam]) -> None:
    for key, value in document.items():
        if key in PROSE:
            continue
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            _flatten(value, name, flat)
        elif isinstance(value, list | tuple):
            text = _compact(value)
            if len(text) <= MAX_TEXT:
                flat[name] = text
        elif isinstance(value, bool | int | str):
            flat[name] = value
        elif isinstance(value, float):
            flat[name] = value if math.isfinite(value) else str(value)


def _compact(value: Any) -> str:
    """`[{"type": "Dense", "units": 16}]` -> `[Dense(units=16)]`: short, one line."""
    if isinstance(value, Mapping):
        inner = ",".join(f"{k}={_compact(v)}" for k, v in value.items() if k != "type")
        kind = value.get("type")
        return f"{kind}({inner})" if isinstance(kind, str) else "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class TensorBoardLog:
    """Writes the TensorBoard files of a stored run's trials from its events (`handle`)."""

    def __init__(self, folder: Path) -> None:
        self.run = RunFolder(folder)
        self.problem = ""
        """Why writing stopped ("" while all is well)."""
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writers: dict[tuple[str, str], EventFile] = {}
        self._resolved: dict[str, Any] | None = None
        self._thread = threading.Thread(target=self._drain, name="tuilab-tensorboard", daemon=True)
        self._thread.start()

    def handle(self, event: Event) -> None:
        """Queue an event to be written; never raises, never waits for the disk."""
        if not self.problem and isinstance(event, _WRITTEN):
            self._queue.put(event)

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Write what is queued, close the files (idempotent; never raises)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout)
        if self._thread.is_alive():
            self._disable(f"still writing {timeout:.0f} s after the run ended; left unfinished")

    # -- the writing thread ---------------------------------------------------------------
    def _drain(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                break
            if self.problem:
                continue
            try:
                self._write(event)
            except Exception as exc:  # whatever it is, training goes on without TensorBoard
                self._disable(f"{type(exc).__name__}: {exc}")
        self._close_writers(None)

    def _disable(self, reason: str) -> None:
        if self.problem:
            return
        self.problem = reason.strip().splitlines()[0][:500] if reason.strip() else "unknown"
        log.warning(
            "TensorBoard files of %s are no longer written: %s", self.run.path, self.problem
        )

    def _write(self, event: Event) -> None:
        if isinstance(event, VariantStarted | VariantResumed):
            self._close_writers(event.trial)
            self._write_hparams(event)
            if isinstance(event, VariantStarted) and event.batchnorm:
                self._write_batchnorm(event.trial, 0, event.batchnorm)
        elif isinstance(event, EpochEnded):
            self._write_epoch(event)
        elif isinstance(event, BatchNormSnapshot):
            self._write_batchnorm(event.trial, event.epoch, event.layers)
        elif isinstance(event, VariantFinished | VariantFailed):
            self._close_writers(event.trial)
        elif isinstance(event, RunFinished):
            self._close_writers(None)

    def _write_hparams(self, event: VariantStarted | VariantResumed) -> None:
        from tensorboard.plugins.hparams.summary_v2 import hparams_pb

        if self._resolved is None:
            variants = self.run.resolved().get("variants", {})
            self._resolved = variants if isinstance(variants, dict) else {}
        document = self._resolved.get(event.variant, {})
        values = hyperparameters(
            document if isinstance(document, dict) else {},
            event.variant,
            event.repeat,
            event.seed,
        )
        summary = hparams_pb(values, trial_id=f"{self.run.run_id}/{event.trial}")
        self._emit(event.trial, HPARAMS, 0, [summary])

    def _write_epoch(self, event: EpochEnded) -> None:
        from tensorboard.plugins.scalar.summary_v2 import scalar_pb

        train, validation = [], []
        for name, value in event.logs.items():
            if name == "learning_rate":  # ReduceLROnPlateau adds it; the event has it too
                continue
            if name.startswith(VALIDATION_PREFIX):
                validation.append(scalar_pb(f"epoch_{name[len(VALIDATION_PREFIX) :]}", value))
            else:
                train.append(scalar_pb(f"epoch_{name}", value))
        train.append(scalar_pb(LEARNING_RATE_TAG, event.learning_rate))
        self._emit(event.trial, TRAIN, event.epoch, train)
        if validation:
            self._emit(event.trial, VALIDATION, event.epoch, validation)

    def _write_batchnorm(
        self, trial: str, step: int, layers: Mapping[str, Mapping[str, list[float]]]
    ) -> None:
        import numpy as np
        from tensorboard.plugins.histogram.summary_v2 import histogram_pb

        summaries = []
        for layer, weights in layers.items():
            for name, values in weights.items():
                data = np.asarray(values, dtype=np.float64)
                data = data[np.isfinite(data)]  # a diverged layer: its finite values only
                if data.size:
                    tag = BATCHNORM_TAG.format(layer=layer, name=name)
                    summaries.append(histogram_pb(tag, data))
        if summaries:
            self._emit(trial, TRAIN, step, summaries)

    def _emit(self, trial: str, kind: str, step: int, summaries: list[Any]) -> None:
        """Write TensorBoard's summaries as one record at `step`, flushed for live readers."""
        writer = self._writers.get((trial, kind))
        if writer is None:
            folder = self.run.tensorboard_dir(trial)
            writer = EventFile(folder / kind if kind else folder)
            self._writers[(trial, kind)] = writer
        merged = summaries[0]
        for summary in summaries[1:]:
            merged.value.extend(summary.value)
        writer.write(step, merged)

    def _close_writers(self, trial: str | None) -> None:
        """Close one trial's writers (None: every writer)."""
        for key in [k for k in self._writers if trial is None or k[0] == trial]:
            writer = self._writers.pop(key)
            try:
                writer.close()
            except Exception as exc:
                self._disable(f"{type(exc).__name__}: {exc}")


class EventFile:
    """One TensorBoard event file, each record flushed as it is written (no TensorFlow).

    The name is TensorFlow's (`events.out.tfevents.<time>.<host>.<pid>.<n>.v2`), the first
    record the `file_version` header TensorBoard expects; `RecordWriter` frames and checksums.
    """

    def __init__(self, folder: Path) -> None:
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter

        folder.mkdir(parents=True, exist_ok=True)
        name = (
            f"{EVENT_FILE_PREFIX}{int(time.time()):010d}.{socket.gethostname()}"
            f".{os.getpid()}.{next(_FILE_NUMBERS)}.v2"
        )
        self.path = folder / name
        self._event = event_pb2.Event
        self._records = RecordWriter(open(self.path, "xb"))  # noqa: SIM115 (closed in close)
        header = self._event(wall_time=time.time(), file_version=FILE_VERSION)
        self._records.write(header.SerializeToString())
        self._records.flush()

    def write(self, step: int, summary: Any) -> None:
        """Append one `Summary` proto at `step`, stamped now, and flush it."""
        record = self._event(wall_time=time.time(), step=step, summary=summary)
        self._records.write(record.SerializeToString())
        self._records.flush()

    def close(self) -> None:
        """Flush and close the file."""
        self._records.close()
