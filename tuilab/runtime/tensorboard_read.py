"""TensorBoard log directories read as stored runs: `tuilab show/compare LOGDIR` and the app.

Scalars are read with TensorBoard's own reader (`EventMultiplexer`, which samples at most
`MAX_POINTS` per tag as TensorBoard does). Each TensorBoard run (a folder of event files)
becomes a trial; Keras's `TensorBoard` callback writes `X/train` and `X/validation`, which
become one trial `X` whose validation scalars get the `val_` prefix, so its curves overlay
tuilab's. `epoch_loss` reads as `loss`; Keras counts epochs from step 0, tuilab from 1.
The result is the same events a tuilab run stores, so every reader works on it unchanged.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from tuilab.backend import stderr_silenced
from tuilab.runtime.events import (
    EpochEnded,
    Event,
    RunFinished,
    RunStarted,
    VariantFinished,
    VariantStarted,
)

EVENT_FILE_PREFIX = "events.out.tfevents."
MAX_DEPTH = 4
"""How deep below the log directory event files are looked for."""
MAX_RUNS = 200
MAX_POINTS = 10_000
VALIDATION_FOLDERS = ("validation", "eval", "val")
TRAIN_FOLDERS = ("train",)


def is_tensorboard_logdir(path: Path) -> bool:
    """True when `path` is a folder with TensorBoard event files at most `MAX_DEPTH` below."""
    if not path.is_dir():
        return False
    base = len(path.parts)
    for folder, children, files in os.walk(path):
        if len(Path(folder).parts) - base >= MAX_DEPTH:
            children.clear()
        if any(name.startswith(EVENT_FILE_PREFIX) for name in files):
            return True
    return False


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


def read_tensorboard(logdir: Path) -> list[Event]:
    """The log directory's scalars as tuilab events: one trial per TensorBoard run."""
    _tensorflow_or_stub()
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
    from tensorboard.util import tensor_util

    guidance = {"scalars": MAX_POINTS, "tensors": MAX_POINTS}
    multiplexer = EventMultiplexer(size_guidance=guidance)
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    values: dict[str, dict[int, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    times: dict[str, dict[int, float]] = defaultdict(dict)

    def keep(trial: str, step: int, metric: str, value: float, wall_time: float) -> None:
        values[trial][step][metric] = value
        times[trial][step] = max(times[trial].get(step, 0.0), wall_time)

    for run, tags in sorted(multiplexer.Runs().items())[:MAX_RUNS]:
        trial, prefix = _trial_and_prefix(run, logdir)
        for tag in tags.get("scalars", []):  # TensorFlow 1 style scalar summaries
            if _epoch_series(tag):
                for point in multiplexer.Scalars(run, tag):
                    keep(trial, point.step, _metric(tag, prefix), point.value, point.wall_time)
        for tag in tags.get("tensors", []):  # tf.summary.scalar in TensorFlow 2 (Keras)
            if not _epoch_series(tag) or not _is_scalar_plugin(multiplexer, run, tag):
                continue
            for point in multiplexer.Tensors(run, tag):
                array = tensor_util.make_ndarray(point.tensor_proto)
                if array.size == 1:
                    keep(trial, point.step, _metric(tag, prefix), float(array), point.wall_time)
    return _as_events(logdir, values, times)


def _tensorflow_or_stub() -> None:
    """Resolve TensorBoard's `tensorboard.compat.tf` now, quietly: TensorFlow where it is
    installed (its C++ start-up chatter kept off the terminal), TensorBoard's stub where not.

    No Keras and no backend: reading needs neither.
    """
    from tensorboard.compat import tf

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with stderr_silenced():
        getattr(tf, "__version__", None)  # the lazy import happens here


def _epoch_series(tag: str) -> bool:
    """Per-batch and evaluation-over-iterations series are not epochs: left out."""
    return not tag.startswith("batch_") and "_vs_iterations" not in tag


def _is_scalar_plugin(multiplexer: Any, run: str, tag: str) -> bool:
    metadata = multiplexer.SummaryMetadata(run, tag)
    return metadata.plugin_data.plugin_name == "scalars"


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
