"""Where each dataset comes from: local copies first, then Keras's own downloader.

Search order for mnist, fashion_mnist and cifar10: `data.path`, `$TUILAB_DATA`, the Keras
cache (`$KERAS_HOME` or `~/.keras`, folder `datasets`), Debian's dataset packages, then
`keras.datasets.<name>.load_data()` unless `$TUILAB_OFFLINE` is set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuilab.data.checks import check_loaded
from tuilab.data.formats import (
    Loaded,
    Splits,
    find_idx_files,
    read_cifar_folder,
    read_idx_folder,
    read_npz,
)
from tuilab.errors import DataError
from tuilab.scenario.schema import DataConfig, SyntheticData


@dataclass(frozen=True)
class DatasetSpec:
    """Static facts about a dataset, known without loading it.

    Attributes:
        image_shape: One sample's shape with its channel axis.
        classes: Number of classes.
        pixel_max: The largest raw value ("scale" divides by it); None: use the data's range.
        local_names: File or folder names that hold it in a data folder or the Keras cache.
    """

    name: str
    image_shape: tuple[int, ...]
    classes: int
    pixel_max: float | None
    local_names: tuple[str, ...] = ()


SPECS = {
    "mnist": DatasetSpec("mnist", (28, 28, 1), 10, 255.0, ("mnist.npz", "mnist")),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist",
        (28, 28, 1),
        10,
        255.0,
        ("fashion-mnist", "fashion_mnist", "fashion_mnist.npz"),
    ),
    "cifar10": DatasetSpec(
        "cifar10",
        (32, 32, 3),
        10,
        255.0,
        ("cifar-10-batches-py", "cifar10.npz", "cifar10"),
    ),
    "digits": DatasetSpec("digits", (8, 8, 1), 10, 16.0),
    "synthetic": DatasetSpec("synthetic", (8, 8, 1), 10, None),
}
DEBIAN_FOLDERS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}


def spec_for(config: DataConfig) -> DatasetSpec:
    """The dataset's spec; for synthetic data, shaped by `[data.synthetic]`."""
    if config.dataset == "synthetic":
        synthetic = config.synthetic or SyntheticData()
        return DatasetSpec("synthetic", tuple(synthetic.shape), synthetic.classes, None)
    return SPECS[config.dataset]


def keras_cache() -> Path:
    """The folder where Keras keeps downloaded datasets."""
    home = os.environ.get("KERAS_HOME") or str(Path.home() / ".keras")
    return Path(home).expanduser() / "datasets"


def read_local(path: Path) -> Loaded:
    """Read a dataset from a file or folder in any supported format (unchecked)."""
    if path.is_file():
        if path.suffix == ".npz":
            return read_npz(path)
        raise DataError(
            f"{path}: unsupported file; use a Keras .npz, an IDX folder or CIFAR batches"
        )
    if find_idx_files(path):
        return read_idx_folder(path)
    if (path / "data_batch_1").is_file():
        return read_cifar_folder(path)
    if (path / "cifar-10-batches-py").is_dir():
        return read_cifar_folder(path / "cifar-10-batches-py")
    raise DataError(
        f"{path}: no dataset here (expected a .npz, MNIST-style IDX files or CIFAR-10 batches)"
    )


def candidate_paths(spec: DatasetSpec) -> list[Path]:
    """Every place a local copy of `spec` may be, in search order."""
    roots = []
    if os.environ.get("TUILAB_DATA"):
        roots.append(Path(os.environ["TUILAB_DATA"]).expanduser())
    roots.append(keras_cache())
    places = [root / name for root in roots for name in spec.local_names]
    if spec.name in DEBIAN_FOLDERS:
        places.append(DEBIAN_FOLDERS[spec.name])
    return places


def _download(name: str) -> Loaded:
    """Keras's own loader (downloads into the Keras cache on a connected machine)."""
    import keras

    loader = {
        "mnist": keras.datasets.mnist,
        "fashion_mnist": keras.datasets.fashion_mnist,
        "cifar10": keras.datasets.cifar10,
    }[name]
    (x_train, y_train), (x_test, y_test) = loader.load_data()
    splits = (np.asarray(x_train), np.asarray(y_train), np.asarray(x_test), np.asarray(y_test))
    return Loaded.whole(splits, f"keras.datasets.{name}.load_data()")


def load_digits_splits(seed: int = 0) -> Splits:
    """scikit-learn's bundled 8x8 digits, split 80/20 with a fixed permutation."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.images))
    images, labels = digits.images[order].astype(np.float32), digits.target[order]
    cut = int(len(images) * 0.8)
    return images[:cut], labels[:cut], images[cut:], labels[cut:]


def make_synthetic(config: SyntheticData, seed: int) -> Splits:
    """Learnable random data: one random prototype per class plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    prototypes = rng.normal(size=(config.classes, *config.shape)).astype(np.float32)

    def draw(count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.integers(0, config.classes, size=count)
        noise = rng.normal(scale=config.noise, size=(count, *config.shape)).astype(np.float32)
        return prototypes[labels] + noise, labels

    x_train, y_train = draw(config.samples)
    x_test, y_test = draw(config.test_samples)
    return x_train, y_train, x_test, y_test


def load_splits(config: DataConfig, seed: int, *, download: bool = True) -> Splits:
    """Raw (x_train, y_train, x_test, y_test) for a `[data]` table, checked against its spec.

    Labels come back as int64 vectors; images with the dtype and shape they were stored with.
    `download=False`: local copies only (the app's previews never start a download).

    Raises:
        DataError: a file that cannot be read or does not hold this dataset (wrong shapes or
            dtypes, labels outside the classes, non-finite pixels); or no copy found, saying
            where it looked and how to provide the files.
    """
    spec = spec_for(config)
    return check_loaded(_find(config, spec, seed, download), spec)


def _find(config: DataConfig, spec: DatasetSpec, seed: int, download: bool = True) -> Loaded:
    if config.dataset == "digits":
        return Loaded.whole(load_digits_splits(), "digits")
    if config.dataset == "synthetic":
        return Loaded.whole(make_synthetic(config.synthetic or SyntheticData(), seed), "synthetic")
    if config.path:
        path = Path(config.path).expanduser()
        if not path.exists():
            raise DataError(f"data.path: {path} does not exist")
        return read_local(path)
    places = candidate_paths(spec)
    for place in places:
        if place.exists():
            return read_local(place)
    if not download:
        reason = "only local copies are looked for here (tuilab data downloads it)"
    elif not os.environ.get("TUILAB_OFFLINE"):
        try:
            return _download(spec.name)
        except Exception as exc:
            reason = f"downloading with keras.datasets.{spec.name}.load_data() failed: {exc}"
    else:
        reason = "TUILAB_OFFLINE is set, so no download was tried"
    looked = "\n  ".join(str(p) for p in places)
    raise DataError(
        f"dataset {spec.name!r} not found; looked in:\n  {looked}\n{reason}.\n"
        f"Fix: set data.path to a Keras .npz, an IDX folder or CIFAR-10 batches, "
        f"or put the files in $TUILAB_DATA or {keras_cache()}"
    )
