"""One fit of a user's own Keras script recorded as a tuilab run (`tuilab.keras`).

Per fit, the callback (`script_callback`) owns a `ScriptRun`: a run folder written by `RunStore`
(the layout and events of a scenario run), the reporter a scenario run uses (`make_reporter`)
fed with the callback's Keras hooks, the run's `control/` channel (`tuilab stop`, `tuilab lr`)
and a watcher thread.

- The fit's end is the run's end. An `evaluate` afterwards with the same callback appends the
  trial's test metrics as a restated `VariantFinished` (a trial's last one counts, for every
  reader); an `evaluate` after a failed fit adds nothing.
- It never changes the training: it reads the model and writes only what is asked from another
  shell (stop, learning rate, checkpoint). A non-finite loss fails the run, not the fit.
- A fit that ends without `on_train_end` (Ctrl-C, an exception) is noticed by the watcher (Keras's
  `fit` frame has left the training thread's stack), by the next hook or at exit: the run ends
  stopped or failed, never `running` for ever.
- If recording fails (a folder that cannot be written, a full disk), one warning is logged
  through `logging` and the training goes on unrecorded.
"""

from __future__ import annotations

import atexit
import logging
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from tuilab.backend import backend_name, compiler_name, device_description, learning_rate_of
from tuilab.errors import RunStoreError
from tuilab.model.summary import batchnorm_state, summarize
from tuilab.runtime.control import RunControl
from tuilab.runtime.control_channel import ControlChannel
from tuilab.runtime.distribute import script_strategy
from tuilab.runtime.events import (
    ControlRefused,
    Event,
    RunFinished,
    RunStarted,
    VariantFailed,
    VariantFinished,
    VariantStarted,
    metric_values,
)
from tuilab.runtime.reporter import make_reporter
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.script_settings import RATE_CHANGERS, FitContext, describe_fit
from tuilab.runtime.store import RunStore
from tuilab.runtime.tensorboard_log import TensorBoardLog

log = logging.getLogger("tuilab.keras")
WATCH_SECONDS = 0.5
"""How often the watcher looks for the fit on the training thread's stack."""
_open_runs: weakref.WeakSet[ScriptRun] = weakref.WeakSet()


def _script_path() -> str:
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    return str(Path(path).resolve()) if path else "<interactive>"


def _last_exception() -> BaseException | None:
    """The exception the interpreter (or IPython) last reported as unhandled."""
    return getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)


