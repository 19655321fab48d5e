"""Callbacks from scenario specs: allowed classes only, every path inside the trial's folder.

Four callbacks write files. Their path argument is a relative path inside the trial folder
`runs/<stem>/<stamp>/variants/<trial>/`; absolute paths, `~`, `..`, URLs or drives (`gs:`,
`C:`) and anything that resolves (after symbolic links) outside the folder are refused:

    CSVLogger.filename          default "keras-history.csv"
    ModelCheckpoint.filepath    required; ends in .keras (or .weights.h5 with
                                save_weights_only); placeholders such as {epoch:02d} allowed
    BackupAndRestore.backup_dir default "backup" (a folder of its own: Keras deletes it at the end)
    TensorBoard.log_dir         default "keras-tensorboard" (tuilab writes its own
                                "tensorboard/" for every trial: `runtime.tensorboard_log`)

`tuilab validate` checks the form (`check_callbacks`); training resolves the paths in the
trial folder (`make_callbacks`). A run that is not stored (`--no-store`, a worker that is not
the chief) writes them into a temporary folder removed when training ends, as Keras itself
does for non-chief workers. Names tuilab writes itself in the trial folder are refused.
Every run starts in a new folder, so BackupAndRestore never resumes an earlier run: it only
keeps its backup while the trial trains (Keras deletes it when training ends).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import string
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from tuilab.layout import TRIAL_FILES
from tuilab.model.builder import BuildError
from tuilab.model.keras_classes import (
    KerasLookupError,
    accepted_arguments,
    check_arguments,
    instantiate,
    keras_class,
)

Key = tuple[str | int, ...]
RESERVED = TRIAL_FILES
_CHECKPOINT = re.compile(r"^checkpoint-epoch\d*\.keras$")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SPEC = re.compile(r"^[0-9]*(\.[0-9]+)?[defgEFG%]?$")


@dataclass(frozen=True)
class PathArgument:
    """The argument of a callback class that names where it writes."""

    name: str
    default: str | None
    folder: bool


PATHS = {
    "CSVLogger": PathArgument("filename", "keras-history.csv", folder=False),
    "ModelCheckpoint": PathArgument("filepath", None, folder=False),
    "BackupAndRestore": PathArgument("backup_dir", "backup", folder=True),
    "TensorBoard": PathArgument("log_dir", "keras-tensorboard", folder=True),
}


def check_callbacks(specs: list[dict[str, Any]]) -> list[Any]:
    """Check names, arguments and the form of paths (for `tuilab validate`); writes nothing.

    Raises:
        BuildError: the first problem, keyed `callbacks[i]...`.
    """
    return _build(specs, None)


def make_callbacks(specs: list[dict[str, Any]], folder: Path | None = None) -> list[Any]:
    """Fresh callback instances for one training, writing only inside `folder`.

    Args:
        specs: The scenario's `[[callbacks]]` tables.
        folder: The trial folder (`<run>/variants/<trial>`), or None when the run is not
            stored: path callbacks then write into a temporary folder removed at the end.

    Raises:
        BuildError: a refused class, argument or path (also one that a symbolic link in the
            trial folder sends elsewhere).
    """
    needs_folder = any(spec.get("type") in PATHS for spec in specs)
    if not needs_folder:
        return _build(specs, None)
    if folder is not None:
        return _build(specs, folder)
    temporary = Path(tempfile.mkdtemp(prefix="tuilab-unstored-"))
    callbacks = _build(specs, temporary)
    remover = _remover(temporary)
    weakref.finalize(remover, shutil.rmtree, temporary, True)  # also if training fails
    return [*callbacks, remover]


def _build(specs: list[dict[str, Any]], folder: Path | None) -> list[Any]:
    callbacks = []
    written: list[tuple[PurePosixPath, int, bool]] = []
    for index, spec in enumerate(specs):
        key: Key = ("callbacks", index)
        spec = dict(spec)
        try:
            cls = keras_class("callbacks", spec["type"])
            check_arguments(cls, {k: v for k, v in spec.items() if k != "type"})
        except KerasLookupError as exc:
            raise BuildError(key + (exc.key or ("type",)), str(exc), exc.hint) from None
        path = PATHS.get(spec["type"])
        if path is not None:
            relative = _relative(spec, path, key)
            _check_overlap(relative, spec["type"] == "BackupAndRestore", index, written, key, path)
            written.append((relative, index, spec["type"] == "BackupAndRestore"))
            spec[path.name] = (
                str(relative) if folder is None else _inside(folder, relative, path, key)
            )
        if spec["type"] == "TensorBoard" and importlib.util.find_spec("tensorboard") is None:
            raise BuildError(
                (*key, "type"),
                "TensorBoard needs the tensorboard package",
                "pip install tensorboard",
            )
        if "verbose" in accepted_arguments(cls):  # tuilab reports their effects itself
            spec.setdefault("verbose", 0)
        try:
            callbacks.append(instantiate("callbacks", spec, (path.name,) if path else ()))
        except KerasLookupError as exc:
            raise BuildError(key + (exc.key or ("type",)), str(exc), exc.hint) from None
        except (TypeError, ValueError) as exc:
            text = str(exc).strip().splitlines()
            raise BuildError(key, f"{spec['type']}: {text[0][:300] if text else exc}") from None
    return callbacks


def _relative(spec: dict[str, Any], path: PathArgument, key: Key) -> PurePosixPath:
    """The path argument as a clean relative path, or a `BuildError` saying why not."""
    value = spec.get(path.name, path.default)
    where = (*key, path.name)
    example = path.default or "best.keras"
    if value is None:
        raise BuildError(
            key, f"{spec['type']} needs {path.name}", f'e.g. {path.name} = "{example}"'
        )
    if not isinstance(value, str) or not value.strip():
        raise BuildError(where, f"{path.name} should be a path inside the trial folder")
    inside = f"give a path inside the trial folder, e.g. {example!r}"
    if any(ord(c) < 32 for c in value) or "\\" in value:
        raise BuildError(where, f"{path.name} may not contain control characters or '\\'", inside)
    if value.startswith("~"):
        raise BuildError(where, f"{path.name} {value!r} points into a home folder", inside)
    if value.startswith("/"):
        raise BuildError(where, f"{path.name} {value!r} is an absolute path", inside)
    if _SCHEME.match(value):
        raise BuildError(where, f"{path.name} {value!r} is a URL or a drive", inside)
    parts = PurePosixPath(value).parts
    if ".." in parts:
        raise BuildError(where, f"{path.name} {value!r} climbs out with '..'", inside)
    relative = PurePosixPath(*[p for p in parts if p != "."]) if parts else PurePosixPath()
    if not relative.parts:
        if spec["type"] == "BackupAndRestore":
            raise BuildError(
                where, "BackupAndRestore deletes its folder when training ends", 'e.g. "backup"'
            )
        if not path.folder:
            raise BuildError(where, f"{path.name} should name a file", inside)
    elif relative.parts[0] in RESERVED or _CHECKPOINT.match(relative.parts[0]):
        raise BuildError(
            where, f"tuilab writes its own {relative.parts[0]} in the trial folder", inside
        )
    if spec["type"] == "ModelCheckpoint":
        _check_checkpoint_name(value, where, spec)
    return relative


def _check_checkpoint_name(value: str, where: Key, spec: dict[str, Any]) -> None:
    """Keras formats the name with epoch and logs: allow `{name}` and `{name:.2f}` only."""
    try:
        fields = list(string.Formatter().parse(value))
    except ValueError as exc:
        raise BuildError(where, f"filepath {value!r}: {exc}") from None
    for _, field, spec_text, conversion in fields:
        if field is None:
            continue
        if not _FIELD.match(field) or conversion or not _SPEC.match(spec_text or ""):
            raise BuildError(
                where,
                f"filepath {value!r}: placeholders are {{name}} or {{name:.2f}}, "
                f"got {{{field}{'!' + conversion if conversion else ''}"
                f"{':' + spec_text if spec_text else ''}}}",
                'e.g. "epoch{epoch:02d}-{val_loss:.3f}.keras"',
            )
    weights = bool(spec.get("save_weights_only"))
    suffix = ".weights.h5" if weights else ".keras"
    if not value.endswith(suffix):
        raise BuildError(
            where,
            f"ModelCheckpoint filepath should end in {suffix}"
            + (" with save_weights_only" if weights else ""),
            f'e.g. "best{suffix}"',
        )


def _check_overlap(
    relative: PurePosixPath,
    is_backup: bool,
    index: int,
    written: list[tuple[PurePosixPath, int, bool]],
    key: Key,
    path: PathArgument,
) -> None:
    for other, other_index, other_backup in written:
        if other == relative:
            raise BuildError(
                (*key, path.name), f"callbacks[{other_index}] writes to {str(relative)!r} too"
            )
        if (other_backup and other in relative.parents) or (
            is_backup and relative in other.parents
        ):
            raise BuildError(
                (*key, path.name),
                f"{str(relative)!r} and callbacks[{other_index}]'s path overlap, and "
                "BackupAndRestore deletes its folder when training ends",
                "give BackupAndRestore a folder of its own",
            )


def _inside(folder: Path, relative: PurePosixPath, path: PathArgument, key: Key) -> str:
    """`folder / relative`, resolved; refused if a symbolic link leads outside `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    root = folder.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise BuildError(
            (*key, path.name),
            f"{path.name} {str(relative)!r} resolves to {target}, outside the trial folder "
            f"{root} (a symbolic link?)",
        )
    if not path.folder:
        target.parent.mkdir(parents=True, exist_ok=True)
    return str(target)


def _remover(folder: Path) -> Any:
    """A callback that removes `folder` when training ends (unstored runs)."""
    from tuilab.backend import import_keras

    keras = import_keras()

    class RemoveTemporaryFolder(keras.callbacks.Callback):
        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            shutil.rmtree(folder, ignore_errors=True)

    return RemoveTemporaryFolder()
