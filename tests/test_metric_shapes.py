"""What `validate` accepts, `run` trains, and what Keras trained, tuilab records.

- Metrics whose result is an array (F1Score and FBetaScore per class, Precision with a list
  of thresholds) are recorded as their mean plus one value per element, on the scenario path,
  the script path (`TuilabCallback`) and in the test metrics; scalars stay bit-identical.
- A metric Keras cannot build, or cannot update on the labels the loss gives it, is refused
  by `validate`; every other one trains.
- A layer name is refused by `validate` exactly when Keras on the running backend cannot
  train a model with it (hypothesis draws the names from printable text), with a message that
  says which characters a name may hold.
"""

from __future__ import annotations

import csv
import json
import math
import struct
import textwrap
from pathlib import Path

import numpy as np
import pytest
from conftest import toml_string
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from tuilab.errors import ScenarioError
from tuilab.model.values import looks_like_path
from tuilab.runtime.control import RunControl
from tuilab.runtime.events import (
    EpochEnded,
    Event,
    VariantFinished,
    metric_values,
)
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.session import RunRequest, execute, prepare_run
from tuilab.runtime.validation import check_scenario
from tuilab.scenario import load_scenario

CLASSES = 10
SCENARIO = """
[scenario]
name = "shapes"
seed = 2
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
limit = LIMIT
[model]
layers = [
  { type = "Dense", units = 16, activation = "relu"NAME },
  { type = "Dense", units = 10, activation = "softmax" },
]
[compile]
loss = "LOSS"
metrics = METRICS
[fit]
epochs = EPOCHS
batch_size = 32
[run]
save_model = false
"""
F1_METRICS = (
    '["accuracy", { type = "F1Score" }, { type = "Precision", thresholds = [0.3, 0.5, 0.7] }]'
)


def scenario_text(
    metrics: str = '["accuracy"]',
    loss: str = "sparse_categorical_crossentropy",
    name: str | None = None,
    epochs: int = 2,
    limit: int = 1797,
) -> str:
    named = "" if name is None else f", name = {toml_string(name)}"
    return (
        SCENARIO.replace("METRICS", metrics)
        .replace("LOSS", loss)
        .replace("NAME", named)
        .replace("EPOCHS", str(epochs))
        .replace("LIMIT", str(limit))
    )


def write(folder: Path, text: str, name: str = "scenario.toml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def validate(path: Path) -> str | None:
    """`tuilab validate`'s verdict: None when valid, else its message."""
    try:
        check_scenario(load_scenario(path))
    except ScenarioError as exc:
        return str(exc)
    return None


def train(path: Path, runs: Path) -> tuple[RunFolder, list[Event], str]:
    """`tuilab run` as both front ends run it: validated, stored, TensorBoard written."""
    events: list[Event] = []
    runner, store = prepare_run(RunRequest(path, runs_dir=runs), RunControl())
    outcome = execute(runner, store, events.append)
    return RunFolder(store.folder), events, outcome.status


def history(run: RunFolder, trial: str) -> list[dict[str, str]]:
    with open(run.history_csv(trial), newline="") as stream:
        return list(csv.DictReader(stream))


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


# -- the one function that turns logs into event values ------------------------------------
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(width=32).map(np.float32),
        st.floats().map(np.float64),
        st.floats(width=32).map(lambda v: np.asarray(v, dtype=np.float32)),
        st.integers(-(2**40), 2**40),
    )
)
def test_a_scalar_stays_exactly_what_float_made_of_it(value):
    values = metric_values({"loss": value, "learning_rate": 0.5}, leave_out=("learning_rate",))
    assert list(values) == ["loss"]
    assert bits(values["loss"]) == bits(float(value))


@given(arrays(np.float32, array_shapes(min_dims=1, max_dims=2, max_side=5)))
def test_an_array_result_is_its_mean_and_one_value_per_element(array):
    values = metric_values({"val_f1_score": array, "val_loss": 0.25})
    assert values["val_loss"] == 0.25
    expected = {
        "val_f1_score" + "".join(f"_{i}" for i in index): float(array[index])
        for index in np.ndindex(array.shape)
    }
    for key, value in expected.items():
        assert key.replace("_", "").isalnum()  # a plain identifier: CSV and TensorBoard take it
        assert bits(values[key]) == bits(value) or (math.isnan(value) and math.isnan(values[key]))
    assert set(values) == {"val_f1_score", "val_loss", *expected}
    mean = float(np.mean(array.astype(np.float64)))
    assert values["val_f1_score"] == pytest.approx(mean, nan_ok=True)


