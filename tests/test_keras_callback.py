"""`tuilab.keras.TuilabCallback`: a plain Keras script records a tuilab run that every reader
of the run store shows, steered from another shell, without changing the training."""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from rich.text import Text
from textual.widgets import DataTable
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.presentation.numbers import format_value
from tuilab.runtime.run_folder import RunFolder

FIXTURES = ROOT / "tests" / "fixtures"
ENV_PATH = {"PYTHONPATH": str(ROOT)}

SCRIPT = """
import json, sys
import keras
from sklearn.datasets import load_digits
from tuilab.keras import TuilabCallback

keras.utils.set_random_seed(1)
digits = load_digits()
x, y = (digits.data / 16.0).astype("float32"), digits.target
inputs = keras.Input((64,))
hidden = keras.layers.Dense(32)(inputs)
hidden = keras.layers.BatchNormalization()(hidden)
hidden = keras.layers.Activation("relu")(hidden)
model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))
model.compile(
    keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"]
)
recorder = TuilabCallback("digits-script", runs_dir=sys.argv[1], config={"width": 32})
history = model.fit(
    x[:1200], y[:1200], validation_data=(x[1200:1500], y[1200:1500]), epochs=3,
    batch_size=64, verbose=0,
    callbacks=[
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=5),
        keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=10),
        recorder,
    ],
)
test = model.evaluate(x[1500:], y[1500:], verbose=0, return_dict=True, callbacks=[recorder])
print(json.dumps({
    "history": history.history, "test": test, "folder": str(recorder.run_folder),
    "interactive": keras.config.is_interactive_logging_enabled(),
}))
"""


