"""Readers for the on-disk dataset formats: IDX (raw or gzipped), Keras `.npz`, CIFAR-10 batches."""

from __future__ import annotations

import gzip
import io
import pickle
import zipfile
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

Splits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""(x_train, y_train, x_test, y_test)."""


def read_idx(path: Path) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzipped or raw, checking its header."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path) as stream:
                raw = stream.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: cannot be read as IDX ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DataError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(f"{path}: not an IDX file (truncated header)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(
            f"{path}: IDX data is {len(raw) - header:,} bytes, header promises {expected:,} "
            "(file truncated or corrupt)"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)


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


def read_idx_folder(folder: Path) -> Splits:
    """Read the four IDX files of an MNIST-style folder."""
    files = find_idx_files(folder)
    if files is None:
        raise DataError(f"{folder}: missing IDX files ({', '.join(IDX_NAMES.values())})")
    arrays = {split: read_idx(path) for split, path in files.items()}
    return _checked(
        folder, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
    )


def read_npz(path: Path) -> Splits:
    """Read a Keras-style `.npz` with x_train, y_train, x_test, y_test (no pickles allowed)."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in archive]
            if missing:
                raise DataError(f"{path}: .npz lacks {', '.join(missing)}")
            return _checked(
                path, archive["x_train"], archive["y_train"], archive["x_test"], archive["y_test"]
            )
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({exc})") from None


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


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch: images as (n, 32, 32, 3) uint8 and labels."""
    try:
        batch = _CifarUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
        raise DataError(f"{path}: not a CIFAR-10 batch ({exc})") from None
    if not isinstance(batch, dict):
        raise DataError(f"{path}: not a CIFAR-10 batch (no dict inside)")
    batch = {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (needs 'data' and 'labels')")
    data = np.asarray(batch["data"], dtype=np.uint8)
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DataError(f"{path}: CIFAR-10 data must be (n, 3072) with n labels, got {data.shape}")
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def read_cifar_folder(folder: Path) -> Splits:
    """Read `cifar-10-batches-py`: data_batch_1..5 and test_batch."""
    train_files = sorted(folder.glob("data_batch_*"))
    test_file = folder / "test_batch"
    if not train_files or not test_file.is_file():
        raise DataError(f"{folder}: needs data_batch_1..5 and test_batch (CIFAR-10 python format)")
    parts = [read_cifar_batch(p) for p in train_files]
    x_test, y_test = read_cifar_batch(test_file)
    x_train = np.concatenate([x for x, _ in parts])
    y_train = np.concatenate([y for _, y in parts])
    return _checked(folder, x_train, y_train, x_test, y_test)


def _checked(
    where: Path, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> Splits:
    y_train, y_test = np.ravel(y_train), np.ravel(y_test)
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DataError(
            f"{where}: {len(x_train)} training images but {len(y_train)} labels, "
            f"{len(x_test)} test images but {len(y_test)} labels"
        )
    return x_train, y_train.astype(np.int64), x_test, y_test.astype(np.int64)
