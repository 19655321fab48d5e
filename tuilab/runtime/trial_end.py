"""The end of one trial: its test evaluation, confusion report and mistake images, its saved
model, and the event that closes it (`VariantFinished` or `VariantFailed`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuilab.backend import learning_rate_of
from tuilab.data import PreparedData
from tuilab.data.class_names import class_names
from tuilab.data.sources import spec_for
from tuilab.runtime.confusion import classification_report
from tuilab.runtime.distribute import undistributed
from tuilab.runtime.events import Event, VariantFailed, VariantFinished, metric_values
from tuilab.runtime.mistakes import write_mistakes
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.training_state import discard_state

if TYPE_CHECKING:
    from tuilab.runtime.runner import Trial

Sink = Callable[[Event], None]


def finish_trial(
    sink: Sink,
    artifacts: Path | None,
    trial: Trial,
    model: Any,
    reporter: Any,
    data: PreparedData,
    started: float,
) -> str:
    """Evaluate (unless stopped mid-epoch), report, save the model, emit `VariantFinished`.

    Returns:
        finished, finished_early (stopped alone, the run goes on) or stopped.
    """
    status = "stopped" if reporter.stopped else "finished"
    test: dict[str, float] = {}
    if not reporter.stopped_now:
        values = model.evaluate(
            data.x_test,
            data.y_test,
            batch_size=trial.config.fit.batch_size,
            verbose=0,
            return_dict=True,
        )
        test = metric_values(values)
        report_confusion(sink, artifacts, trial, model, data)
    if artifacts is not None and trial.config.run.save_model:
        path = RunFolder(artifacts).model_file(trial.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
    sink(
        VariantFinished(
            trial.name,
            trial.variant,
            status,
            reporter.epochs_done,
            test,
            time.perf_counter() - started,
            learning_rate_of(model.optimizer),
        )
    )
    if status == "finished" and artifacts is not None:
        discard_state(RunFolder(artifacts).resume_dir(trial.name))
    if reporter.stopped and not reporter.run_stop_requested:
        return "finished_early"
    return status


def report_confusion(
    sink: Sink,
    artifacts: Path | None,
    trial: Trial,
    model: Any,
    data: PreparedData,
    during: str = "",
) -> bool:
    """Report a classifier's confusion on the test split (and store its mistake images);
    False when the trial is not a classifier."""
    labels = class_names(trial.config.data.dataset, data.classes)
    with undistributed():  # asked for inside fit: the whole test split, not shards
        report = classification_report(
            trial.name, model, data.x_test, data.y_test, labels, trial.config.fit.batch_size
        )
    if report is None:
        return False
    report = replace(report, during=during)
    if artifacts is not None:  # before the report, so readers find it
        image_shape = spec_for(trial.config.data).image_shape
        write_mistakes(RunFolder(artifacts), report, data.x_test, image_shape)
    sink(report)
    return True


def fail_trial(sink: Sink, trial: Trial, reason: str, reporter: Any, started: float) -> str:
    """Emit `VariantFailed` where the reporter last was (nowhere when there is none yet)."""
    sink(
        VariantFailed(
            trial.name,
            trial.variant,
            reason,
            reporter.epoch if reporter else 0,
            reporter.batch if reporter else 0,
            reporter.epochs_done if reporter else 0,
            time.perf_counter() - started,
        )
    )
    return "failed"
