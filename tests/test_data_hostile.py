"""Hostile and malformed data: every failure is a DataError naming the file and the fault.

Covers `.npz` archives with the wrong shapes, dtypes or keys, labels outside the model's classes
(checked on load, before anything trains or is stored) and non-finite pixels. Malformed IDX
files and CIFAR-10 batches are in test_data.py, beside their readers' other tests.
"""

from __future__ import annotations

import pickle
import re
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FASHION_DEBIAN, images, make_idx_folder, make_npz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from typer.testing import CliRunner

from tuilab.data import load_data
from tuilab.data.formats import read_npz
from tuilab.data.sources import load_splits
from tuilab.errors import DataError
from tuilab.scenario.schema import DataConfig

SPARSE = "sparse_categorical_crossentropy"
HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def valid_arrays(train: int = 30, test: int = 10) -> dict[str, np.ndarray]:
    """x_train, y_train, x_test, y_test of a small valid mnist."""
    x_train, y_train = images(train, (28, 28), 5)
    x_test, y_test = images(test, (28, 28), 6)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def npz(path: Path, **replace: np.ndarray | None) -> Path:
    """An mnist `.npz` with some arrays replaced (None: left out)."""
    arrays = {**valid_arrays(), **replace}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def load(path: Path, dataset: str = "mnist", loss: str = SPARSE, **values) -> object:
    return load_data(DataConfig(dataset=dataset, path=str(path), **values), loss, 0)


def refused(path: Path, dataset: str = "mnist", **values) -> str:
    """The DataError message loading `path` gives (fails the test if it loads)."""
    with pytest.raises(DataError) as caught:
        load(path, dataset, **values)
    return str(caught.value)


def with_label(labels: np.ndarray, index: int, value: float) -> np.ndarray:
    """A copy of `labels` (widened to hold `value`) with `labels[index] = value`."""
    dtype = np.float64 if not float(value).is_integer() else np.int64
    changed = labels.astype(dtype)
    changed[index] = value
    return changed


# --- .npz: shapes, dtypes, keys, counts ---------------------------------------------------


@pytest.mark.parametrize(
    ("key", "array", "shape"),
    [
        ("x_train", np.zeros((30, 27, 27), np.uint8), "(30, 27, 27)"),
        ("x_train", np.zeros((30, 28, 28, 3), np.uint8), "(30, 28, 28, 3)"),
        ("x_train", np.zeros((30, 784), np.uint8), "(30, 784)"),
        ("x_train", np.zeros(30, np.uint8), "(30,)"),
        ("x_test", np.zeros((10, 27, 27), np.uint8), "(10, 27, 27)"),
        ("x_test", np.zeros((10, 28, 28, 1, 1), np.uint8), "(10, 28, 28, 1, 1)"),
    ],
)
def test_npz_images_of_another_shape(tmp_path, key, array, shape):
    path = npz(tmp_path / "mnist.npz", **{key: array})
    message = refused(path)
    assert message == (
        f"{path}: {key} ({'training' if key == 'x_train' else 'test'} images) has shape {shape}; "
        "mnist needs (n, 28, 28) or (n, 28, 28, 1)"
    )


def test_cifar_npz_needs_colour_images(tmp_path):
    path = npz(tmp_path / "cifar10.npz")  # mnist-shaped
    assert refused(path, "cifar10").endswith("has shape (30, 28, 28); cifar10 needs (n, 32, 32, 3)")


@pytest.mark.parametrize(
    ("array", "what"),
    [
        (np.array(["a"] * 30), "strings"),
        (np.array([b"a"] * 30), "bytes"),
        (np.zeros((30, 28, 28), complex), "complex numbers"),
        (np.zeros(30, dtype="datetime64[s]"), "values of dtype datetime64[s]"),
    ],
)
@pytest.mark.parametrize("key", ["x_train", "y_train", "x_test", "y_test"])
def test_npz_arrays_of_non_numbers(tmp_path, key, array, what):
    path = npz(tmp_path / "mnist.npz", **{key: array})
    message = refused(path)
    assert message.startswith(f"{path}: {key} (")
    dtype = "" if what.startswith("values") else f" (dtype {array.dtype})"
    assert message.endswith(f"holds {what}{dtype}; images and labels must be numbers")


