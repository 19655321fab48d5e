"""Dataset loaders on small files in the real formats, and train-only preprocessing."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from conftest import FASHION_DEBIAN, make_cifar_folder, make_idx_folder, make_npz

from tuilab.data import load_data
from tuilab.data.formats import read_cifar_batch, read_idx, read_npz
from tuilab.data.preprocess import prepare
from tuilab.data.sources import SPECS, load_splits
from tuilab.errors import DataError
from tuilab.scenario.schema import DataConfig


def config(**values) -> DataConfig:
    return DataConfig(**values)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder_gzipped_or_raw(tmp_path, gz):
    folder = make_idx_folder(tmp_path / "mnist", train=50, test=20, gz=gz)
    x_train, y_train, x_test, y_test = load_splits(config(dataset="mnist", path=str(folder)), 0)
    assert x_train.shape == (50, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (50,) and x_test.shape == (20, 28, 28) and y_test.shape == (20,)
    assert y_train.max() <= 9


def test_keras_npz(tmp_path):
    path = make_npz(tmp_path / "mnist.npz", train=40, test=10)
    x_train, y_train, x_test, _ = load_splits(config(dataset="mnist", path=str(path)), 0)
    assert x_train.shape == (40, 28, 28) and x_test.shape == (10, 28, 28)
    assert np.array_equal(np.load(path)["y_train"], y_train)


def test_cifar_batches(tmp_path):
    folder = make_cifar_folder(tmp_path / "cifar-10-batches-py", per_batch=8)
    x_train, y_train, x_test, y_test = load_splits(config(dataset="cifar10", path=str(folder)), 0)
    assert x_train.shape == (40, 32, 32, 3) and x_test.shape == (8, 32, 32, 3)
    # channels-last conversion keeps pixel (0, 0) of each channel in place
    with open(folder / "test_batch", "rb") as stream:
        raw = pickle.load(stream, encoding="bytes")[b"data"].reshape(-1, 3, 32, 32)
    assert np.array_equal(x_test[:, 0, 0, :], raw[:, :, 0, 0])
    assert len(y_train) == 40 and len(y_test) == 8


def test_cifar_loader_refuses_code_in_pickles(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DataError, match=r"builtins\.print is not allowed"):
        read_cifar_batch(path)


def test_keras_cache_and_tuilab_data_are_searched(tmp_path, monkeypatch):
    cache = tmp_path / "keras"
    make_idx_folder(cache / "datasets" / "fashion-mnist", train=30, test=10)
    monkeypatch.setenv("KERAS_HOME", str(cache))
    monkeypatch.setattr("tuilab.data.sources.DEBIAN_FOLDERS", {})
    x_train, *_ = load_splits(config(dataset="fashion_mnist"), 0)
    assert len(x_train) == 30
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    make_npz(data_dir / "mnist.npz", train=25, test=5)
    monkeypatch.setenv("TUILAB_DATA", str(data_dir))
    assert len(load_splits(config(dataset="mnist"), 0)[0]) == 25


def test_missing_dataset_says_where_it_looked(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty"))
    with pytest.raises(DataError) as caught:
        load_splits(config(dataset="cifar10"), 0)
    message = str(caught.value)
    assert "dataset 'cifar10' not found; looked in:" in message
    assert str(tmp_path / "empty" / "datasets" / "cifar-10-batches-py") in message
    assert "Fix: set data.path" in message
    with pytest.raises(DataError, match="does not exist"):
        load_splits(config(dataset="mnist", path=str(tmp_path / "nowhere.npz")), 0)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"\x00\x00\x08\x03"
            + (10).to_bytes(4, "big")
            + (28).to_bytes(4, "big") * 2
            + b"\x00" * 5,
            "header promises",
        ),
        (b"PK\x03\x04garbage", "bad magic number"),
    ],
)
def test_corrupt_idx_files(tmp_path, content, message):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read_idx(path)


def test_corrupt_npz_and_cifar(tmp_path):
    bad = tmp_path / "mnist.npz"
    bad.write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        read_npz(bad)
    batch = tmp_path / "data_batch_1"
    batch.write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataError, match="not a CIFAR-10 batch"):
        read_cifar_batch(batch)


def test_digits_is_embedded_and_split_80_20():
    x_train, y_train, x_test, _y_test = load_splits(config(dataset="digits"), 0)
    assert x_train.shape == (1437, 8, 8) and x_test.shape == (360, 8, 8)
    assert x_train.max() == 16 and set(np.unique(y_train)) == set(range(10))


def test_synthetic_is_learnable_and_seeded():
    cfg = config(
        dataset="synthetic",
        synthetic={"shape": [4, 4, 2], "classes": 3, "samples": 300, "test_samples": 50},
    )
    first, again = load_splits(cfg, 5), load_splits(cfg, 5)
    assert first[0].shape == (300, 4, 4, 2) and np.array_equal(first[0], again[0])
    # class means differ far more than the noise inside a class: nearest mean classifies it
    means = np.stack([first[0][first[1] == k].mean(axis=0) for k in range(3)])
    distances = ((first[2][:, None] - means[None]) ** 2).sum(axis=(2, 3, 4))
    assert (distances.argmin(axis=1) == first[3]).mean() > 0.9


SPLITS = (
    np.arange(100 * 4, dtype=np.float32).reshape(100, 2, 2) + 10,
    np.arange(100) % 10,
    np.full((20, 2, 2), 1000.0, dtype=np.float32),
    np.arange(20) % 10,
)


def spec(name="mnist"):
    from dataclasses import replace

    return replace(SPECS[name], image_shape=(2, 2, 1))


def test_validation_rules_follow_keras():
    split = prepare(config(validation_split=0.3), spec(), SPLITS, one_hot=False)
    assert len(split.x_train) == 70 and len(split.x_val) == 30
    assert split.x_val[0, 0, 0, 0] == SPLITS[0][70, 0, 0]  # Keras takes the last fraction
    first = prepare(config(validation_first=10), spec(), SPLITS, one_hot=False)
    assert len(first.x_val) == 10 and first.x_val[0, 0, 0, 0] == SPLITS[0][0, 0, 0]
    test = prepare(config(validation="test"), spec(), SPLITS, one_hot=False)
    assert np.array_equal(test.x_val, test.x_test) and len(test.x_train) == 100
    assert prepare(config(), spec(), SPLITS, one_hot=False).x_val is None


def test_standardize_uses_training_statistics_only():
    data = prepare(
        config(normalize="standardize", validation_split=0.5), spec(), SPLITS, one_hot=False
    )
    train = SPLITS[0][:50]
    assert abs(float(data.x_train.mean())) < 1e-4 and abs(float(data.x_train.std()) - 1) < 1e-4
    expected_val = (SPLITS[0][50:] - train.mean()) / train.std()
    assert np.allclose(data.x_val[..., 0], expected_val, atol=1e-4)
    expected_test = (1000.0 - train.mean()) / train.std()
    assert np.allclose(data.x_test, expected_test, atol=1e-3)


def test_center_scale_and_per_feature_stats():
    centred = prepare(config(normalize="center", validation_split=0.5), spec(), SPLITS, False)
    assert np.isclose(centred.x_train.mean(), 0, atol=1e-3)
    assert np.isclose(centred.x_test[0, 0, 0, 0], 1000.0 - SPLITS[0][:50].mean())
    scaled = prepare(config(normalize="scale"), spec(), SPLITS, one_hot=False)
    assert np.isclose(scaled.x_train.max(), SPLITS[0].max() / 255.0)
    feature = prepare(
        config(normalize="standardize", stats="feature", validation_split=0.5),
        spec(),
        SPLITS,
        one_hot=False,
    )
    assert np.allclose(feature.x_train.mean(axis=0), 0, atol=1e-4)


def test_flatten_limit_and_one_hot():
    data = prepare(config(flatten=True, limit=40), spec(), SPLITS, one_hot=True)
    assert data.x_train.shape == (40, 4) and data.input_shape == (4,)
    assert data.y_train.shape == (40, 10) and np.array_equal(data.y_train.argmax(1), SPLITS[1][:40])
    assert data.x_test.shape == (20, 4)


@pytest.mark.skipif(not FASHION_DEBIAN.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_debian_fashion_mnist_is_found_without_configuration():
    data = load_data(
        config(dataset="fashion_mnist", normalize="scale", flatten=True),
        "sparse_categorical_crossentropy",
        0,
    )
    assert data.x_train.shape == (60000, 784) and data.x_test.shape == (10000, 784)
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