def test_a_key_keras_logged_wins_and_what_is_no_number_is_left_out():
    logs = {"precision": np.array([0.1, 0.2]), "precision_1": 0.9, "note": "text", "gone": None}
    values = metric_values(logs)
    assert values == {"precision": pytest.approx(0.15), "precision_0": 0.1, "precision_1": 0.9}
    assert metric_values({"f1_score": [0.5, 1.0]}) == {
        "f1_score": 0.75,
        "f1_score_0": 0.5,
        "f1_score_1": 1.0,
    }
    assert metric_values(None) == {} and metric_values({"empty": np.array([])}) == {}


# -- the scenario path -----------------------------------------------------------------------
def test_the_reporter_records_keras_history_per_class_and_scalars_unchanged(tmp_path):
    """Keras's History holds the F1Score and Precision arrays; the events hold each element,
    and every scalar exactly as History has it."""
    from tuilab.data import load_data
    from tuilab.data.pipeline import make_dataset
    from tuilab.model.builder import build_model
    from tuilab.model.compile import check_metrics
    from tuilab.runtime.reporter import make_reporter

    text = scenario_text(F1_METRICS, "categorical_crossentropy", epochs=2)
    config = load_scenario(write(tmp_path, text)).variants["default"]
    data = load_data(config.data, config.compile.loss, 0)
    model = build_model(config, data.input_shape, data.classes)
    model.compile("adam", config.compile.loss, metrics=check_metrics(config.compile.metrics))
    events: list[Event] = []
    reporter = make_reporter(
        trial="t", sink=events.append, control=RunControl(), steps=36, batch_size=32
    )
    history = model.fit(
        make_dataset(data.x_train, data.y_train, 32, shuffle=True, seed=1),
        validation_data=(data.x_val, data.y_val),
        epochs=2,
        callbacks=[reporter],
        verbose=0,
        shuffle=False,
    )
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert len(epochs) == 2
    for name, values in history.history.items():
        for epoch, value in zip(epochs, values, strict=True):
            array = np.asarray(value)
            if array.ndim == 0:
                assert bits(epoch.logs[name]) == bits(float(value)), name
                continue
            assert epoch.logs[name] == pytest.approx(float(np.mean(array.astype(np.float64))))
            for index, element in enumerate(array):
                assert bits(epoch.logs[f"{name}_{index}"]) == bits(float(element))
    assert {f"val_f1_score_{i}" for i in range(CLASSES)} <= set(epochs[0].logs)
    assert {"precision_0", "precision_1", "precision_2"} <= set(epochs[0].logs)
    assert "precision_3" not in epochs[0].logs


def test_a_scenario_with_f1score_validates_trains_and_records_every_class(tmp_path):
    path = write(tmp_path, scenario_text(F1_METRICS, "categorical_crossentropy"))
    assert validate(path) is None
    run, events, status = train(path, tmp_path / "runs")
    assert status == "finished", [getattr(e, "reason", "") for e in events]
    per_class = [f"f1_score_{i}" for i in range(CLASSES)]
    epochs = [e for e in events if isinstance(e, EpochEnded)]
    assert [e.epoch for e in epochs] == [1, 2]
    for event in epochs:
        assert {"f1_score", *per_class, "val_f1_score", *(f"val_{k}" for k in per_class)} <= set(
            event.logs
        )
        mean = np.mean([event.logs[k] for k in per_class])
        assert event.logs["f1_score"] == pytest.approx(mean, rel=1e-5)
    finished = [e for e in events if isinstance(e, VariantFinished)][-1]
    assert {"f1_score", *per_class, "precision_2", "accuracy", "loss"} <= set(finished.test)
    rows = history(run, "default")
    assert len(rows) == 2 and {"f1_score", *per_class, "val_f1_score_9"} <= set(rows[0])
    assert float(rows[1]["f1_score_3"]) == epochs[1].logs["f1_score_3"]
    results = json.loads((run.path / "results.json").read_text())
    trial = results["trials"]["default"]
    assert trial["status"] == "finished" and "f1_score_9" in trial["test"]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    boards = list((run.path).rglob("tensorboard"))
    tags = set()
    for folder in boards:
        for sub in [p for p in folder.rglob("*") if p.is_dir()] + [folder]:
            accumulator = EventAccumulator(str(sub), size_guidance={"tensors": 0}).Reload()
            tags |= set(accumulator.Tags().get("tensors", []))
    assert {"epoch_f1_score", "epoch_f1_score_0", "epoch_precision_2"} <= tags, sorted(tags)


