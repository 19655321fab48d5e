"""Where `tuilab report -o` and `tuilab plot -o` write: a regular file in a regular folder,
replaced in one rename, or nothing at all.

An output that exists must be a regular file (or a link to one): a folder, a device
(`/dev/full`, `/dev/null`), a FIFO or a socket is refused before anything is drawn or written,
since writing into it blocks, fills nothing or discards the report, and a rename over it would
replace the device node itself. Its folder must exist and be a folder, and must not be the
device folder: `/dev` (a `devtmpfs`, or a container's `tmpfs`) takes a new file from root, where
it sits beside the devices in memory; so a folder on `/dev`'s file system is refused (when `/dev`
is no mount point of its own, a folder at or under `/dev`). `/dev/shm`, a file system of its own
meant for files, stays allowed.

Bytes go to a fresh temporary file beside the target (`O_EXCL | O_NOFOLLOW`, a random name),
flushed to disk and renamed over it when complete (`atomic_file`): a full disk or a kill leaves
the old file (or none) and no temporary file, never half a report. Every failure is a
`UsageError` (exit 2) naming the file and the reason.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tuilab.errors import UsageError
from tuilab.presentation.text import clean
from tuilab.runtime.store_files import atomic_file

DEVICE_FOLDER = "/dev"
_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def on_device_folder(folder: Path) -> bool:
    """True when `folder` is `/dev` or on its file system (see the module's docstring)."""
    try:
        devices, root, here = os.stat(DEVICE_FOLDER), os.stat("/"), os.stat(folder)
    except OSError:  # no /dev (Windows), or the folder vanished: nothing to compare
        return False
    if not stat.S_ISDIR(devices.st_mode):
        return False
    if devices.st_dev != root.st_dev:  # /dev is a mount of its own
        return here.st_dev == devices.st_dev
    real = os.path.realpath(folder)
    return real == DEVICE_FOLDER or real.startswith(DEVICE_FOLDER + "/")


def output_target(path: Path, *, example: str = "report.md", hint: str = "") -> Path:
    """The regular file to write for `-o path`: `path`, or the file a link at `path` names.

    Writes nothing. `example` is the file name suggested for a folder; `hint` ends the message
    for a device, FIFO or socket.

    Raises:
        UsageError: `path` is (or links to) something other than a regular file, or its folder
            does not exist, is not a folder, or is the device folder.
    """
    shown = clean(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    linked = f" (a link to {clean(target)})" if target != path else ""
    try:  # what `path` names, as the kernel follows it (`/dev/stdout`: a pipe, a terminal)
        mode: int | None = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):  # its folder is checked next
        mode = None
    except OSError as exc:
        raise UsageError(f"cannot write {shown}{linked}: {exc.strerror or exc}") from None
    if mode is not None and stat.S_ISDIR(mode) and target == path:
        raise UsageError(f"{shown} is a folder: give a file name, e.g. {clean(path / example)}")
    if mode is not None and not stat.S_ISREG(mode):
        more = f" ({hint})" if hint else ""
        raise UsageError(
            f"{shown}{linked} is {_kind(mode)}, not a regular file: give the name of a file to "
            f"write{more}"
        )
    folder = target.parent
    try:
        folder_mode: int | None = os.stat(folder).st_mode
    except FileNotFoundError:
        raise UsageError(
            f"cannot write {shown}{linked}: folder {clean(folder)} does not exist"
        ) from None
    except NotADirectoryError:
        folder_mode = None  # a file on its path
    except OSError as exc:
        raise UsageError(
            f"cannot write {shown}{linked}: folder {clean(folder)}: {exc.strerror or exc}"
        ) from None
    if folder_mode is None or not stat.S_ISDIR(folder_mode):
        raise UsageError(f"cannot write {shown}{linked}: {clean(folder)} is not a folder")
    for where in dict.fromkeys((path.parent, folder)):  # a link's own folder gets the figures
        if on_device_folder(where):
            more = f" ({hint})" if hint else ""
            raise UsageError(
                f"cannot write {shown}{linked}: {clean(where)} is the device folder "
                f"({DEVICE_FOLDER}), not a folder for files: give a file in a regular folder"
                f"{more}"
            )
    return target


def write_output(path: Path, data: bytes, *, example: str = "report.md", hint: str = "") -> None:
    """Write `data` to the regular file `path` names (`output_target`), in one rename.

    An existing file keeps its permission bits; a new one gets 0o666 less the umask.

    Raises:
        UsageError: `output_target` refuses it, or writing fails (a full disk, no permission):
            the old file, if any, is left as it was and no temporary file remains.
    """
    target = output_target(path, example=example, hint=hint)
    try:
        kept: int | None = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        kept = None
    try:
        with atomic_file(target, mode=0o666 if kept is None else kept) as stream:
            if kept is not None and hasattr(os, "fchmod"):
                os.fchmod(stream.fileno(), kept)  # as it was, whatever the umask
            stream.write(data)
    except OSError as exc:
        raise UsageError(f"cannot write {clean(path)}: {exc.strerror or exc}") from None