@pytest.mark.parametrize("key", ["x_train", "y_train", "x_test", "y_test"])
def test_npz_object_arrays_are_never_unpickled(tmp_path, key):
    marker = tmp_path / "executed"

    class Evil:
        def __reduce__(self):
            return (marker.write_text, ("pwned",))

    path = tmp_path / "mnist.npz"
    np.savez(path, **{**valid_arrays(), key: np.array([Evil()] * 3, dtype=object)})
    message = refused(path)
    assert message == (
        f"{path}: {key} holds Python objects (a pickle); tuilab reads only numeric arrays"
    )
    assert not marker.exists()


@pytest.mark.parametrize("key", ["x_train", "y_train", "x_test", "y_test"])
@pytest.mark.parametrize("value", [np.array(5), np.array(0.5)])
def test_npz_zero_dimensional_arrays(tmp_path, key, value):
    path = npz(tmp_path / "mnist.npz", **{key: value})
    message = refused(path)
    assert message.startswith(f"{path}: {key} (")
    assert message.endswith("is a single value (a 0-d array), not one entry per image")


@pytest.mark.parametrize(
    "missing", [["y_test"], ["x_train"], ["x_train", "y_train", "x_test", "y_test"]]
)
def test_npz_missing_keys(tmp_path, missing):
    path = npz(tmp_path / "mnist.npz", **dict.fromkeys(missing))
    if len(missing) == 4:
        np.savez(path, images=np.zeros(3))
    assert refused(path).startswith(f"{path}: .npz lacks {', '.join(missing)} (it holds ")


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        ({"y_train": np.zeros(20, np.uint8)}, "x_train has 30 images but y_train has 20 labels"),
        ({"y_test": np.zeros(11, np.uint8)}, "x_test has 10 images but y_test has 11 labels"),
        (
            {"x_test": np.zeros((3, 28, 28), np.uint8)},
            "x_test has 3 images but y_test has 10 labels",
        ),
        (
            {"y_train": np.zeros((29, 1), np.uint8)},
            "x_train has 30 images but y_train has 29 labels",
        ),
    ],
)
def test_npz_label_count_differs_from_image_count(tmp_path, replace, expected):
    path = npz(tmp_path / "mnist.npz", **replace)
    assert refused(path) == f"{path}: {expected} (one label per image)"


@pytest.mark.parametrize(
    ("labels", "hint"),
    [
        (np.eye(10, dtype=np.float32)[np.arange(30) % 10], True),
        (np.zeros((30, 2), np.uint8), True),
        (np.zeros((30, 1, 1), np.uint8), False),
    ],
)
def test_npz_labels_that_are_not_one_index_per_image(tmp_path, labels, hint):
    path = npz(tmp_path / "mnist.npz", y_train=labels)
    message = refused(path)
    assert message.startswith(
        f"{path}: y_train (training labels) has shape {labels.shape}; labels need one class "
        "index per image, shape (n,) or (n, 1)"
    )
    assert ("one-hot?" in message) == hint


@pytest.mark.parametrize("key", ["x_train", "y_test"])
def test_npz_empty_arrays(tmp_path, key):
    empty = np.zeros((0, 28, 28), np.uint8) if key.startswith("x") else np.zeros(0, np.uint8)
    path = npz(tmp_path / "mnist.npz", **{key: empty})
    assert refused(path).startswith(f"{path}: {key} (") and refused(path).endswith("is empty")


def test_files_that_are_not_npz_archives(tmp_path):
    single = tmp_path / "single.npz"
    with open(single, "wb") as stream:
        np.save(stream, np.zeros(3))
    assert refused(single) == f"{single}: not a readable .npz file (it is a single .npy array)"
    pickled = tmp_path / "pickled.npz"
    pickled.write_bytes(pickle.dumps({"x_train": [1, 2]}))
    assert refused(pickled).startswith(f"{pickled}: not a readable .npz file (")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(make_npz(tmp_path / "whole.npz").read_bytes()[:-200])
    assert refused(truncated).startswith(f"{truncated}: ")


def test_keras_style_labels_and_channel_axis_still_load(tmp_path):
    arrays = valid_arrays()
    path = npz(
        tmp_path / "mnist.npz",
        x_train=arrays["x_train"][..., None],
        y_train=arrays["y_train"].reshape(-1, 1).astype(np.float32),  # (n, 1) floats, whole
        y_test=arrays["y_test"].astype(np.int32),
    )
    data = load(path, flatten=True)
    assert data.x_train.shape == (30, 784) and data.y_train.dtype == np.int64
    assert np.array_equal(data.y_train, arrays["y_train"])


# --- labels and pixels checked against the model's classes, on load ------------------------