# -- validate: a metric Keras cannot build or update is refused; what it accepts trains ------
METRIC_CASES = [
    ('[{ type = "F1Score" }]', "sparse_categorical_crossentropy"),  # the scenario
    ('[{ type = "F1Score" }]', "categorical_crossentropy"),
    ('["f1_score"]', "sparse_categorical_crossentropy"),
    ('[{ type = "FBetaScore", beta = 2.0, average = "macro" }]', "categorical_crossentropy"),
    ('[{ type = "FBetaScore", beta = 2 }]', "categorical_crossentropy"),  # Keras wants a float
    ('[{ type = "Precision", thresholds = [0.3, 0.5] }]', "sparse_categorical_crossentropy"),
    ('[{ type = "Precision", thresholds = [0.3, 0.5] }]', "categorical_crossentropy"),
    ('[{ type = "Precision", thresholds = [1.5] }]', "categorical_crossentropy"),
    ('[{ type = "F1Score", average = "sideways" }]', "categorical_crossentropy"),
    ('["auc"]', "sparse_categorical_crossentropy"),
    ('[{ type = "SparseTopKCategoricalAccuracy", k = 3 }]', "sparse_categorical_crossentropy"),
]


def keras_trains_metric(metrics: str, loss: str) -> bool:
    """The ground truth: plain Keras fits a model like tuilab's with these metrics."""
    import tomllib

    from tuilab.backend import import_keras

    keras = import_keras()
    specs = tomllib.loads(f"m = {metrics}")["m"]
    try:
        built = [
            spec if isinstance(spec, str) else getattr(keras.metrics, spec.pop("type"))(**spec)
            for spec in specs
        ]
    except (TypeError, ValueError):
        return False
    rng = np.random.default_rng(0)
    x = rng.random((64, 64), dtype=np.float32)
    labels = rng.integers(0, CLASSES, 64)
    y = np.eye(CLASSES, dtype=np.float32)[labels] if loss == "categorical_crossentropy" else labels
    model = keras.Sequential(
        [
            keras.Input((64,), name="input"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ],
        name="model",
    )
    model.compile("adam", loss, metrics=built)
    try:
        model.fit(x, y, validation_data=(x[:16], y[:16]), epochs=1, batch_size=32, verbose=0)
        model.evaluate(x, y, verbose=0)
    except Exception:
        return False
    return True


@pytest.mark.parametrize(("metrics", "loss"), METRIC_CASES)
def test_validate_refuses_exactly_the_metrics_keras_cannot_train(tmp_path, metrics, loss):
    verdict = validate(write(tmp_path, scenario_text(metrics, loss)))
    assert (verdict is None) == keras_trains_metric(metrics, loss), verdict
    if verdict is not None:
        assert "compile.metrics[0]" in verdict
    if metrics == '[{ type = "F1Score" }]' and loss.startswith("sparse"):
        assert "FBetaScore expects 2D inputs" in verdict
        assert 'compile.loss = "categorical_crossentropy"' in verdict  # what would work


def test_a_metric_table_is_checked_as_every_keras_class(tmp_path):
    for metrics, words in [
        ('[{ type = "Mean" }]', "not allowed in a scenario"),
        ('[{ type = "MeanMetricWrapper" }]', "not allowed in a scenario"),
        ('[{ type = "F1Scor" }]', "did you mean 'F1Score'"),
        ('[{ type = "F1Score", averge = "macro" }]', "has no argument 'averge'"),
        ('[{ average = "macro" }]', "needs a `type`"),
    ]:
        verdict = validate(write(tmp_path, scenario_text(metrics, "categorical_crossentropy")))
        assert verdict is not None and words in verdict, (metrics, verdict)


def test_a_callback_cannot_monitor_a_metric_whose_result_is_an_array(tmp_path):
    """Keras's EarlyStopping fails at the first epoch's end on `val_f1_score` per class; with
    `average = "macro"` the score is one number, and the run trains."""
    from tuilab.backend import import_keras

    keras = import_keras()
    x = np.random.default_rng(0).random((64, 64), dtype=np.float32)
    y = np.eye(CLASSES, dtype=np.float32)[np.arange(64) % CLASSES]
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(CLASSES, "softmax")])
    model.compile("adam", "categorical_crossentropy", metrics=[keras.metrics.F1Score()])
    stopper = keras.callbacks.EarlyStopping(monitor="val_f1_score", mode="max")
    with pytest.raises(ValueError, match="ambiguous"):  # what validate spares the user
        model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0, callbacks=[stopper])
    callback = '[[callbacks]]\ntype = "EarlyStopping"\nmonitor = "val_f1_score"\nmode = "max"\n'
    loss = "categorical_crossentropy"
    per_class = scenario_text('[{ type = "F1Score" }]', loss) + callback
    verdict = validate(write(tmp_path, per_class))
    assert verdict is not None and "callbacks[0].monitor" in verdict, verdict
    assert 'average = "macro"' in verdict
    macro = scenario_text('[{ type = "F1Score", average = "macro" }]', loss, epochs=2) + callback
    path = write(tmp_path, macro, "macro.toml")
    assert validate(path) is None
    run, _, status = train(path, tmp_path / "runs")
    assert status == "finished" and "val_f1_score_0" not in history(run, "default")[0]


