"""Shared fixtures: isolated data/run folders and small dataset files in the real formats."""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
FASHION_DEBIAN = Path("/usr/share/datasets/fashion-mnist")
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def isolated(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No downloads, an empty Keras cache and no $TUILAB_DATA unless a test sets them."""
    monkeypatch.setenv("TUILAB_OFFLINE", "1")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    monkeypatch.delenv("TUILAB_DATA", raising=False)
    monkeypatch.delenv("TUILAB_RUNS", raising=False)


@pytest.fixture
def write_scenario(tmp_path: Path):
    """Write TOML text (dedented) to a file and return its path."""

    def write(text: str, name: str = "scenario.toml") -> Path:
        path = tmp_path / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> Path:
    """Write `array` (uint8) as an IDX file, the MNIST format."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as stream:
            stream.write(data)
    else:
        path.write_bytes(data)
    return path


def images(count: int, shape: tuple[int, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images whose mean brightness encodes their label (learnable)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=count)
    base = rng.integers(0, 40, size=(count, *shape))
    pictures = np.clip(base + labels.reshape(-1, *[1] * len(shape)) * 20, 0, 255)
    return pictures.astype(np.uint8), labels.astype(np.uint8)


def make_idx_folder(folder: Path, train: int = 60, test: int = 20, gz: bool = True) -> Path:
    """An MNIST-style folder of four IDX files with 28x28 images."""
    folder.mkdir(parents=True, exist_ok=True)
    x_train, y_train = images(train, (28, 28), 1)
    x_test, y_test = images(test, (28, 28), 2)
    write_idx(folder / "train-images-idx3-ubyte", x_train, gz)
    write_idx(folder / "train-labels-idx1-ubyte", y_train, gz)
    write_idx(folder / "t10k-images-idx3-ubyte", x_test, gz)
    write_idx(folder / "t10k-labels-idx1-ubyte", y_test, gz)
    return folder


def make_npz(path: Path, train: int = 60, test: int = 20) -> Path:
    """A Keras-style mnist.npz."""
    x_train, y_train = images(train, (28, 28), 3)
    x_test, y_test = images(test, (28, 28), 4)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def make_cifar_folder(folder: Path, per_batch: int = 10) -> Path:
    """`cifar-10-batches-py` with five training batches and a test batch, pickled as CIFAR is."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, name in enumerate([*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]):
        pictures, labels = images(per_batch, (3, 32, 32), 10 + index)
        batch = {
            b"data": pictures.reshape(per_batch, 3072),
            b"labels": labels.tolist(),
            b"batch_label": name.encode(),
        }
        with open(folder / name, "wb") as stream:
            pickle.dump(batch, stream, protocol=2)
    return folder


def toml_string(text: str) -> str:
    """A TOML basic string holding `text` exactly: quotes, backslashes, control and non-ASCII
    characters escaped (so any text a test generates round-trips through the TOML reader)."""
    out = []
    for char in text:
        if char in '\\"' or not (" " <= char <= "~"):
            out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


@cache
def torch_path() -> str | None:
    """A PYTHONPATH entry under which `import torch` works ("" when it needs none), or None.

    torch is not in the dev extras (a 200 MB wheel); set `$TUILAB_TORCH_PATH` to a folder
    holding it (e.g. a CPU wheel unpacked with `pip install --target`) to run the torch cases.
    """
    for extra in ("", os.environ.get("TUILAB_TORCH_PATH", "")):
        if extra == "" and importlib.util.find_spec("torch") is None:
            continue
        if extra and not Path(extra).is_dir():
            continue
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (extra, str(ROOT)) if p)}
        probe = [sys.executable, "-c", "import torch"]
        if subprocess.run(probe, env=env, capture_output=True, timeout=120).returncode == 0:
            return extra
    return None


@pytest.fixture(scope="session")
def run_zoo(tmp_path_factory: pytest.TempPathFactory):
    """Every kind of run tuilab makes or reads, made once per session by running tuilab
    (tests/zoo.py). `TUILAB_TEST_ZOO=/tmp/zoo` reuses one built by `python tests/zoo.py`."""
    import json

    from zoo import Zoo, build_zoo

    given = os.environ.get("TUILAB_TEST_ZOO")
    if given:
        zoo = Zoo(Path(given))
        zoo.runs = {k: Path(v) for k, v in json.loads((zoo.root / "zoo.json").read_text()).items()}
        return zoo
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUILAB_OFFLINE", "1")
        patch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("zoo_keras_home")))
        return build_zoo(tmp_path_factory.mktemp("zoo"))


def training_app(folder: Path, scenario_text: str):
    """The app training `scenario_text` (written to `folder`/long.toml) on a dashboard, its
    runs stored under `folder`/runs: for the tests of keys that act while a run trains."""
    from tuilab.app.app import create_app
    from tuilab.runtime.session import RunRequest

    scenario = folder / "long.toml"
    scenario.write_text(scenario_text, encoding="utf-8")
    runs = folder / "runs"
    return create_app(folder, runs, run=RunRequest(scenario, runs_dir=runs))
