"""The images of a classifier's most confident mistakes: `variants/<trial>/mistakes.npz`.

Written once per trial, right after its `ClassificationReport` (one fancy index and one small
compressed file: a few milliseconds), holding the first `MISTAKE_IMAGES` mistakes of
`report.misclassified` (most confident first) exactly as the model got them, after
preprocessing, in the dataset's image shape (H, W, C) even when the model's input is flat.
Arrays: `index` (int64, positions in the test split) and `images` (float32, N×H×W×C).

Reading is for `tuilab show`, the app's confusion view and any report: `read_mistakes(folder,
trial)` returns the images, or nothing and the reason. A stored run is untrusted input, so the
file is opened without pickles, bounded in size before anything is decompressed, and checked
against the trial's report; it never raises and never runs anything from the file.
"""

from __future__ import annotations

import math
import os
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from tuilab import layout
from tuilab.errors import RunStoreError
from tuilab.runtime.events import ClassificationReport, EventFormatError, event_from_dict
from tuilab.runtime.run_folder import RunFolder

MISTAKE_IMAGES = 16
"""How many of the most confident mistakes keep their images."""
MAX_MISTAKES_BYTES = 16 * 1024 * 1024
"""The largest `mistakes.npz` read back (16 CIFAR-10 images take about 200 kB unpacked)."""
ARRAYS = ("index", "images")
CHANNELS = (1, 3)


@dataclass(frozen=True)
class MistakeImages:
    """The images of a trial's most confident mistakes, in the report's order.

    Attributes:
        index: (N,) int64, each image's position in the test split.
        images: (N, H, W, C) float32, as the model got them (after preprocessing).
    """

    index: np.ndarray
    images: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def image_shape_of(shape: tuple[int, ...]) -> tuple[int, int, int] | None:
    """`shape` when it is an image's (H, W, C) with 1 or 3 channels, else None."""
    if len(shape) != 3 or shape[2] not in CHANNELS or min(shape) < 1:
        return None
    return (int(shape[0]), int(shape[1]), int(shape[2]))


def mistake_images(
    report: ClassificationReport, x: np.ndarray, image_shape: tuple[int, ...]
) -> MistakeImages | None:
    """The inputs `x` (the test split as fed to the model) of the report's first mistakes,
    reshaped to `image_shape`; None when there is none, or `x` holds no such images."""
    shape = image_shape_of(tuple(image_shape))
    mistakes = report.misclassified[:MISTAKE_IMAGES]
    if shape is None or not mistakes or not isinstance(x, np.ndarray) or x.ndim < 2:
        return None
    if int(np.prod(x.shape[1:])) != int(np.prod(shape)):
        return None
    index = np.array([m["index"] for m in mistakes], dtype=np.int64)
    if index.min() < 0 or index.max() >= len(x):
        return None
    images = np.asarray(x[index], dtype=np.float32).reshape((len(index), *shape))
    return MistakeImages(index, images)


def mistakes_path(folder: RunFolder | Path, trial: str) -> Path:
    """`variants/<trial>/mistakes.npz` of a run folder."""
    run = folder if isinstance(folder, RunFolder) else RunFolder(folder)
    return run.trial(trial) / layout.MISTAKES_NPZ


