"""What makes an epoch resumable: written at every epoch end, read back by `tuilab resume`.

`variants/<trial>/resume/` holds the state after the trial's last finished epoch:

    epoch-0005.npz   every model variable, every optimizer variable, the random-seed states
                     (Dropout and friends) and EarlyStopping's best weights, as arrays
    state.json       the epoch, the learning rate, the callbacks' counters, the array file

Each file is written under a temporary name, flushed to disk and renamed; `state.json` is
renamed last and names the arrays it belongs to, so a kill at any moment leaves either the
previous epoch's state or the new one, never a mix. Keras's `BackupAndRestore` shows the
pattern; it does not keep the callbacks' counters (ReduceLROnPlateau's wait and best,
EarlyStopping's best and patience) nor the random-seed states, which `on_train_begin` resets.
The variables go into one `.npz` rather than through Keras's `save_weights`: the same values
in the same order, a quarter of the time (bench/resume.py: 25 -> 6 ms for the digits MLP).

A stored run is untrusted: `state.json` is schema-checked, arrays load without pickle, every
file name must be one this module writes, nothing is read, written or deleted through a link,
and the archive's headers are checked against the model (names, dtypes, shapes, sizes) before
any array is inflated, so a small crafted `.npz` cannot claim gigabytes.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import stat
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tuilab import layout
from tuilab.backend import follows_schedule, import_keras, learning_rate_of
from tuilab.errors import RunStoreError
from tuilab.runtime.store_files import write_atomic, write_json_atomic, write_with

STATEFUL_CALLBACKS: dict[str, tuple[str, ...]] = {
    "ReduceLROnPlateau": ("wait", "best", "cooldown_counter"),
    "EarlyStopping": ("wait", "best", "best_epoch"),
    "ModelCheckpoint": ("best",),
}
"""Keras callbacks whose counters carry over epochs, and the attributes that hold them."""
_ARRAYS = re.compile(r"^epoch-\d{4,9}\.npz$")
_HEADER_BYTES = 1 << 16
"""Room for a `.npy` member's header beside its data (numpy pads headers to 64 bytes)."""
_NON_FINITE = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}

Value = int | float | str | None


class CallbackState(BaseModel):
    """One stateful callback: its position in the trial's callback list, class and counters."""

    model_config = ConfigDict(strict=True, extra="forbid")
    index: int = Field(ge=0)
    name: str
    values: dict[str, Value]


class TrialState(BaseModel):
    """`state.json`: where a trial can continue from."""

    model_config = ConfigDict(strict=True, extra="forbid")
    version: int = Field(ge=1, le=1)
    trial: str
    epoch: int = Field(ge=1)
    """Epochs finished (1-based count); training continues with the next one."""
    arrays: str = Field(pattern=_ARRAYS.pattern)
    learning_rate: float
    seconds: float = Field(ge=0)
    """Wall time the trial had trained for, over every process so far."""
    callbacks: list[CallbackState] = []


def read_state(folder: Path) -> TrialState | None:
    """The state in `folder` (a trial's `resume/`), or None when there is none.

    Raises:
        RunStoreError: the state is there but unreadable, invalid or names missing files.
    """
    path = folder / layout.RESUME_STATE
    if not os.path.lexists(path):
        return None
    try:
        _real_folder(folder)
        if not _regular(path) or os.lstat(path).st_size > 1024 * 1024:
            raise RunStoreError(f"{path}: not a state file")
        state = TrialState.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise RunStoreError(f"{path} is not a valid resume state ({_short(exc)})") from None
    if not _regular(folder / state.arrays):
        raise RunStoreError(f"{path} names {state.arrays}, which is missing")
    return state


def _regular(path: Path) -> bool:
    """A regular file, not a link."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _real_folder(folder: Path) -> None:
    """`folder` is a real folder (or missing), never a link.

    Raises:
        RunStoreError: it is a link or not a folder.
    """
    try:
        mode = os.lstat(folder).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(mode):
        what = "a symbolic link" if stat.S_ISLNK(mode) else "not a folder"
        raise RunStoreError(f"{folder} is {what}: tuilab writes resume states only into a folder")


def check_archive(path: Path, expected: dict[str, tuple[int, ...]]) -> None:
    """Check an `.npz` against the arrays it must hold, from its headers alone (nothing is
    inflated): every member one of `expected`, a plain numeric dtype, the expected shape, and
    an uncompressed size that fits that shape.

    Raises:
        RunStoreError: a member that does not fit.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            if len(members) > len(expected):
                raise RunStoreError(
                    f"{path.name} holds {len(members)} arrays, this model at most {len(expected)}"
                )
            for member in members:
                _check_member(archive, member, expected, path.name)
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        raise RunStoreError(f"{path.name} is not a valid array archive ({exc})") from None


