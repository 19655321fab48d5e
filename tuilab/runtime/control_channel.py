"""Steering a run from another process: request files in the run folder's `control/`.

`send_request` (any process of the run's user: `tuilab stop`, an attached app) writes one small
JSON file there, atomically. `ControlChannel`, a daemon thread of the training process, polls the
folder, applies each request to the run's `RunControl` and deletes it. The training thread pays
nothing: the reporter still reads only `control.pending` after each batch.

The folder is private to the run's user (0o700; a folder that is group- or world-writable, or
someone else's, is refused on both sides), and every request is untrusted input: read without
following links, bounded in size, parsed through a strict schema, refused with a reason.

Polled, not watched with inotify: a request written on another host into a run folder shared
over NFS or sshfs raises no local file event, and listing an empty folder every 0.2 s costs
microseconds on a thread that is not the training one.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tuilab.errors import RunStoreError
from tuilab.runtime.control import RunControl
from tuilab.runtime.run_folder import RunFolder
from tuilab.scenario.bounds import MAX_TRIAL_NAME

MAX_REQUEST_BYTES = 4096
POLL_SECONDS = 0.2
ABANDONED_SECONDS = 60.0
"""A half-written request (`.NAME.tmp`) this old was left by a sender that died."""
MAX_REPORTED = 50
"""Refusals reported per run; past that they are still dropped, but no longer logged."""
ACTIONS = ("stop", "stop_after_epoch", "scale_lr", "checkpoint", "confusion")


class ControlRequest(BaseModel):
    """One request file, checked strictly (no coercion, no unknown keys, no NaN)."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, frozen=True)
    action: Literal["stop", "stop_after_epoch", "scale_lr", "checkpoint", "confusion"]
    factor: float | None = None
    trial: str | None = Field(default=None, min_length=1, max_length=MAX_TRIAL_NAME)
    """The one trial it is for (None: every trial training now)."""
    sent: datetime
    pid: int = Field(ge=1)

    @model_validator(mode="after")
    def _factor_fits_action(self) -> ControlRequest:
        if self.action == "scale_lr":
            if self.factor is None or not (self.factor > 0 and math.isfinite(self.factor)):
                raise ValueError("scale_lr needs a positive finite factor")
        elif self.factor is not None:
            raise ValueError(f"{self.action} takes no factor")
        return self


class _Refused(Exception):
    """A request file that is not applied; the message says why."""


def control_folder(run_folder: Path) -> Path:
    """`<run folder>/control/`: pending requests, one file each, `<time_ns>-<pid>.json`."""
    return RunFolder(Path(run_folder)).control_dir


def private_folder(path: Path, create: bool) -> None:
    """Make sure `path` is a real folder of this user that nobody else can write into.

    Raises:
        RunStoreError: it is a link or a file, another user's, or group/world-writable.
    """
    if create:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise RunStoreError(f"cannot create {path}: {exc.strerror or exc}") from None
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise RunStoreError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise RunStoreError(f"{path} is not a folder")
    if info.st_uid != os.geteuid():
        raise RunStoreError(f"{path} belongs to another user (uid {info.st_uid})")
    if info.st_mode & 0o022:
        mode = stat.S_IMODE(info.st_mode)
        raise RunStoreError(f"{path} is writable by other users (mode {mode:o}; chmod 700 it)")


def _describe_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    if first["type"] == "json_invalid":
        return "not JSON"
    if first["loc"] == ("action",) and first["type"] == "literal_error":
        return f"unknown action {str(first['input'])[:40]!r}"
    where = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def check_request(action: str, factor: float | None, trial: str | None = None) -> ControlRequest:
    """The request `send_request` would write, checked as the training process will.

    Raises:
        RunStoreError: an unknown action, or a factor that is missing, not positive or not finite.
    """
    if action not in ACTIONS:
        raise RunStoreError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if action == "scale_lr" and (factor is None or not (factor > 0 and math.isfinite(factor))):
        raise RunStoreError(f"the learning-rate factor must be a positive number, not {factor}")
    try:
        now = datetime.now().astimezone()
        return ControlRequest(action=action, factor=factor, trial=trial, sent=now, pid=os.getpid())
    except ValidationError as exc:
        raise RunStoreError(_describe_error(exc)) from None