# -- validate: a layer name Keras cannot train with is refused --------------------------------
def keras_trains_name(name: str, output: str) -> bool:
    """The ground truth: plain Keras on the running backend fits, evaluates and predicts a
    Sequential model shaped as tuilab builds it, with its hidden layer called `name` (and the
    output layer `output`, the name tuilab gives it)."""
    from tuilab.backend import import_keras

    keras = import_keras()
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 64), dtype=np.float32), rng.integers(0, CLASSES, 32)
    try:
        model = keras.Sequential(
            [
                keras.Input((64,), name="input"),
                keras.layers.Dense(16, activation="relu", name=name),
                keras.layers.Dense(CLASSES, activation="softmax", name=output),
            ],
            name="model",
        )
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, validation_data=(x, y), epochs=1, batch_size=16, verbose=0)
        model.evaluate(x, y, verbose=0)
        model.predict(x, verbose=0)
    except Exception:
        return False
    return True


PRINTABLE = st.text(
    st.characters(codec="utf-8", categories=["L", "N", "P", "S", "Zs"]), max_size=12
)
ASCII = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.one_of(ASCII, PRINTABLE))
@example(name="hidden layer")
@example(name="a<b")
@example(name='say "hi"')
@example(name="a/b")
@example(name="back\\slash")
@example(name="a:b")
@example(name="é")
@example(name="layer.1-x>y_z")
@example(name="")
@example(name="dense")
@example(name="input")
def test_a_layer_name_validates_exactly_when_keras_trains_it(tmp_path_factory, name):
    folder = tmp_path_factory.mktemp("name")
    path = write(folder, scenario_text(name=name, epochs=1, limit=200))
    verdict = validate(path)
    if name in ("input",):  # the name of tuilab's input layer: taken, as Keras would say
        assert verdict is not None and "already the name of the model's input" in verdict
        return
    if looks_like_path(name):  # tuilab's own rule for every argument, on every backend
        assert verdict is not None and "looks like a file path or URL" in verdict, verdict
        return
    from tuilab.model.plan import plan_layers

    output = plan_layers(load_scenario(path).variants["default"].model)[-1].args["name"]
    if keras_trains_name(name, output):
        assert verdict is None, verdict
        run, events, status = train(path, folder / "runs")
        assert status == "finished", [getattr(e, "reason", "") for e in events]
        assert len(history(run, "default")) == 1
    else:
        assert verdict is not None, f"validate accepted {name!r}, which Keras cannot train"
        assert "model.layers[0].name" in verdict
        from tuilab.backend import requested_backend
        from tuilab.model.names import name_rule

        assert name_rule(requested_backend()) in verdict, verdict