def write_mistakes(
    folder: RunFolder | Path,
    report: ClassificationReport,
    x: np.ndarray,
    image_shape: tuple[int, ...],
) -> Path | None:
    """Store the images of the report's first mistakes (atomically); the file, or None when
    there is nothing to store (no mistakes, not image data), and then no file is left."""
    path = mistakes_path(folder, report.trial)
    found = mistake_images(report, x, image_shape)
    if found is None:
        path.unlink(missing_ok=True)  # an earlier attempt's images are not this report's
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=".mistakes-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez_compressed(stream, index=found.index, images=found.images)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def read_mistakes(
    folder: RunFolder | Path, trial: str, report: ClassificationReport | None = None
) -> tuple[MistakeImages | None, str | None]:
    """A trial's mistake images, checked against its report (read from `confusion.json` when
    not given). Returns (images, None); (None, None) when the trial has no such file (older
    runs, regressions, a perfect classifier); (None, why) when the file is unusable.
    Never raises."""
    path = mistakes_path(folder, trial)
    try:
        mode = path.stat().st_mode
    except OSError:
        return None, None  # no file: nothing to show, nothing wrong
    name = layout.MISTAKES_NPZ
    if not stat.S_ISREG(mode):
        return None, f"{name} is not a regular file"
    if report is None:
        report, problem = _stored_report(folder, trial)
        if report is None:
            return None, problem
    try:
        found = _load(path)
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, RunStoreError) as exc:
        return None, f"{name}: {_short(exc)}"
    except Exception as exc:  # whatever else a hostile file provokes in numpy or zipfile
        return None, f"{name}: unreadable ({type(exc).__name__})"
    problem = _mismatch(found, report)
    if problem is not None:
        return None, f"{name}: {problem}"
    return found, None


def _stored_report(
    folder: RunFolder | Path, trial: str
) -> tuple[ClassificationReport | None, str | None]:
    """The trial's `confusion.json` as a report, or None and why."""
    run = folder if isinstance(folder, RunFolder) else RunFolder(folder)
    try:
        event = event_from_dict(run.read_json(run.trial(trial) / layout.CONFUSION_JSON))
    except (RunStoreError, EventFormatError) as exc:
        return None, f"no report to check {layout.MISTAKES_NPZ} against: {_short(exc)}"
    if not isinstance(event, ClassificationReport):
        return None, f"{layout.CONFUSION_JSON} holds no classification report"
    return event, None


def _load(path: Path) -> MistakeImages:
    """The two arrays of `path`, their headers checked before anything is unpacked: no
    pickles, no object arrays, no more bytes than `MAX_MISTAKES_BYTES`."""
    if path.stat().st_size > MAX_MISTAKES_BYTES:
        raise RunStoreError(f"larger than {MAX_MISTAKES_BYTES // 1024 // 1024} MB")
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if sorted(info.filename for info in members) != sorted(f"{k}.npy" for k in ARRAYS):
            raise RunStoreError(f"expected the arrays {' and '.join(ARRAYS)}, found others")
        if sum(info.file_size for info in members) > MAX_MISTAKES_BYTES:
            raise RunStoreError("its arrays unpack to too many bytes")
        for info in members:
            with archive.open(info) as member:
                _check_header(info, member)
    with np.load(path, allow_pickle=False) as arrays:
        index, images = arrays["index"], arrays["images"]
    return MistakeImages(index, images)


def _check_header(info: zipfile.ZipInfo, member: IO[bytes]) -> None:
    """Refuse an array of Python objects, or one claiming more bytes than its member holds."""
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise RunStoreError(f"{info.filename}: unsupported .npy version {version}")
    if dtype.hasobject:
        raise RunStoreError(f"{info.filename}: holds Python objects (never unpickled)")
    if math.prod(shape) * dtype.itemsize > info.file_size:
        raise RunStoreError(f"{info.filename}: its header claims more data than it holds")


def _mismatch(found: MistakeImages, report: ClassificationReport) -> str | None:
    """Why the arrays are not the images of the report's first mistakes, or None."""
    index, images = found.index, found.images
    if index.dtype != np.int64 or index.ndim != 1:
        return f"index: expected int64 (N,), found {index.dtype} {index.shape}"
    if images.dtype != np.float32 or images.ndim != 4:
        return f"images: expected float32 (N, H, W, C), found {images.dtype} {images.shape}"
    if len(images) != len(index) or image_shape_of(images.shape[1:]) is None:
        return f"images: shape {images.shape} does not hold {len(index)} images of 1 or 3 channels"
    expected = [int(m["index"]) for m in report.misclassified[:MISTAKE_IMAGES]]
    if index.tolist() != expected:
        return "its images are not those of this trial's mistakes in confusion.json"
    if not np.isfinite(images).all():
        return "images: values that are not finite"
    return None


def _short(exc: BaseException) -> str:
    """An exception's first line, bounded (file names and numbers, never the file's bytes)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