def send_request(
    run_folder: Path, action: str, factor: float | None = None, trial: str | None = None
) -> Path:
    """Ask a running run to stop, stop after this epoch, scale its rate or checkpoint.

    Args:
        run_folder: The run's folder.
        action: "stop", "stop_after_epoch", "scale_lr" or "checkpoint".
        factor: The learning-rate multiplier, for "scale_lr" only.
        trial: The one trial it is for (None: every trial training now).

    Returns:
        The request file written (the run deletes it once it has read it).

    Raises:
        RunStoreError: a bad action or factor, a run that is not running, or a control folder
            that is not private to this user.
    """
    request = check_request(action, factor, trial)
    folder = RunFolder(Path(run_folder))
    info = folder.info()
    if info.status != "running":
        why = f": {info.problem}" if info.problem else ""
        raise RunStoreError(f"{folder.run_id} is not running ({info.status}{why})")
    target = folder.control_dir
    private_folder(target, create=True)
    name = f"{time.time_ns()}-{os.getpid()}.json"
    temporary, path = target / f".{name}.tmp", target / name
    data = request.model_dump_json().encode()
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        descriptor = os.open(temporary, flags, 0o600)
        try:
            os.write(descriptor, data)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.rename(temporary, path)
    except OSError as exc:
        why = exc.strerror or exc
        raise RunStoreError(f"cannot write a request into {target}: {why}") from None
    return path


