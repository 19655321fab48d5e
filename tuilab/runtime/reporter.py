"""The Keras callback that turns a fit into events and obeys steering requests."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuilab.backend import follows_schedule, learning_rate_of
from tuilab.model.summary import batchnorm_state
from tuilab.runtime.control import Request, RunControl
from tuilab.runtime.events import (
    BatchNormSnapshot,
    BatchProgress,
    ControlApplied,
    ControlRefused,
    EarlyStopped,
    EpochEnded,
    Event,
    LearningRateChanged,
    metric_values,
)
from tuilab.runtime.layer_stats import LayerProbe

Sink = Callable[[Event], None]
PROGRESS_INTERVAL_S = 0.2


def not_training(request: Request) -> str:
    """Why a request aimed at a trial that is not training now is refused."""
    action = request.action.replace("_", " ")
    return f"{action} not applied: {request.trial} is not training now"


def _reporter_base() -> type:
    from tuilab.backend import import_keras

    return import_keras().callbacks.Callback


def make_reporter(**kwargs: Any) -> Any:
    """A `Reporter` instance (its Keras base class is imported lazily)."""
    cls = type("Reporter", (_ReporterMixin, _reporter_base()), {})
    return cls(**kwargs)


class _ReporterMixin:
    """Emits epoch, learning-rate, early-stop, BatchNorm and progress events for one trial.

    `first_epoch` is the epochs already done (a resumed trial); `save_state(epoch)` runs once
    an epoch's events are out (it saves the resume state). With a `probe`, every epoch end
    (and the start of a fresh trial, as epoch 0) also reports per-layer norms (`LayerStats`).

    Per-batch work is a float check and a clock read; everything else happens per epoch.
    Place it last in the callback list so it sees what the other callbacks changed.
    """

    def __init__(
        self,
        *,
        trial: str,
        sink: Sink,
        control: RunControl,
        steps: int,
        batch_size: int,
        checkpoint_path: Callable[[int], Path] | None = None,
        early_stoppers: list[Any] | None = None,
        rate_changers: list[str] | None = None,
        first_epoch: int = 0,
        save_state: Callable[[int], None] | None = None,
        probe: LayerProbe | None = None,
        report_now: Callable[[Any, str], bool] | None = None,
    ) -> None:
        super().__init__()
        self.trial = trial
        self.sink = sink
        self.control = control
        self.steps = steps
        self.batch_size = batch_size
        self.checkpoint_path = checkpoint_path
        self.early_stoppers = early_stoppers or []
        self.rate_changers = rate_changers or []
        self.save_state = save_state
        self.probe = probe
        self.report_now = report_now
        """Reports the model's confusion on the test split now (False: not a classifier)."""
        self.epoch = first_epoch
        self.batch = 0
        self.epochs_done = first_epoch
        self.failure: str | None = None
        self.stopped = False
        self.stopped_now = False
        self.run_stop_requested = False
        self._after_epoch = False
        self._epoch_start = 0.0
        self._next_progress = 0.0
        self._rate = 0.0

    # -- helpers -------------------------------------------------------------------------
    def _learning_rate(self) -> float:
        return learning_rate_of(self.model.optimizer)

    def _apply_requests(self) -> None:
        for request in self.control.take():
            if not request.reaches(self.trial):
                self.sink(ControlRefused(str(request.trial), not_training(request)))
                continue
            if request.action == "stop":
                self.model.stop_training = True
                self.stopped = self.stopped_now = True
                self.run_stop_requested |= request.whole_run
                self.sink(ControlApplied(self.trial, self.epoch, "stop", f"batch {self.batch}"))
            elif request.action == "stop_after_epoch":
                self._after_epoch = True
                self.run_stop_requested |= request.whole_run
                self.sink(ControlApplied(self.trial, self.epoch, "stop_after_epoch"))
            elif request.action == "scale_lr":
                if self._scheduled():
                    reason = "not applied: the learning rate follows a schedule"
                    self.sink(ControlApplied(self.trial, self.epoch, "scale_lr", reason))
                    continue
                old = self._learning_rate()
                self.model.optimizer.learning_rate = old * request.factor
                self._rate = self._learning_rate()
                self.sink(LearningRateChanged(self.trial, self.epoch, old, self._rate, "user"))
            elif request.action == "checkpoint":
                self._checkpoint()
            elif request.action == "confusion":
                self._confusion()

    def _confusion(self) -> None:
        where = f"epoch {self.epoch}, batch {self.batch}"
        try:
            made = self.report_now is not None and self.report_now(self.model, where)
        except Exception as exc:  # instrumentation never fails a trial
            self.sink(ControlApplied(self.trial, self.epoch, "confusion_failed", str(exc)))
            return
        detail = where if made else "not a classifier: no confusion report"
        self.sink(ControlApplied(self.trial, self.epoch, "confusion", detail))

    def _checkpoint(self) -> None:
        if self.checkpoint_path is None:
            self.sink(ControlApplied(self.trial, self.epoch, "checkpoint_failed", "run not stored"))
            return
        path = self.checkpoint_path(self.epoch)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.model.save(path)
        except OSError as exc:
            self.sink(ControlApplied(self.trial, self.epoch, "checkpoint_failed", str(exc)))
            return
        self.sink(ControlApplied(self.trial, self.epoch, "checkpoint", str(path)))

    # -- Keras hooks ---------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._rate = self._learning_rate()
        if self.epochs_done == 0:
            self._layer_stats(0)

    def _layer_stats(self, epoch: int) -> None:
        event = self.probe.measure(self.trial, epoch, self.model) if self.probe else None
        if event is not None:
            self.sink(event)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch = epoch + 1
        self.batch = 0
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self.batch = batch + 1
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            self.failure = f"loss became {loss} at epoch {self.epoch} batch {self.batch}"
            self.model.stop_training = True
            return
        if self.control.pending:
            self._apply_requests()
        now = time.monotonic()
        if now >= self._next_progress:
            self._next_progress = now + PROGRESS_INTERVAL_S
            values = metric_values(logs)
            self.sink(BatchProgress(self.trial, self.epoch, self.batch, self.steps, values))

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.stopped_now or self.failure:
            self.model.stop_evaluating = True  # skip the validation pass of a stopped epoch

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.failure or self.stopped_now:
            return
        seconds = time.perf_counter() - self._epoch_start
        values = metric_values(logs, leave_out=("learning_rate",))
        self.epochs_done = self.epoch
        samples = self.batch * self.batch_size
        self.sink(
            EpochEnded(self.trial, self.epoch, values, self._rate, seconds, samples / seconds)
        )
        state = batchnorm_state(self.model)
        if state:
            self.sink(BatchNormSnapshot(self.trial, self.epoch, state))
        self._layer_stats(self.epoch)
        new_rate = self._learning_rate()
        if not math.isclose(new_rate, self._rate, rel_tol=1e-9):
            self.sink(
                LearningRateChanged(
                    self.trial, self.epoch, self._rate, new_rate, self._rate_reason()
                )
            )
            self._rate = new_rate
        for stopper in self.early_stoppers:
            if self.model.stop_training and stopper.stopped_epoch == epoch and epoch > 0:
                best = stopper.best
                self.sink(
                    EarlyStopped(
                        self.trial,
                        self.epoch,
                        int(stopper.best_epoch) + 1,
                        stopper.monitor,
                        float(best) if best is not None and math.isfinite(best) else None,
                        bool(stopper.restore_best_weights),
                    )
                )
        if self.save_state is not None:
            self.save_state(self.epoch)  # after the epoch is logged: logged means saved or redone
        if self.control.pending:
            self._apply_requests()
        if self._after_epoch:
            self.model.stop_training = True
            self.stopped = True

    def _rate_reason(self) -> str:
        if self._scheduled():
            return "schedule"
        return " or ".join(self.rate_changers) or "callback"

    def _scheduled(self) -> bool:
        return follows_schedule(self.model.optimizer)
