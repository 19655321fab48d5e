"""Readers for the on-disk dataset formats: IDX (raw or gzipped), Keras `.npz`, CIFAR-10 batches.

Readers check the format itself (headers, sizes, what a file may hold) and return the arrays as
stored, with where each came from; `tuilab.data.checks` then checks them against the dataset.
"""

from __future__ import annotations

import gzip
import io
import math
import pickle
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from tuilab.errors import DataError

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
KEYS = ("x_train", "y_train", "x_test", "y_test")

Splits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""(x_train, y_train, x_test, y_test)."""


@dataclass(frozen=True)
class Part:
    """A run of rows of one array and where it was read.

    Attributes:
        file: The file (or source) it was read from.
        rows: How many rows (images or labels) it holds.
        key: The array's name inside the file (a `.npz` key), or "".
    """

    file: str
    rows: int
    key: str = ""

    @property
    def name(self) -> str:
        """The file, with the key inside it where there is one (``mnist.npz: y_test``)."""
        return f"{self.file}: {self.key}" if self.key else self.file


@dataclass(frozen=True)
class Loaded:
    """The four arrays as read, unchecked, and the parts each one was concatenated from.

    Attributes:
        arrays: x_train, y_train, x_test and y_test.
        parts: For each key, its parts in order (one, except CIFAR-10's five training batches).
    """

    arrays: dict[str, np.ndarray]
    parts: dict[str, tuple[Part, ...]]

    @classmethod
    def whole(cls, splits: Splits, prefix: str) -> Loaded:
        """Arrays that came in one piece each, named ``{prefix} {key}``."""
        arrays = dict(zip(KEYS, splits, strict=True))
        parts = {key: (Part(prefix, _rows(a), key),) for key, a in arrays.items()}
        return cls(arrays, parts)


def _rows(array: np.ndarray) -> int:
    return len(array) if np.ndim(array) else 0


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzipped or raw, checking its header."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as stream:
                raw = stream.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot be read as IDX ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: not an IDX file (truncated header)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow on hostile headers
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: IDX data is {len(raw) - header:,} bytes, header promises {expected:,} "
            f"for shape {shape} (file truncated or corrupt)"
        )
    try:
        return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    except ValueError:  # e.g. no data and dimensions past what numpy can index
        raise DataError(f"{path}: IDX header shape {shape} is not a usable array") from None


def find_idx_files(folder: Path) -> dict[str, Path] | None:
    """The four MNIST-style IDX files in `folder` (`.gz` or raw), or None if any is missing."""
    found: dict[str, Path] = {}
    for split, stem in IDX_NAMES.items():
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                found[split] = candidate
                break
        else:
            return None
    return found


def read_idx_folder(folder: Path) -> Loaded:
    """Read the four IDX files of an MNIST-style folder."""
    files = find_idx_files(folder)
    if files is None:
        raise DataError(f"{folder}: missing IDX files ({', '.join(IDX_NAMES.values())})")
    arrays = {split: read_idx(path) for split, path in files.items()}
    parts = {split: (Part(str(files[split]), _rows(a)),) for split, a in arrays.items()}
    return Loaded(arrays, parts)


def read_npz(path: Path) -> Loaded:
    """Read a Keras-style `.npz` with x_train, y_train, x_test, y_test (no pickles allowed)."""
    arrays: dict[str, np.ndarray] = {}
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: not a readable .npz file (it is a single .npy array)")
    with archive:
        missing = [k for k in KEYS if k not in archive.files]
        if missing:
            found = ", ".join(archive.files) or "nothing"
            raise DataError(f"{path}: .npz lacks {', '.join(missing)} (it holds {found})")
        for key in KEYS:
            try:
                arrays[key] = archive[key]
            except ValueError as exc:
                if "allow_pickle" in str(exc):
                    raise DataError(
                        f"{path}: {key} holds Python objects (a pickle); tuilab reads only "
                        "numeric arrays"
                    ) from None
                raise DataError(f"{path}: {key} cannot be read ({exc})") from None
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error, MemoryError) as exc:
                reason = str(exc) or type(exc).__name__
                raise DataError(f"{path}: {key} cannot be read ({reason})") from None
    parts = {key: (Part(str(path), _rows(a), key),) for key, a in arrays.items()}
    return Loaded(arrays, parts)


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10 batches only: dicts, lists, bytes and numpy arrays; nothing callable."""

    _ALLOWED: ClassVar[set[tuple[str, str]]] = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("_codecs", "encode"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch")


UNPICKLING_FAULTS = (
    AttributeError,
    IndexError,
    KeyError,
    MemoryError,
    OverflowError,
    RecursionError,
)
"""What a malformed pickle raises besides UnpicklingError (a frame past 2**63: OverflowError)."""


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch: images as (n, 32, 32, 3) and labels, dtypes as stored."""
    try:
        batch = _CifarUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: not a CIFAR-10 batch ({exc})") from None
    except UNPICKLING_FAULTS as exc:
        raise DataError(f"{path}: not a CIFAR-10 batch ({type(exc).__name__}: {exc})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path}: not a CIFAR-10 batch (no dict inside)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (needs 'data' and 'labels')")
    try:
        data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"])
    except (ValueError, TypeError, OverflowError) as exc:
        raise DataError(f"{path}: not a CIFAR-10 batch (data or labels: {exc})") from None
    if data.dtype.kind not in "biuf" or labels.dtype.kind not in "biuf":
        raise DataError(
            f"{path}: CIFAR-10 data and labels must be numbers, got dtypes {data.dtype} "
            f"and {labels.dtype}"
        )
    if data.ndim != 2 or data.shape[1] != 3072 or labels.ndim != 1 or len(labels) != len(data):
        raise DataError(
            f"{path}: CIFAR-10 data must be (n, 3072) with n labels, got data {data.shape} "
            f"and labels {labels.shape}"
        )
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_cifar_folder(folder: Path) -> Loaded:
    """Read `cifar-10-batches-py`: data_batch_1..5 and test_batch."""
    train_files = sorted(folder.glob("data_batch_*"))
    test_file = folder / "test_batch"
    if not train_files or not test_file.is_file():
        raise DataError(f"{folder}: needs data_batch_1..5 and test_batch (CIFAR-10 python format)")
    train = [read_cifar_batch(p) for p in train_files]
    x_test, y_test = read_cifar_batch(test_file)
    train_parts = tuple(Part(str(p), len(y)) for p, (_, y) in zip(train_files, train, strict=True))
    arrays = {
        "x_train": np.concatenate([x for x, _ in train]),
        "y_train": np.concatenate([y for _, y in train]),
        "x_test": x_test,
        "y_test": y_test,
    }
    test_parts = (Part(str(test_file), len(y_test)),)
    parts = {"x_train": train_parts, "y_train": train_parts, "x_test": test_parts}
    parts["y_test"] = test_parts
    return Loaded(arrays, parts)