def _check_member(
    archive: zipfile.ZipFile,
    member: zipfile.ZipInfo,
    expected: dict[str, tuple[int, ...]],
    name: str,
) -> None:
    key = member.filename.removesuffix(".npy")
    if key == member.filename or key not in expected:
        raise RunStoreError(f"{name}: {member.filename[:60]!r} is not an array of this model")
    with archive.open(member) as stream:
        version = np.lib.format.read_magic(stream)
        read_header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = read_header(stream, max_header_size=_HEADER_BYTES)
    if dtype.hasobject or dtype.kind not in "biuf":
        raise RunStoreError(f"{name}: {key} has dtype {dtype}, not numbers")
    if tuple(shape) != tuple(expected[key]):
        raise RunStoreError(f"{name}: {key} has shape {tuple(shape)}, the model {expected[key]}")
    if member.file_size > math.prod(shape) * dtype.itemsize + _HEADER_BYTES:
        raise RunStoreError(f"{name}: {key} claims {member.file_size} bytes for {tuple(shape)}")


def state_files(folder: Path) -> dict[str, bytes] | None:
    """The state in `folder` as its two files' bytes (to move it to another machine); None when
    there is none, or when a save replaced it while it was read (read again later)."""
    try:
        text = (folder / layout.RESUME_STATE).read_bytes()
        state = TrialState.model_validate_json(text)
        arrays = (folder / state.arrays).read_bytes()
    except (OSError, ValidationError):
        return None
    return {state.arrays: arrays, layout.RESUME_STATE: text}


def write_state_files(folder: Path, files: dict[str, bytes]) -> TrialState:
    """Store a state made by `state_files` in `folder` as `save` does: the arrays first, then
    `state.json` (each written and renamed), then the older files dropped.

    Raises:
        RunStoreError: the files are not a state, or `folder` is a link.
    """
    try:
        state = TrialState.model_validate_json(files[layout.RESUME_STATE])
        arrays = files[state.arrays]
    except (KeyError, ValidationError) as exc:
        raise RunStoreError(f"not a resume state ({_short(exc)})") from None
    _real_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)
    _real_folder(folder)
    for name, data in ((state.arrays, arrays), (layout.RESUME_STATE, files[layout.RESUME_STATE])):
        write_atomic(folder / name, data)
    _drop_others(folder, state.arrays)
    return state


def _drop_others(folder: Path, arrays: str) -> None:
    """Delete what else is in a resume folder (older arrays), never through a link."""
    for path in folder.iterdir():
        if path.name not in (arrays, layout.RESUME_STATE) and not path.is_dir():
            path.unlink(missing_ok=True)  # a link is removed itself, never followed


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return ".".join(str(p) for p in first["loc"]) + f": {first['msg']}"
    return str(exc)


def _encode(value: Any) -> Value:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | np.integer):
        return int(value)
    number = float(value)
    if math.isfinite(number):
        return number
    return "nan" if math.isnan(number) else ("inf" if number > 0 else "-inf")


def _decode(value: Value) -> Any:
    if isinstance(value, str):
        if value not in _NON_FINITE:
            raise RunStoreError(f"resume state: {value!r} is not a number")
        return _NON_FINITE[value]
    return value