@pytest.mark.parametrize("key", ["y_train", "y_test"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (10, "is outside 0..9 (the data has 10 classes)"),
        (255, "is outside 0..9 (the data has 10 classes)"),
        (-1, "is outside 0..9 (the data has 10 classes)"),
        (1.5, "is not a whole number (labels are class indices 0..9)"),
        (float("nan"), "is not a finite number (labels are class indices 0..9)"),
        (float("inf"), "is not a finite number (labels are class indices 0..9)"),
        (-float("inf"), "is not a finite number (labels are class indices 0..9)"),
    ],
)
def test_bad_labels_name_file_split_index_and_value(tmp_path, key, value, problem):
    labels = valid_arrays()[key]
    path = npz(tmp_path / "mnist.npz", **{key: with_label(labels, 3, value)})
    split = "training" if key == "y_train" else "test"
    shown = int(value) if float(value).is_integer() else value
    assert refused(path) == f"{path}: {key} ({split} labels): label {shown} at index 3 {problem}"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"validation_split": 0.5}, "label 10 at index 3"),
        ({"limit": 10, "validation_first": 2}, "label 10 at index 3"),
        ({"validation": "test"}, "label 10 at index 3"),
    ],
)
def test_label_index_is_the_files_own_order_whatever_the_split(tmp_path, values, message):
    labels = with_label(valid_arrays()["y_train"], 3, 10)
    path = npz(tmp_path / "mnist.npz", y_train=labels)
    assert f"y_train (training labels): {message} is outside 0..9" in refused(path, **values)


def test_labels_are_checked_for_one_hot_losses_too(tmp_path):
    path = npz(tmp_path / "mnist.npz", y_test=with_label(valid_arrays()["y_test"], 0, 12))
    with pytest.raises(DataError, match=r"y_test \(test labels\): label 12 at index 0"):
        load(path, loss="categorical_crossentropy")


@pytest.mark.parametrize("key", ["x_train", "x_test"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf, 1e39])
def test_non_finite_pixels(tmp_path, key, value):
    pictures = valid_arrays()[key].astype(np.float64)
    pictures[4, 10, 11] = value
    path = npz(tmp_path / "mnist.npz", **{key: pictures})
    split = "training" if key == "x_train" else "test"
    assert refused(path) == (
        f"{path}: {key} ({split} images): image 4 has pixel value {value} (pixels must be finite "
        "numbers that fit in float32)"
    )


@st.composite
def labels_with_faults(draw: st.DrawFn) -> tuple[np.ndarray, list[int], list[float]]:
    """Valid int labels for 10 classes, with some positions replaced by bad values."""
    count = draw(st.integers(1, 200))
    labels = np.asarray(draw(st.lists(st.integers(0, 9), min_size=count, max_size=count)))
    bad = st.one_of(
        st.integers(10, 2**40),
        st.integers(-(2**40), -1),
        st.floats(allow_nan=True, allow_infinity=True).filter(
            lambda v: not (v == int(v) and 0 <= v <= 9) if np.isfinite(v) else True
        ),
    )
    positions = sorted(draw(st.sets(st.integers(0, count - 1), max_size=4)))
    values = [draw(bad) for _ in positions]
    return labels, positions, values


@HYPOTHESIS
@given(case=labels_with_faults(), split=st.sampled_from(["y_train", "y_test"]))
def test_property_first_bad_label_is_reported_or_labels_pass(tmp_path, case, split):
    labels, positions, values = case
    floats = any(isinstance(v, float) for v in values)
    faulty = labels.astype(np.float64 if floats else np.int64)
    for position, value in zip(positions, values, strict=True):
        faulty[position] = value
    x = np.zeros((len(labels), 28, 28), np.uint8)
    path = npz(tmp_path / "mnist.npz", **{split.replace("y", "x"): x, split: faulty})
    if not positions:
        data = load(path)
        assert np.array_equal(getattr(data, split), labels)
        return
    message = refused(path)
    first, value = positions[0], values[0]
    # the first bad position, unless an earlier non-whole float is reported first: whole-number
    # faults are checked after non-number ones, each reporting its own first index
    non_whole = [p for p, v in zip(positions, values, strict=True) if not float(v).is_integer()]
    if non_whole:
        first = non_whole[0]
        value = values[positions.index(first)]
    assert re.search(rf"{split} \(\w+ labels\): label \S+ at index {first} ", message), message
    shown = f"{value}" if not float(value).is_integer() else f"{int(value)}"
    assert f"label {shown} at index {first} " in message


