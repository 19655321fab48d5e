"""The Keras callback of `tuilab.keras`: its hooks passed on to the fit's `ScriptRun`.

Whatever goes wrong while recording is logged once and ends the recording, never the training;
an `evaluate` after a fit (its `on_test_end` outside any fit) adds the run's test metrics.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from tuilab.backend import import_keras
from tuilab.errors import RunStoreError
from tuilab.runtime.script_run import ScriptRun, log
from tuilab.runtime.script_settings import RATE_CHANGERS, FitContext

ADVISED = ("EarlyStopping", *RATE_CHANGERS)
"""Callbacks that should run before TuilabCallback (it records what they changed)."""
T = TypeVar("T")


def script_keras() -> Any:
    """Keras as tuilab uses it, with the script's own settings left as they were.

    The script chose the backend when it imported Keras; tuilab follows `keras.backend.backend()`
    and imports TensorFlow only when that is the backend. `import_keras` tunes a process for
    tuilab (progress bars to logging; on TensorFlow a quiet logger and GPU memory growth); in
    someone else's script those are theirs, so whatever it changed goes back.
    """
    import keras  # the script's own import, before tuilab's settings

    interactive = keras.config.is_interactive_logging_enabled()
    environment = {name: os.environ.get(name) for name in _TUNED_ENVIRONMENT}
    restore_tensorflow = (
        _tensorflow_settings() if keras.backend.backend() == "tensorflow" else lambda: None
    )
    import_keras()
    if interactive:
        keras.config.enable_interactive_logging()
    for name, value in environment.items():
        if value is None:
            os.environ.pop(name, None)
    restore_tensorflow()
    return keras


_TUNED_ENVIRONMENT = ("TF_CPP_MIN_LOG_LEVEL", "XLA_PYTHON_CLIENT_PREALLOCATE")
"""Variables `import_keras` may set that a script did not (they would reach its children)."""


def _tensorflow_settings() -> Callable[[], None]:
    """TensorFlow's logger level and GPU memory growth now; the function puts them back."""
    import tensorflow as tf

    logger = logging.getLogger("tensorflow")
    level = logger.level
    gpus = tf.config.list_physical_devices("GPU")
    growth = [tf.config.experimental.get_memory_growth(gpu) for gpu in gpus]

    def restore() -> None:
        logger.setLevel(level)
        for gpu, grows in zip(gpus, growth, strict=True):
            with contextlib.suppress(RuntimeError, ValueError):  # initialized: it never changed
                tf.config.experimental.set_memory_growth(gpu, grows)

    return restore


class _TuilabCallback:
    """Record this fit as a tuilab run: `tuilab runs/show/compare/report/attach` and the app
    read it, live or after, and `tuilab stop RUN` / `tuilab lr RUN --scale F` steer it.

    Put it last in `callbacks=` (it then sees what EarlyStopping and ReduceLROnPlateau did).
    Pass it to `evaluate` after the fit as well to record the run's test metrics.

    Args:
        name: The run's name (its folder: `<runs_dir>/<name>/<stamp>/`).
        runs_dir: The run store (default `$TUILAB_RUNS`, else `runs`).
        batch_size: The batch size, when Keras cannot tell (a `tf.data` dataset, a
            `PyDataset` or a generator).
        config: Your own settings, recorded with the run (`tuilab compare` shows them).
    """

    def __init__(
        self,
        name: str,
        runs_dir: str | os.PathLike[str] | None = None,
        batch_size: int | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(name, str) or not name.strip():
            raise ValueError("TuilabCallback needs a run name, such as TuilabCallback('my-exp')")
        self.name = name
        default = os.environ.get("TUILAB_RUNS") or "runs"
        self.runs_dir = Path(runs_dir if runs_dir is not None else default)
        self.batch_size = batch_size
        self.config = dict(config or {})
        self._run: ScriptRun | None = None
        self._last: ScriptRun | None = None
        self._warned = self._advised = False

    @property
    def run_folder(self) -> Path | None:
        """The folder of the run of the latest fit (None when it could not be recorded)."""
        run = self._run or self._last
        return run.folder if run is not None else None

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("tuilab: %s; the training goes on unrecorded", message)

    def _guard(self, action: Callable[[], T], run: ScriptRun | None = None) -> T | None:
        """Run `action`; an error ends the recording (logged once), never the training."""
        try:
            return action()
        except RunStoreError as exc:
            self._warn(str(exc))
        except Exception as exc:
            reason = f"tuilab could not record this fit: {type(exc).__name__}: {exc}"
            self._warn(reason)
            if run is not None:
                run.end("failed", reason)
        return None

    def _open(self) -> ScriptRun | None:
        """The run of the fit running now, if any (a run whose fit ended abruptly is closed)."""
        run = self._run
        if run is not None and not self._guard(run.fitting, run):
            self._run, self._last = None, run
            return None
        return run

    # -- Keras hooks -----------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self._run is not None:  # the previous fit never reached on_train_end
            self._guard(self._run.end_abruptly)
            self._last, self._run = self._run, None
        context = FitContext.find(self, sys._getframe(1))
        self._run = self._guard(lambda: ScriptRun.begin(self, context, logs))
        late = [name for name in context.after(self) if name in ADVISED]
        if self._run is not None and late and not self._advised:
            self._advised = True
            log.warning(
                "tuilab: TuilabCallback comes before %s in callbacks=: their learning-rate "
                "changes and early stops are recorded late or not at all; put it last",
                ", ".join(late),
            )

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (run := self._run) is not None:
            self._guard(lambda: run.forward("on_epoch_begin", epoch, logs), run)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if (run := self._run) is not None:
            self._guard(lambda: run.batch_end(batch, logs), run)

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        if (run := self._open()) is not None:  # the fit's validation
            self._guard(lambda: run.forward("on_test_begin", logs), run)

    def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._open() is None and (last := self._last) is not None:  # evaluate after a fit
            self._guard(lambda: last.add_test(logs))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if (run := self._run) is not None:
            self._guard(lambda: run.epoch_end(epoch, logs), run)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        run, self._run = self._run, None
        if run is not None:
            self._last = run
            self._guard(run.finish, run)


@cache
def callback_class() -> type:
    """`TuilabCallback`, a Keras callback (Keras is imported now, its settings kept)."""
    base = script_keras().callbacks.Callback
    names = {"__module__": "tuilab.keras", "__qualname__": "TuilabCallback"}
    names["__doc__"] = _TuilabCallback.__doc__
    return type("TuilabCallback", (_TuilabCallback, base), names)
