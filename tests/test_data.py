"""Dataset loaders on small files in the real formats, and train-only preprocessing."""

from __future__ import annotations

import gzip
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import FASHION_DEBIAN, images, make_cifar_folder, make_idx_folder, make_npz, write_idx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tuilab.data import load_data
from tuilab.data.formats import read_cifar_batch, read_idx, read_npz
from tuilab.data.preprocess import prepare
from tuilab.data.sources import SPECS, load_splits
from tuilab.errors import DataError
from tuilab.scenario.schema import DataConfig

HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def config(**values) -> DataConfig:
    return DataConfig(**values)


def refused(path: Path, dataset: str = "mnist") -> str:
    """The DataError message loading `path` as `dataset` gives (fails the test if it loads)."""
    with pytest.raises(DataError) as caught:
        load_splits(config(dataset=dataset, path=str(path)), 0)
    return str(caught.value)


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


# --- IDX ------------------------------------------------------------------------------------


def idx_header(dtype: int, shape: tuple[int, ...]) -> bytes:
    return bytes([0, 0, dtype, len(shape)]) + b"".join(d.to_bytes(4, "big") for d in shape)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (idx_header(8, (10, 28, 28)) + bytes(10 * 28 * 28 + 1), "header promises 7,840"),
        (idx_header(8, (10, 28, 28)) + bytes(100), "IDX data is 100 bytes, header promises"),
        (idx_header(8, (2**32 - 1,) * 3) + bytes(8), "for shape (4294967295, 4294967295"),
        (idx_header(8, (2**32 - 1,) * 255)[:300], "truncated header"),
        (idx_header(0x0D, (3, 2)) + bytes(6), "header promises 24 for shape (3, 2)"),
        (bytes([0, 0, 8, 0]), "truncated header"),
        (bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]), "bad magic number"),
        (b"", "bad magic number"),
    ],
    ids=["extra-byte", "short", "huge-dims", "255-dims", "float", "0-dims", "bad-type", "empty"],
)
def test_idx_header_and_size_must_agree(tmp_path, content, message):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError, match=re.escape(message)) as caught:
        read_idx(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_truncated_gzip_idx(tmp_path):
    path = write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((3, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="cannot be read as IDX"):
        read_idx(path)


@pytest.mark.parametrize(
    ("file", "array", "expected"),
    [
        (
            "train-images-idx3-ubyte",
            np.zeros(60, np.uint8),
            "train-images-idx3-ubyte.gz (training images) has shape (60,); mnist needs",
        ),
        (
            "t10k-images-idx3-ubyte",
            np.zeros((20, 28, 27), np.uint8),
            "t10k-images-idx3-ubyte.gz (test images) has shape (20, 28, 27)",
        ),
        (
            "train-labels-idx1-ubyte",
            np.zeros((60, 28, 28), np.uint8),
            "train-labels-idx1-ubyte.gz (training labels) has shape (60, 28, 28); labels need",
        ),
        (
            "t10k-labels-idx1-ubyte",
            np.array([1, 2, 3, 11] + [0] * 16, np.uint8),
            "t10k-labels-idx1-ubyte.gz (test labels): label 11 at index 3 is outside 0..9",
        ),
        (
            "train-labels-idx1-ubyte",
            np.zeros(59, np.uint8),
            "train-images-idx3-ubyte.gz (training images) has 60 images but ",
        ),
    ],
)
def test_idx_folder_with_a_wrong_file(tmp_path, file, array, expected):
    folder = make_idx_folder(tmp_path / "mnist", train=60, test=20)
    write_idx(folder / file, array)
    assert f"{folder}/{expected}" in refused(folder)


def test_idx_float_images_with_nan(tmp_path):
    folder = make_idx_folder(tmp_path / "mnist", train=60, test=20, gz=False)
    pictures = np.zeros((20, 28, 28), ">f4")
    pictures[7, 0, 0] = np.nan
    (folder / "t10k-images-idx3-ubyte").write_bytes(
        idx_header(0x0D, (20, 28, 28)) + pictures.tobytes()
    )
    assert refused(folder) == (
        f"{folder}/t10k-images-idx3-ubyte (test images): image 7 has pixel value nan "
        "(pixels must be finite numbers that fit in float32)"
    )


@HYPOTHESIS
@given(
    content=st.one_of(
        st.binary(max_size=64),
        st.builds(
            lambda dims, body: (
                bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims) + body
            ),
            st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 6), max_size=5),
            st.binary(max_size=64),
        ),
    ),
    stored=st.sampled_from(["raw", "gzip", "not-gzip"]),
)
@example(  # no data, dimensions past what numpy can index: reshape raised ValueError
    content=bytes([0, 0, 8, 4]) + b"\x00\x00\x00\x00" + b"\x00\x20\x00\x00" * 3, stored="raw"
)
def test_property_read_idx_never_raises_anything_but_data_error(tmp_path, content, stored):
    path = tmp_path / ("x-idx3-ubyte" if stored == "raw" else "x-idx3-ubyte.gz")
    path.write_bytes(gzip.compress(content) if stored == "gzip" else content)
    try:
        array = read_idx(path)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: ")
    else:
        assert stored != "not-gzip" or content[:2] == b"\x1f\x8b"
        assert array.ndim == content[3] and array.size == len(content) - 4 - 4 * content[3]