@HYPOTHESIS
@given(
    x=hnp.arrays(
        dtype=st.one_of(hnp.integer_dtypes(), hnp.floating_dtypes(), hnp.unsigned_integer_dtypes()),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=30),
    ),
    y=hnp.arrays(
        dtype=st.one_of(hnp.integer_dtypes(), hnp.floating_dtypes(), hnp.boolean_dtypes()),
        shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=30),
    ),
)
def test_property_any_npz_loads_valid_or_raises_data_error(tmp_path, x, y):
    path = npz(tmp_path / "mnist.npz", x_test=x, y_test=y)
    try:
        data = load(path)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: ")
        return
    assert x.shape[1:] in {(28, 28), (28, 28, 1)} and data.x_test.shape[1:] == (28, 28, 1)
    assert np.isfinite(data.x_test).all() and set(np.unique(data.y_test)) <= set(range(10))


# --- splits, cost, and the whole command ----------------------------------------------------


@pytest.mark.parametrize(
    ("split", "limit", "left"),
    [(0.95, 10, "training"), (0.99, 50, "training"), (1e-17, 30, "validation")],
)
def test_a_validation_split_that_leaves_nothing(tmp_path, split, limit, left):
    path = make_npz(tmp_path / "mnist.npz")
    message = refused(path, validation_split=split, limit=limit)
    assert message.startswith(f"data.validation_split: {split} of {limit} images leaves no {left}")


def test_npz_reader_never_allows_pickles(monkeypatch, tmp_path):
    seen = []
    real = np.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("allow_pickle"))
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    read_npz(make_npz(tmp_path / "mnist.npz"))
    assert seen == [False]


@pytest.mark.skipif(not FASHION_DEBIAN.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_checking_60000_fashion_mnist_labels_takes_milliseconds():
    from tuilab.data.checks import check_loaded
    from tuilab.data.formats import read_idx_folder
    from tuilab.data.sources import SPECS

    loaded = read_idx_folder(FASHION_DEBIAN)
    assert len(loaded.arrays["y_train"]) == 60000
    started = time.perf_counter()
    for _ in range(10):
        check_loaded(loaded, SPECS["fashion_mnist"])
    assert (time.perf_counter() - started) / 10 < 0.005  # measured: 0.05 ms
    floats = {**loaded.arrays, "y_train": loaded.arrays["y_train"].astype(np.float64)}
    started = time.perf_counter()
    check_loaded(type(loaded)(floats, loaded.parts), SPECS["fashion_mnist"])
    assert time.perf_counter() - started < 0.05  # measured: 0.6 ms


SCENARIO = """
[scenario]
name = "bad labels"
[data]
dataset = "mnist"
path = "{path}"
normalize = "scale"
flatten = true
{extra}
[model]
layers = [{{ type = "Dense", units = 10, activation = "softmax" }}]
[compile]
optimizer = "adam"
loss = "{loss}"
metrics = ["accuracy"]
[fit]
epochs = 1
batch_size = 10
[variants.a]
[variants.b]
compile.optimizer = "sgd"
"""


@pytest.mark.parametrize(
    ("key", "loss", "extra", "expected"),
    [
        ("y_test", SPARSE, "", "y_test (test labels): label 10 at index 3 is outside 0..9"),
        ("y_train", SPARSE, "validation_split = 0.2", "y_train (training labels): label 10 at"),
        ("y_train", "categorical_crossentropy", "", "y_train (training labels): label 10 at"),
    ],
)
def test_run_with_a_bad_label_exits_2_and_stores_nothing(
    write_scenario, tmp_path, key, loss, extra, expected
):
    from tuilab.cli import app

    path = npz(tmp_path / "mnist.npz", **{key: with_label(valid_arrays()[key], 3, 10)})
    scenario = write_scenario(SCENARIO.format(path=path, extra=extra, loss=loss))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(app, ["run", str(scenario), "--headless", "--runs-dir", str(runs)])
    assert result.exit_code == 2, result.output
    assert f"{path}: {expected}" in result.output
    assert "Traceback" not in result.output and "InvalidArgument" not in result.output
    assert not runs.exists()


def test_load_splits_still_returns_int64_labels(tmp_path):
    folder = make_idx_folder(tmp_path / "mnist")
    _, y_train, _, y_test = load_splits(DataConfig(dataset="mnist", path=str(folder)), 0)
    assert y_train.dtype == y_test.dtype == np.int64