def test_the_tensorflow_name_rule_is_tensorflows_own():
    """Every printable ASCII character is allowed by the rule exactly when TensorFlow takes
    it in a layer's name scope and in a node name inside a traced function, as training does."""
    from tuilab.backend import import_keras, requested_backend

    if requested_backend() != "tensorflow":
        pytest.skip("TensorFlow's rule, asked of TensorFlow")
    tf = pytest.importorskip("tensorflow")
    from tuilab.model.names import name_problem

    keras = import_keras()

    def tensorflow_takes(name: str) -> bool:
        @tf.function
        def step() -> object:
            with keras.name_scope("model"), keras.name_scope(name):
                kernel = tf.identity(0.0, name="kernel")
            return kernel + tf.identity(0.0, name=f"model_{name}_kernel_momentum")

        try:
            step()
        except (ValueError, tf.errors.InvalidArgumentError):
            return False
        return True

    for code in range(32, 127):
        name = f"a{chr(code)}b"
        if chr(code) == "/":
            continue  # Keras's own rule, before TensorFlow sees it
        assert tensorflow_takes(name) == (name_problem(name, "tensorflow") is None), name


def test_an_auto_name_never_takes_a_name_the_scenario_gave(tmp_path):
    text = scenario_text(name="dense_1").replace(
        '{ type = "Dense", units = 10, activation = "softmax" }',
        '{ type = "Dense", units = 12 },\n  { type = "Dense", units = 10, activation = "softmax" }',
    )
    path = write(tmp_path, text)
    assert validate(path) is None
    config = load_scenario(path).variants["default"]
    from tuilab.model.plan import plan_layers

    assert [p.args["name"] for p in plan_layers(config.model)] == ["dense_1", "dense", "dense_2"]
    same = scenario_text(name="dense").replace('activation = "softmax" }', 'name = "dense" }')
    verdict = validate(write(tmp_path, same, "twice.toml"))
    assert verdict is not None and "already the name of layer 0" in verdict


# -- the script path -------------------------------------------------------------------------
def test_a_script_fitting_with_f1score_stores_a_finished_run_with_every_class(tmp_path):
    from sklearn.datasets import load_digits

    from tuilab.backend import import_keras
    from tuilab.keras import TuilabCallback

    keras = import_keras()
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = np.eye(CLASSES, dtype=np.float32)[digits.target]
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    model.compile("adam", "categorical_crossentropy", metrics=[keras.metrics.F1Score()])
    recorder = TuilabCallback("f1-script", runs_dir=tmp_path)
    fitted = model.fit(
        x[:1000],
        y[:1000],
        validation_data=(x[1000:1300], y[1000:1300]),
        epochs=2,
        batch_size=50,
        verbose=0,
        callbacks=[recorder],
    )
    test = model.evaluate(x[1300:], y[1300:], verbose=0, return_dict=True, callbacks=[recorder])
    folder = recorder.run_folder
    meta = json.loads((folder / "run.json").read_text())
    assert meta["status"] == "finished", meta
    run = RunFolder(folder)
    rows = history(run, "f1-script")
    assert len(rows) == 2
    for row, scores in zip(rows, fitted.history["f1_score"], strict=True):
        for index, score in enumerate(np.asarray(scores)):
            assert float(row[f"f1_score_{index}"]) == float(score)
        assert float(row["f1_score"]) == pytest.approx(float(np.mean(scores)), rel=1e-6)
        assert "val_f1_score_9" in row
    assert [float(r["loss"]) for r in rows] == fitted.history["loss"]  # scalars unchanged
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
    ended = [e for e in events if e["event"] == "epoch_ended"]
    assert len(ended) == 2 and "f1_score_0" in ended[0]["logs"]
    trial = json.loads((folder / "results.json").read_text())["trials"]["f1-script"]
    assert trial["epochs"] == 2
    for index, score in enumerate(np.asarray(test["f1_score"])):
        assert trial["test"][f"f1_score_{index}"] == float(score)
    assert trial["test"]["loss"] == test["loss"]