# --- CIFAR-10 batches -----------------------------------------------------------------------


def write_batch(path: Path, data: object, labels: object) -> None:
    with open(path, "wb") as stream:
        pickle.dump({b"data": data, b"labels": labels}, stream, protocol=2)


@pytest.mark.parametrize(
    ("data", "labels", "expected"),
    [
        (np.zeros((10, 3, 32, 32), np.uint8), [0] * 10, "got data (10, 3, 32, 32)"),
        (np.zeros((10, 3071), np.uint8), [0] * 10, "got data (10, 3071)"),
        (np.zeros((10, 3072), np.uint8), [0] * 9, "and labels (9,)"),
        (np.zeros((10, 3072), np.uint8), 5, "and labels ()"),
        (np.zeros((10, 3072), np.uint8), [[0, 1]] * 10, "and labels (10, 2)"),
        ([["a"] * 3072] * 10, [0] * 10, "must be numbers, got dtypes <U1"),
        (b"\x00" * 30720, [0] * 10, "must be numbers, got dtypes |S30720"),
        (np.zeros((10, 3072), np.uint8), {"a": 1}, "must be numbers"),
        ([[0] * 3072, [0] * 5], [0, 0], "not a CIFAR-10 batch (data or labels: "),
    ],
)
def test_cifar_batches_of_the_wrong_shape_or_type(tmp_path, data, labels, expected):
    folder = make_cifar_folder(tmp_path / "cifar-10-batches-py", per_batch=10)
    write_batch(folder / "test_batch", data, labels)
    message = refused(folder, "cifar10")
    assert message.startswith(f"{folder / 'test_batch'}: ") and expected in message


def test_cifar_label_names_its_batch_and_index_in_it(tmp_path):
    folder = make_cifar_folder(tmp_path / "cifar-10-batches-py", per_batch=10)
    pictures, labels = images(10, (3072,), 7)
    labels = labels.astype(np.int64)
    labels[6] = 10
    write_batch(folder / "data_batch_3", pictures, labels.tolist())
    assert refused(folder, "cifar10") == (
        f"{folder / 'data_batch_3'} (training labels): label 10 at index 6 is outside 0..9 "
        "(the data has 10 classes)"
    )


def test_cifar_float_pixels_name_their_batch(tmp_path):
    folder = make_cifar_folder(tmp_path / "cifar-10-batches-py", per_batch=10)
    data = np.zeros((10, 3072), np.float32)
    data[2, 5] = np.inf
    write_batch(folder / "data_batch_2", data, [0] * 10)
    assert refused(folder, "cifar10").startswith(
        f"{folder / 'data_batch_2'} (training images): image 2 has pixel value inf"
    )


def test_cifar_folder_read_as_mnist(tmp_path):
    folder = make_cifar_folder(tmp_path / "cifar-10-batches-py", per_batch=10)
    assert refused(folder, "mnist") == (
        f"{folder / 'data_batch_1'} (training images) has shape (10, 32, 32, 3); mnist needs "
        "(n, 28, 28) or (n, 28, 28, 1)"
    )


@HYPOTHESIS
@given(content=st.binary(max_size=200))
@example(content=b"\x95\x00\x00\x00\x00\x00\x00\x00\x80")  # a frame past 2**63 bytes
def test_property_cifar_batch_never_raises_anything_but_data_error(tmp_path, content):
    path = tmp_path / "data_batch_1"
    path.write_bytes(b"\x80\x02" + content)
    try:
        read_cifar_batch(path)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: ")


@HYPOTHESIS
@given(
    value=st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.binary(), inner),
        max_leaves=8,
    ),
    labels=st.none() | st.integers() | st.lists(st.integers(), max_size=3) | st.text(),
)
def test_property_cifar_batch_with_any_plain_values(tmp_path, value, labels):
    path = tmp_path / "data_batch_1"
    write_batch(path, value, labels)
    try:
        data, read = read_cifar_batch(path)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: ")
    else:
        assert data.shape[1:] == (32, 32, 3) and len(read) == len(data)