class ScriptRun:
    """One fit recorded as a run. `end` is safe from any thread, once; the rest is the
    training thread's (the hooks)."""

    def __init__(self, store: RunStore, trial: str, model: Any, context: FitContext) -> None:
        self.store = store
        self.folder = store.folder
        self.board = TensorBoardLog(store.folder)
        """The trial's TensorBoard files, as a scenario run writes them (`tensorboard_log`)."""
        self.trial = trial
        self.model = model
        self.control = RunControl()
        self.reporter: Any = None
        self.status = "running"
        self.epochs = 0
        self.seconds = 0.0
        self.rate = 0.0
        self.problem = ""
        """Why recording stopped (a write failed): nothing more is written."""
        self._frame = context.frame
        self._thread = threading.get_ident()
        self._started = time.perf_counter()
        self._lock = threading.RLock()
        self._ended = threading.Event()
        self._channel: ControlChannel | None = None
        self._seen = _last_exception()
        self._announce: tuple[int, int, int, dict[str, int]] | None = None
        """What `VariantStarted` says, until it is recorded."""
        self.warn: Callable[[str], None] = lambda message: log.warning("tuilab: %s", message)
        """Says once why recording stopped (the callback's own warning)."""

    @classmethod
    def begin(cls, callback: Any, context: FitContext, logs: Any) -> ScriptRun:
        """Create the run folder, record the run's and trial's start, start steering.

        Raises:
            RunStoreError: the folder cannot be created or written.
        """
        model, params = callback.model, dict(callback.params or {})
        others = context.others(callback)
        batch = callback.batch_size or context.batch_size
        settings = describe_fit(model, params, context, others, batch, callback.config)
        trial, script = callback.name, _script_path()
        resolved = {"source": "script", "path": script, "overrides": [], "variants": {}}
        resolved["variants"][trial] = settings
        root = callback.runs_dir
        store = RunStore.create_for_script(root, callback.name, trial, resolved, script)
        run = cls(store, trial, model, context)
        run.warn = callback._warn
        try:
            run._start(callback.name, params, context, others, batch or 0, logs)
        except Exception as exc:
            run.end("failed", f"tuilab could not record this fit: {type(exc).__name__}: {exc}")
            raise
        return run

    def _start(
        self,
        name: str,
        params: dict[str, Any],
        context: FitContext,
        others: list[Any],
        batch: int,
        logs: Any,
    ) -> None:
        model, folder, trial = self.model, RunFolder(self.folder), self.trial
        steps = int(params.get("steps") or 0)
        epochs = int(params.get("epochs") or 0)
        self.reporter = make_reporter(
            trial=trial,
            sink=self.record,
            control=self.control,
            steps=steps,
            batch_size=batch,
            checkpoint_path=lambda epoch: folder.checkpoint_file(trial, epoch),
            early_stoppers=[c for c in others if type(c).__name__ == "EarlyStopping"],
            rate_changers=[type(c).__name__ for c in others if type(c).__name__ in RATE_CHANGERS],
            first_epoch=context.initial_epoch,
        )
        self.reporter.set_model(model)
        self.reporter.set_params(params)
        self.rate = learning_rate_of(model.optimizer)
        now = datetime.now().isoformat(timespec="seconds")
        device, where = device_description(), str(folder.path)
        self.record(RunStarted(name, _script_path(), [trial], [trial], 1, device, where, now))
        self._announce = (epochs, steps, batch, dict(context.samples))
        if model.built and model.weights:
            self._announce_trial(initial=True)
        self.reporter.on_train_begin(logs)
        since = self.store.lock.since  # a request left for an earlier process is not ours
        self._channel = ControlChannel(
            self.folder, self.control, on_refused=self._refused, since=since
        )
        self._channel.start()
        if self._frame is not None:
            watcher = threading.Thread(target=self._watch, name="tuilab-keras-watch", daemon=True)
            watcher.start()
        _watch_exit(self)

    def _announce_trial(self, initial: bool) -> None:
        """`VariantStarted`, once the model has its weights: at once for a Sequential or
        Functional model, after the first batch for a subclassed one (then its BatchNorm
        variables are no longer the initial ones, so none are given)."""
        if self._announce is None:
            return
        (epochs, steps, batch, samples), self._announce = self._announce, None
        model, trial = self.model, self.trial
        strategy, replicas = script_strategy(model)
        self.record(
            VariantStarted(
                trial,
                trial,
                1,
                0,
                epochs,
                steps,
                batch,
                samples,
                summarize(model).to_dict(),
                batchnorm_state(model) if initial else {},
                self.rate,
                strategy,
                replicas,
                int(getattr(model, "steps_per_execution", 1) or 1),
                bool(getattr(model, "jit_compile", False)),
                compiler_name(backend_name()),
            )
        )

    # -- the training thread's hooks -----------------------------------------------------
    @property
    def ended(self) -> bool:
        """True once the run's end is recorded (or recording gave up)."""
        return self._ended.is_set()

    def forward(self, hook: str, *args: Any) -> None:
        """Pass a Keras hook on to the reporter while the run is open."""
        if not self.ended:
            getattr(self.reporter, hook)(*args)

    def batch_end(self, batch: int, logs: Any) -> None:
        """After each batch: a non-finite loss fails the run (the fit goes on unchanged)."""
        if self.ended:
            return
        if self._announce is not None:
            self._announce_trial(initial=False)
        stop_before = self.model.stop_training
        self.reporter.on_train_batch_end(batch, logs)
        if self.reporter.failure:
            self.model.stop_training = stop_before  # the reporter stops a scenario's fit
            self.end("failed", self.reporter.failure)

    def epoch_end(self, epoch: int, logs: Any) -> None:
        """After each epoch (and its validation): the reporter's epoch events."""
        if not self.ended:
            self.reporter.on_epoch_end(epoch, logs)
            self.rate = learning_rate_of(self.model.optimizer)

    def finish(self) -> None:
        """`on_train_end`: the fit ended (all its epochs, an early stop, or a stop request)."""
        if not self.ended:
            self.rate = learning_rate_of(self.model.optimizer)
            self.end("stopped" if self.reporter.stopped else "finished")

    def fitting(self) -> bool:
        """True while the recorded fit runs on this thread (False once it ended, even abruptly:
        then its end is recorded now)."""
        if self.ended:
            return False
        frame = sys._getframe()
        while frame is not None and self._frame is not None:
            if frame is self._frame:
                return True
            frame = frame.f_back
        if self._frame is None:
            return True  # no fit frame found: the hooks alone tell
        self.end_abruptly()
        return False

    def add_test(self, logs: Mapping[str, Any] | None) -> None:
        """An `evaluate` after the fit: append the trial's test metrics to the ended run.

        Raises:
            RunStoreError: the run folder cannot be read or written.
        """
        test = metric_values(logs)
        if self.status in ("running", "failed") or self.problem or not test:
            return
        event = VariantFinished(
            self.trial, self.trial, self.status, self.epochs, test, self.seconds, self.rate
        )
        store = RunStore.amend(self.folder)
        try:
            store.handle(event)
        finally:
            store.close()

    # -- any thread ------------------------------------------------------------------------
    def record(self, event: Event) -> None:
        """The reporter's sink: store the event while the run is open."""
        with self._lock:
            if not self.ended:
                self._write(event)

    def _write(self, event: Event) -> None:
        if self.problem:
            return
        try:
            self.store.handle(event)
        except RunStoreError as exc:
            self.problem = str(exc)
            self.store.mark_ended("failed", self.problem)
            self.warn(self.problem)
            return
        self.board.handle(event)  # queued only: written on its own thread, never fails

    def _refused(self, reason: str) -> None:
        self.record(ControlRefused(self.trial, reason))

    def end(self, status: str, reason: str = "") -> None:
        """Record the end once: the trial's and the run's; steering and watching stop."""
        with self._lock:
            if self.ended:
                return
            self._ended.set()
            _open_runs.discard(self)
            self.status, self._frame = status, None
            self.seconds = time.perf_counter() - self._started
            reporter = self.reporter
            self.epochs = reporter.epochs_done if reporter is not None else 0
            trial, seconds = self.trial, self.seconds
            if status == "failed":
                where = (reporter.epoch, reporter.batch) if reporter is not None else (0, 0)
                self._write(VariantFailed(trial, trial, reason, *where, self.epochs, seconds))
            else:
                self._write(
                    VariantFinished(trial, trial, status, self.epochs, {}, seconds, self.rate)
                )
            self._write(RunFinished(status, seconds))
            self.store.mark_ended(status, reason)  # when a write failed; else already ended
            self.board.close()
        if self._channel is not None:
            self._channel.close()

    def end_abruptly(self) -> None:
        """The fit ended without `on_train_end`: stopped by Ctrl-C, failed by an exception."""
        error = _last_exception()
        if error is None or error is self._seen:
            self.end("stopped", "the fit ended early: an interrupt or an exception in the script")
        elif isinstance(error, KeyboardInterrupt):
            self.end("stopped", "interrupted (KeyboardInterrupt)")
        else:
            self.end("failed", f"{type(error).__name__} in the script: {error}"[:500])

    def _watch(self) -> None:
        """Watcher thread: end the run once the fit has left the training thread's stack."""
        missing = 0
        while not self._ended.wait(WATCH_SECONDS):
            frame, running = sys._current_frames().get(self._thread), False
            while frame is not None and not running:
                running, frame = frame is self._frame, frame.f_back
            missing = 0 if running or self._frame is None else missing + 1
            if missing >= 2:  # twice, so that the interpreter has reported the exception
                self.end_abruptly()


def _end_open_runs() -> None:
    """At interpreter exit: end the runs whose fit never ended (an exception, Ctrl-C)."""
    for run in list(_open_runs):
        run.end_abruptly()


@cache
def _exit_hook() -> None:
    atexit.register(_end_open_runs)


def _watch_exit(run: ScriptRun) -> None:
    """End `run` at interpreter exit if it is still open then."""
    _exit_hook()
    _open_runs.add(run)