def run_script(tmp_path: Path, text: str, *args: str, **popen) -> subprocess.Popen:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    env = {**os.environ, **ENV_PATH, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, str(path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
        **popen,
    )


def read_events(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]


def history_rows(folder: Path, trial: str) -> list[dict[str, str]]:
    with open(folder / "variants" / trial / "history.csv", newline="") as stream:
        return list(csv.DictReader(stream))


def cell(table: DataTable, row: str, key: str) -> str:
    value = table.get_cell(row, key)
    return value.plain if isinstance(value, Text) else str(value)


@pytest.fixture(scope="module")
def script_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    """The plain-Keras script run once in a subprocess: (runs folder, its output, run folder)."""
    tmp_path = tmp_path_factory.mktemp("script")
    process = run_script(tmp_path, SCRIPT, "runs")
    stdout, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout  # the callback prints nothing
    output = json.loads(lines[0])
    return tmp_path / "runs", output, tmp_path / output["folder"]


def test_a_plain_script_stores_the_events_history_and_test_metrics_of_its_fit(script_run):
    _, output, folder = script_run
    assert output["interactive"]  # the script's own Keras settings are kept
    meta = json.loads((folder / "run.json").read_text())
    assert meta["status"] == "finished" and meta["source"] == "script"
    assert meta["script"].endswith("train.py") and not (folder / "scenario.toml").exists()
    events = read_events(folder)
    kinds = [e["event"] for e in events]
    assert kinds[:2] == ["run_started", "variant_started"]
    assert kinds.count("epoch_ended") == 3 and kinds.count("batchnorm_snapshot") == 3
    assert kinds[-3:] == ["variant_finished", "run_finished", "variant_finished"]
    started = events[1]
    assert started["epochs"] == 3 and started["batch_size"] == 64
    assert started["steps_per_epoch"] == 19 and started["samples"] == {
        "train": 1200,
        "validation": 300,
    }
    assert started["learning_rate"] == pytest.approx(0.01)
    types = [row["type"] for row in started["summary"]["rows"]]
    assert types == ["InputLayer", "Dense", "BatchNormalization", "Activation", "Dense"]
    assert set(started["batchnorm"]["batch_normalization"]) == {
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    }
    changes = [e for e in events if e["event"] == "learning_rate_changed"]
    assert changes and {e["reason"] for e in changes} == {"ReduceLROnPlateau"}
    assert changes[0]["new"] == pytest.approx(changes[0]["old"] / 2)

    history = output["history"]
    rows = history_rows(folder, "digits-script")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert [float(r[metric]) for r in rows] == history[metric]
    results = json.loads((folder / "results.json").read_text())
    trial = results["trials"]["digits-script"]
    assert trial["status"] == "finished" and trial["epochs"] == 3
    assert trial["test"] == output["test"]  # what evaluate returned

    resolved = json.loads((folder / "resolved.json").read_text())
    settings = resolved["variants"]["digits-script"]
    assert resolved["source"] == "script"
    assert settings["fit"]["epochs"] == 3 and settings["fit"]["batch_size"] == 64
    assert settings["compile"]["optimizer"]["class"] == "Adam"
    assert settings["compile"]["optimizer"]["learning_rate"] == pytest.approx(0.01)
    assert settings["compile"]["loss"] == "sparse_categorical_crossentropy"
    assert [c["class"] for c in settings["callbacks"]] == ["EarlyStopping", "ReduceLROnPlateau"]
    assert settings["config"] == {"width": 32}


def test_a_script_run_writes_tensorboard_files_as_a_scenario_run_does(script_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    from tuilab.runtime.run_folder import RunFolder

    _, output, folder = script_run
    board = RunFolder(folder).tensorboard_dir("digits-script")
    history = output["history"]
    for part, prefix in (("train", ""), ("validation", "val_")):
        events = EventAccumulator(str(board / part), size_guidance={"tensors": 0}).Reload()
        for metric in ("loss", "accuracy"):
            read = [
                (e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
                for e in events.Tensors(f"epoch_{metric}")
            ]
            assert [step for step, _ in read] == [1, 2, 3]
            assert [v for _, v in read] == pytest.approx(history[prefix + metric], rel=1e-6)
    train = EventAccumulator(str(board / "train"), size_guidance={"tensors": 0}).Reload()
    histograms = [t for t in train.Tags()["tensors"] if t.startswith("batchnorm/")]
    assert len(histograms) == 4  # gamma, beta, moving mean and variance of its one BN layer


def test_show_lists_its_epochs_and_test_accuracy_and_resume_refuses_it(script_run):
    runs, output, folder = script_run
    run_id = f"{folder.parent.name}/{folder.name}"
    shown = CliRunner().invoke(
        app, ["show", run_id, "--runs-dir", str(runs)], env={"COLUMNS": "140"}
    )
    assert shown.exit_code == 0, shown.output
    row = next(
        line for line in shown.output.splitlines() if "digits-script" in line and "│" in line
    )
    cells = [c.strip() for c in row.split("│") if c.strip()]
    assert cells[:3] == ["digits-script", "finished", "3"]
    assert format_value(output["test"]["accuracy"]) in cells
    listed = CliRunner().invoke(app, ["runs", "--runs-dir", str(runs)], env={"COLUMNS": "160"})
    assert run_id in listed.output and "finished" in listed.output
    resumed = CliRunner().invoke(app, ["resume", run_id, "--headless", "--runs-dir", str(runs)])
    assert resumed.exit_code == 2
    assert "recorded from a script" in resumed.output and "run the script again" in resumed.output


async def test_the_app_shows_the_script_run_with_its_epochs_and_layers(script_run):
    from tuilab.app.app import create_app
    from tuilab.app.screens.dashboard import DashboardScreen

    runs, output, folder = script_run
    application = create_app(FIXTURES / "scenarios", runs, stored_run=folder)
    async with application.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        dashboard = application.screen
        assert isinstance(dashboard, DashboardScreen)
        state = dashboard.state
        assert state.trials == ["digits-script"] and state.book.status == "finished"
        result = state.book.trials["digits-script"]
        assert result.epochs == 3 and result.test == output["test"]
        assert state.curves.curves["digits-script"].epochs == [1, 2, 3]
        await pilot.press("n")  # the Layers tab
        await pilot.pause(0.3)
        layers = dashboard.query_one("#layers-table", DataTable)
        names = [cell(layers, str(i), "name") for i in range(layers.row_count)]
        assert names == ["input_layer", "dense", "batch_normalization", "activation", "dense_1"]
        assert cell(layers, "2", "output_shape") == "(None, 32)"
        assert cell(layers, "2", "params") == "128"


# -- in-process fits --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def keras():
    from tuilab.backend import import_keras

    return import_keras()


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.data / 16.0).astype("float32"), data.target


def sequential(keras, rate: float = 0.01):
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    loss = "sparse_categorical_crossentropy"
    model.compile(keras.optimizers.Adam(rate), loss, metrics=["accuracy"])
    return model


def subclassed(keras, rate: float = 0.001):
    class Small(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = keras.layers.Dense(16)
            self.norm = keras.layers.BatchNormalization()
            self.out = keras.layers.Dense(10, activation="softmax")

        def call(self, inputs, training=False):
            return self.out(keras.ops.relu(self.norm(self.hidden(inputs), training=training)))

    model = Small()
    loss = "sparse_categorical_crossentropy"
    model.compile(keras.optimizers.Adam(rate), loss, metrics=["accuracy"])
    return model


def test_sequential_and_subclassed_models_record_runs_that_compare_tells_apart(
    tmp_path, keras, digits
):
    from tuilab.keras import TuilabCallback

    x, y = digits
    folders = {}
    for name, build in (("seq", sequential), ("sub", subclassed)):
        keras.utils.set_random_seed(0)
        model = build(keras)
        recorder = TuilabCallback(name, runs_dir=tmp_path)
        history = model.fit(
            x[:1000], y[:1000], epochs=2, batch_size=50, verbose=0, callbacks=[recorder]
        )
        test = model.evaluate(x[1000:], y[1000:], verbose=0, return_dict=True, callbacks=[recorder])
        folder = recorder.run_folder
        folders[name] = folder
        assert json.loads((folder / "run.json").read_text())["status"] == "finished"
        rows = history_rows(folder, name)
        assert [float(r["loss"]) for r in rows] == history.history["loss"]
        trial = json.loads((folder / "results.json").read_text())["trials"][name]
        assert trial["test"] == test and trial["epochs"] == 2
        started = read_events(folder)[1]
        assert started["batch_size"] == 50 and started["steps_per_epoch"] == 20
        summary = started["summary"]
        assert summary["total"] == model.count_params()
        if name == "sub":  # a subclassed model's layers, their output shapes unknown
            assert [r["type"] for r in summary["rows"]] == [
                "Dense",
                "BatchNormalization",
                "Dense",
            ]
            assert all(r["output_shape"] == [] for r in summary["rows"])
            assert started["batchnorm"] == {}  # built by its first batch: no initial values
            kinds = [e["event"] for e in read_events(folder)]
            assert kinds.count("batchnorm_snapshot") == 2
    items = [f"{f.parent.name}/{f.name}" for f in folders.values()]
    compared = CliRunner().invoke(
        app, ["compare", *items, "--runs-dir", str(tmp_path)], env={"COLUMNS": "200"}
    )
    assert compared.exit_code == 0, compared.output
    for key in ("compile.optimizer.learning_rate", "model.class"):
        assert key in compared.output


def test_tuilab_lr_and_stop_from_another_shell_steer_a_long_fit(tmp_path, keras, digits):
    from tuilab.keras import TuilabCallback

    x, y = digits
    keras.utils.set_random_seed(0)
    model = sequential(keras)
    recorder = TuilabCallback("long", runs_dir=tmp_path)
    outcomes: list[subprocess.CompletedProcess] = []
    seen: list[str] = []

    def steer() -> None:
        deadline = time.monotonic() + 120
        while recorder.run_folder is None or not list(recorder.run_folder.glob("variants/*/*.csv")):
            if time.monotonic() > deadline:
                return
            time.sleep(0.1)
        folder = recorder.run_folder
        run_id = f"{folder.parent.name}/{folder.name}"
        seen.append(RunFolder(folder).info().status)  # its heartbeat says it trains
        for command in (["lr", run_id, "--scale", "0.5"], ["stop", run_id]):
            outcomes.append(
                subprocess.run(
                    [sys.executable, "-m", "tuilab", *command, "--runs-dir", str(tmp_path)],
                    capture_output=True,
                    text=True,
                    env={**os.environ, **ENV_PATH},
                    timeout=120,
                )
            )

    thread = threading.Thread(target=steer)
    thread.start()
    history = model.fit(x, y, epochs=2000, batch_size=64, verbose=0, callbacks=[recorder])
    thread.join()
    assert seen == ["running"]
    assert [o.returncode for o in outcomes] == [0, 0], [o.stderr for o in outcomes]
    assert len(history.history["loss"]) < 2000  # the fit stopped early
    folder = recorder.run_folder
    assert json.loads((folder / "run.json").read_text())["status"] == "stopped"
    events = read_events(folder)
    user = [e for e in events if e["event"] == "learning_rate_changed" and e["reason"] == "user"]
    assert user and user[0]["new"] == pytest.approx(0.005)
    assert any(e["event"] == "control_applied" and e["action"] == "stop" for e in events)
    assert events[-1] == {**events[-1], "event": "run_finished", "status": "stopped"}
    assert not (folder / "control").exists() or not list((folder / "control").iterdir())


def test_early_stopping_is_recorded_and_a_callback_placed_before_it_is_told(
    tmp_path, keras, digits, caplog
):
    from tuilab.keras import TuilabCallback

    x, y = digits

    def fit(first_ours: bool) -> TuilabCallback:
        keras.utils.set_random_seed(0)
        stopper = keras.callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=100)
        recorder = TuilabCallback("early", runs_dir=tmp_path)
        order = [recorder, stopper] if first_ours else [stopper, recorder]
        sequential(keras).fit(x, y, epochs=5, batch_size=128, verbose=0, callbacks=order)
        return recorder

    with caplog.at_level(logging.WARNING, logger="tuilab.keras"):
        last = fit(first_ours=False)
    assert not caplog.records
    events = read_events(last.run_folder)
    (stopped,) = [e for e in events if e["event"] == "early_stopped"]
    assert (stopped["epoch"], stopped["best_epoch"], stopped["monitor"]) == (2, 1, "loss")
    assert (
        json.loads((last.run_folder / "results.json").read_text())["trials"]["early"][
            "early_stopped_epoch"
        ]
        == 2
    )
    with caplog.at_level(logging.WARNING, logger="tuilab.keras"):
        fit(first_ours=True)
    (warning,) = caplog.records
    assert "before EarlyStopping" in warning.getMessage() and "put it last" in warning.getMessage()


def test_a_learning_rate_schedule_is_recorded_as_its_changes(tmp_path, keras, digits):
    from tuilab.keras import TuilabCallback

    x, y = digits
    model = sequential(keras)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, decay_steps=10, decay_rate=0.5)
    model.compile(keras.optimizers.SGD(schedule), "sparse_categorical_crossentropy")
    recorder = TuilabCallback("decay", runs_dir=tmp_path)
    model.fit(x, y, epochs=2, batch_size=128, verbose=0, callbacks=[recorder])
    events = read_events(recorder.run_folder)
    changes = [e for e in events if e["event"] == "learning_rate_changed"]
    assert [(e["epoch"], e["reason"]) for e in changes] == [(1, "schedule"), (2, "schedule")]
    steps = -(-len(x) // 128)
    assert changes[-1]["new"] == pytest.approx(0.01 * 0.5 ** (2 * steps / 10))
    resolved = json.loads((recorder.run_folder / "resolved.json").read_text())
    rate = resolved["variants"]["decay"]["compile"]["optimizer"]["learning_rate"]
    assert rate["class_name"] == "ExponentialDecay"


def test_an_unwritable_runs_folder_leaves_the_training_unchanged(tmp_path, keras, digits, caplog):
    from tuilab.keras import TuilabCallback

    x, y = digits
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    def fit(callbacks: list) -> dict:
        keras.utils.set_random_seed(3)
        model = sequential(keras)
        history = model.fit(
            x[:1200], y[:1200], validation_split=0.2, epochs=3, batch_size=32,
            verbose=0, callbacks=callbacks,
        )  # fmt: skip
        return history.history

    plain = fit([])
    with caplog.at_level(logging.WARNING, logger="tuilab.keras"):
        unwritable = TuilabCallback("nowhere", runs_dir=blocker / "runs")
        unrecorded = fit([unwritable])
        fit([unwritable])  # warned once only
    recorded = fit([TuilabCallback("somewhere", runs_dir=tmp_path / "runs")])
    assert unrecorded == plain and recorded == plain
    warnings = [r for r in caplog.records if r.name == "tuilab.keras"]
    assert len(warnings) == 1 and "not writable" in warnings[0].getMessage()
    assert unwritable.run_folder is None


def test_a_nan_loss_fails_the_run_and_the_fit_goes_on(tmp_path, keras, digits):
    from tuilab.keras import TuilabCallback

    x, y = digits
    model = sequential(keras)
    model.compile(keras.optimizers.SGD(1e30), "sparse_categorical_crossentropy")
    recorder = TuilabCallback("nan", runs_dir=tmp_path)
    history = model.fit(x * 1e6, y, epochs=3, batch_size=64, verbose=0, callbacks=[recorder])
    assert len(history.history["loss"]) == 3 and np.isnan(history.history["loss"][-1])
    folder = recorder.run_folder
    assert json.loads((folder / "run.json").read_text())["status"] == "failed"
    failed = [e for e in read_events(folder) if e["event"] == "variant_failed"]
    assert len(failed) == 1 and "loss became nan" in failed[0]["reason"]
    model.evaluate(x, y, verbose=0, callbacks=[recorder])  # nothing added to a failed run
    assert read_events(folder)[-1]["event"] == "run_finished"


INTERRUPTED = """
import sys
import numpy as np
import keras
from tuilab.keras import TuilabCallback

class Boom(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if sys.argv[2] == "exception" and epoch == 1:
            raise ValueError("boom at epoch 2")

x, y = np.random.rand(2000, 16).astype("float32"), np.random.randint(0, 3, 2000)
model = keras.Sequential([keras.Input((16,)), keras.layers.Dense(3, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(x, y, epochs=100000, verbose=0, callbacks=[Boom(), TuilabCallback("cut", sys.argv[1])])
"""


@pytest.mark.parametrize(("how", "status"), [("ctrl-c", "stopped"), ("exception", "failed")])
def test_a_script_cut_short_leaves_its_run_stopped_or_failed(tmp_path, how, status):
    process = run_script(tmp_path, INTERRUPTED, "runs", how)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("runs/cut/*/variants/cut/history.csv")):
        assert time.monotonic() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.1)
    if how == "ctrl-c":
        process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    assert ("KeyboardInterrupt" if how == "ctrl-c" else "boom at epoch 2") in stderr
    (folder,) = tmp_path.glob("runs/cut/*")
    assert json.loads((folder / "run.json").read_text())["status"] == status
    events = read_events(folder)
    assert events[-1] == {**events[-1], "event": "run_finished", "status": status}
    if status == "failed":
        assert "ValueError in the script: boom at epoch 2" in events[-2]["reason"]