class ControlChannel:
    """Polls a run's `control/` folder on a daemon thread and feeds requests to `control`.

    Args:
        run_folder: The run's folder (the training process's own).
        control: The run's `RunControl`; requests become its method calls.
        on_refused: Called (on the channel's thread) with the reason of each refused request,
            and once if the folder is not private (steering from outside is then off).
        poll_seconds: How often the folder is listed.
        since: When this process took the run (`RunLock.since`): a request sent before then
            was meant for an earlier process (one that died before reading it) and is
            discarded with a note, never applied.
    """

    def __init__(
        self,
        run_folder: Path,
        control: RunControl,
        on_refused: Callable[[str], None] | None = None,
        poll_seconds: float = POLL_SECONDS,
        since: datetime | None = None,
    ) -> None:
        self.folder = control_folder(run_folder)
        self.since = since
        self.control = control
        self.on_refused = on_refused
        self.poll_seconds = poll_seconds
        self.applied: list[ControlRequest] = []
        self.refused: list[str] = []
        """Every refusal's reason (the first `MAX_REPORTED`), also given to `on_refused`."""
        self._stuck: set[str] = set()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._folder_problem = ""

    @property
    def running(self) -> bool:
        """True while the polling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> bool:
        """Create the folder (0o700) and start polling.

        Returns:
            False, with the reason given to `on_refused`, when the folder is not private.
        """
        if self._thread is not None or self._closing.is_set():
            return self.running
        try:
            private_folder(self.folder, create=True)
        except RunStoreError as exc:
            self._folder_problem = str(exc)
            self._refuse(f"steering from other processes is off: {exc}")
            return False
        self._thread = threading.Thread(target=self._loop, name="tuilab-control", daemon=True)
        self._thread.start()
        return True

    def close(self) -> None:
        """Stop polling (idempotent); requests still in the folder stay there."""
        self._closing.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _loop(self) -> None:
        try:
            while not self._closing.is_set():
                self.poll()
                self._closing.wait(self.poll_seconds)
        except Exception as exc:  # a bug here must not pass silently, nor touch training
            self._refuse(f"steering from other processes stopped: {type(exc).__name__}: {exc}")

    def poll(self) -> int:
        """Apply or refuse every request now in the folder, oldest first.

        Returns:
            How many requests were applied.
        """
        try:
            private_folder(self.folder, create=False)
        except RunStoreError as exc:
            if str(exc) != self._folder_problem:  # report a change once, not every poll
                self._folder_problem = str(exc)
                self._refuse(f"requests ignored: {exc}")
            return 0
        self._folder_problem = ""
        try:
            with os.scandir(self.folder) as entries:
                every = [e.name for e in entries]
        except OSError:
            return 0
        names = sorted(name for name in every if not name.startswith("."))
        self._drop_abandoned([name for name in every if name.endswith(".tmp")])
        applied = 0
        for name in names:
            if name in self._stuck:
                continue
            shown = name if len(name) <= 60 else name[:57] + "..."
            try:
                request: ControlRequest | None = self._read(name)
                reason = ""
            except FileNotFoundError:
                continue
            except _Refused as exc:
                request, reason = None, str(exc)
            try:
                problem = self._remove(name)  # claimed first: a file never applies twice
            except FileNotFoundError:
                continue
            if problem is not None:
                self._stuck.add(name)
                reason = f"{reason}; " if reason else ""
                self._refuse(f"{shown}: {reason}cannot be removed ({problem}), left in place")
            elif request is None:
                self._refuse(f"{shown}: {reason}")
            elif self.since is not None and request.sent < self.since:
                sent = request.sent.astimezone().strftime("%Y-%m-%d %H:%M:%S")
                self._refuse(
                    f"discarded a {request.action} request sent at {sent} by pid {request.pid}, "
                    "before this process took the run (it was meant for an earlier one)"
                )
            else:
                self._apply(request)
                applied += 1
        return applied

    def _read(self, name: str) -> ControlRequest:
        path = self.folder / name
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            raise _Refused("a symbolic link (not followed)")
        if stat.S_ISDIR(info.st_mode):
            raise _Refused("a folder, not a request file")
        if not stat.S_ISREG(info.st_mode):
            raise _Refused("not a regular file")
        if info.st_uid not in (os.geteuid(), 0):
            raise _Refused(f"written by another user (uid {info.st_uid})")
        if info.st_size > MAX_REQUEST_BYTES:
            raise _Refused(f"larger than {MAX_REQUEST_BYTES // 1024} KB ({info.st_size} bytes)")
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            descriptor = os.open(path, flags)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise _Refused(f"cannot be read ({exc.strerror or exc})") from None
        try:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # swapped since the lstat
                raise _Refused("not a regular file")
            data = os.read(descriptor, MAX_REQUEST_BYTES + 1)
        finally:
            os.close(descriptor)
        if len(data) > MAX_REQUEST_BYTES:
            raise _Refused(f"larger than {MAX_REQUEST_BYTES // 1024} KB")
        try:
            return ControlRequest.model_validate_json(data)
        except ValidationError as exc:
            raise _Refused(_describe_error(exc)) from None

    def _drop_abandoned(self, names: list[str]) -> None:
        """Delete half-written requests whose sender died (`.NAME.tmp` older than a minute)."""
        now = time.time()
        for name in names:
            with contextlib.suppress(OSError):
                info = os.lstat(self.folder / name)
                if stat.S_ISREG(info.st_mode) and now - info.st_mtime > ABANDONED_SECONDS:
                    os.unlink(self.folder / name)

    def _remove(self, name: str) -> str | None:
        """Delete a request file (or an empty folder); None when done, else why not.

        Raises:
            FileNotFoundError: it is gone already.
        """
        path = self.folder / name
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                os.rmdir(path)
            else:
                os.unlink(path)
        except FileNotFoundError:
            raise
        except OSError as exc:
            return exc.strerror or str(exc)
        return None

    def _apply(self, request: ControlRequest) -> None:
        trial = request.trial
        if request.action == "stop":
            self.control.stop(trial=trial)
        elif request.action == "stop_after_epoch":
            self.control.stop_after_epoch(trial=trial)
        elif request.action == "scale_lr" and request.factor is not None:
            self.control.scale_learning_rate(request.factor, trial=trial)
        elif request.action == "checkpoint":
            self.control.checkpoint(trial=trial)
        elif request.action == "confusion":
            self.control.confusion(trial=trial)
        self.applied.append(request)

    def _refuse(self, reason: str) -> None:
        if len(self.refused) > MAX_REPORTED:
            return
        if len(self.refused) == MAX_REPORTED:
            reason = f"more than {MAX_REPORTED} requests refused; the rest are not reported"
        self.refused.append(reason)
        if self.on_refused is not None:
            self.on_refused(reason)