def _seed_variables(model: Any) -> list[Any]:
    """The model's random-seed states: in `model.variables`, not in `model.weights`."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def make_state_keeper(**kwargs: Any) -> Any:
    """A `StateKeeper` Keras callback (its Keras base class is imported lazily)."""
    cls = type("StateKeeper", (_StateKeeperMixin, import_keras().callbacks.Callback), {})
    return cls(**kwargs)


class _StateKeeperMixin:
    """Restores a trial's state when training begins; `save(epoch)` writes it.

    Place it after the trial's own callbacks (their `on_train_begin` resets the counters it
    restores) and before the reporter (which reads the restored learning rate). The reporter
    calls `save` after it has logged the epoch, so a logged epoch is saved or superseded.
    """

    def __init__(
        self,
        *,
        trial: str,
        folder: Path,
        callbacks: list[Any],
        restore: TrialState | None = None,
        seconds_before: float = 0.0,
    ) -> None:
        super().__init__()
        self.trial = trial
        self.folder = folder
        self.callbacks = callbacks
        self.restore = restore
        self.seconds_before = seconds_before
        self.started = time.perf_counter()

    # -- restore ---------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.restore is None:
            return
        try:
            self._restore(self.restore)
        except RunStoreError:
            raise
        except Exception as exc:  # a state that does not fit this model
            raise RunStoreError(
                f"cannot resume {self.trial} from epoch {self.restore.epoch}: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from None

    def _restore(self, state: TrialState) -> None:
        model = self.model
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        path = self.folder / state.arrays
        check_archive(path, self._expected_arrays(state))
        with np.load(path, allow_pickle=False) as arrays:
            for prefix, variables in self._state_variables().items():
                self._assign(prefix, variables, arrays)
            for saved in state.callbacks:
                self._restore_callback(saved, arrays)
        if not follows_schedule(model.optimizer):
            model.optimizer.learning_rate = state.learning_rate

    def _expected_arrays(self, state: TrialState) -> dict[str, tuple[int, ...]]:
        """Every array name the state may hold, with the shape this model gives it."""
        expected = {
            f"{prefix}{i}": tuple(variable.shape)
            for prefix, variables in self._state_variables().items()
            for i, variable in enumerate(variables)
        }
        weights = [tuple(w.shape) for w in self.model.weights]
        for saved in state.callbacks:
            for i, shape in enumerate(weights):
                expected[f"best_weights_{saved.index}_{i}"] = shape
        return expected

    def _state_variables(self) -> dict[str, list[Any]]:
        """What is saved and restored, by array-name prefix, in a fixed order."""
        model = self.model
        return {
            "model_": list(model.weights),
            "optimizer_": list(model.optimizer.variables),
            "seed_": _seed_variables(model),
        }

    def _assign(self, prefix: str, variables: list[Any], arrays: Any) -> None:
        stored = sorted((k for k in arrays.files if k.startswith(prefix)), key=_index)
        if len(stored) != len(variables):
            raise RunStoreError(
                f"the resume state of {self.trial} has {len(stored)} {prefix.rstrip('_')} "
                f"arrays, the model {len(variables)}"
            )
        for variable, key in zip(variables, stored, strict=True):
            value = arrays[key]
            if tuple(value.shape) != tuple(variable.shape):
                raise RunStoreError(
                    f"the resume state of {self.trial}: {key} has shape {value.shape}, "
                    f"{variable.path} {tuple(variable.shape)}"
                )
            variable.assign(value)

    def _restore_callback(self, saved: CallbackState, arrays: Any) -> None:
        if saved.index >= len(self.callbacks):
            raise RunStoreError(f"resume state names callback {saved.index}, which is missing")
        callback = self.callbacks[saved.index]
        if type(callback).__name__ != saved.name:
            raise RunStoreError(
                f"resume state: callback {saved.index} was {saved.name}, "
                f"the scenario has {type(callback).__name__}"
            )
        allowed = STATEFUL_CALLBACKS.get(saved.name, ())
        for attribute, value in saved.values.items():
            if attribute not in allowed:
                raise RunStoreError(f"resume state: {saved.name}.{attribute} is not restorable")
            setattr(callback, attribute, _decode(value))
        prefix = f"best_weights_{saved.index}_"
        best = sorted((k for k in arrays.files if k.startswith(prefix)), key=_index)
        if best:
            callback.best_weights = [arrays[k] for k in best]

    # -- save ------------------------------------------------------------------------------
    def save(self, epoch: int) -> None:
        """Write the state after `epoch` (1-based) atomically; then drop the older files.

        Raises:
            RunStoreError: the folder cannot be written (disk full, removed).
        """
        try:
            self._save(epoch)
        except OSError as exc:
            raise RunStoreError(
                f"cannot save the resume state of {self.trial}: {exc.strerror or exc}"
            ) from None

    def _save(self, epoch: int) -> None:
        _real_folder(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        _real_folder(self.folder)  # not swapped for a link since
        name = f"epoch-{epoch:04d}.npz"
        arrays, callbacks = self._arrays()
        write_with(self.folder / name, lambda stream: np.savez(stream, **arrays))
        state = TrialState(
            version=1,
            trial=self.trial,
            epoch=epoch,
            arrays=name,
            learning_rate=learning_rate_of(self.model.optimizer),
            seconds=self.seconds_before + time.perf_counter() - self.started,
            callbacks=callbacks,
        )
        write_json_atomic(self.folder / layout.RESUME_STATE, state.model_dump())
        _drop_others(self.folder, name)

    def _arrays(self) -> tuple[dict[str, np.ndarray], list[CallbackState]]:
        arrays = {
            f"{prefix}{i}": np.asarray(variable.numpy())
            for prefix, variables in self._state_variables().items()
            for i, variable in enumerate(variables)
        }
        states = []
        for index, callback in enumerate(self.callbacks):
            name = type(callback).__name__
            attributes = STATEFUL_CALLBACKS.get(name)
            if attributes is None:
                continue
            values = {a: _encode(getattr(callback, a, None)) for a in attributes}
            states.append(CallbackState(index=index, name=name, values=values))
            for i, array in enumerate(getattr(callback, "best_weights", None) or []):
                arrays[f"best_weights_{index}_{i}"] = np.asarray(array)
        return arrays, states


def discard_state(folder: Path) -> None:
    """Remove a trial's resume state (it finished: nothing to resume); a link is not followed."""
    try:
        if not stat.S_ISDIR(os.lstat(folder).st_mode):
            return
    except OSError:
        return
    for path in folder.iterdir():
        if path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        folder.rmdir()


def _index(key: str) -> int:
    return int(key.rsplit("_", 1)[1])
