"""TensorBoard reads every stored trial: scalars, BatchNorm histograms and hyperparameters.

The runs train for real (digits, a tiny MLP) and their event files are read back with
TensorBoard's own readers: `EventAccumulator` for the scalars and histograms, and TensorBoard's
HParams plugin (what its HParams table shows) for the hyperparameters.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins import base_plugin
from tensorboard.plugins.hparams.hparams_plugin import HParamsPlugin
from tensorboard.util import tensor_util
from werkzeug.test import Client

from tuilab.errors import TuilabError
from tuilab.runtime.control import RunControl
from tuilab.runtime.events import BatchNormSnapshot, EpochEnded, Event, VariantStarted
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.session import RunRequest, execute, prepare_run
from tuilab.runtime.tensorboard_log import hyperparameters

SCENARIO = """
[scenario]
name = "board"
description = "Two variants for TensorBoard's HParams table."
seed = 4
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 16, activation = "relu" },
          { type = "Dense", units = 10, activation = "softmax" }]
[compile]
optimizer = { type = "Adam", learning_rate = 0.01 }
[fit]
epochs = EPOCHS
batch_size = 64
[run]
save_model = false
[[callbacks]]
type = "ReduceLROnPlateau"
monitor = "loss"
patience = 0
min_delta = 10.0
factor = 0.5
"""
"""ReduceLROnPlateau halves the rate after every epoch (no loss ever falls by 10), so the
learning-rate scalar changes, and Keras puts `learning_rate` into the epoch's logs too."""
VARIANTS = """
[variants.plain]
[variants.bn]
model.batchnorm = { position = "after", momentum = 0.5 }
compile.optimizer.learning_rate = 0.003
"""
CHANNELS = 16
BATCHNORM_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")


def train(
    path: Path, runs: Path, control: RunControl | None = None, resume: Path | None = None
) -> tuple[RunFolder, list[Event], str]:
    """Run (or resume) a scenario through `execute`, as both front ends do."""
    events: list[Event] = []
    runner, store = prepare_run(RunRequest(path, runs_dir=runs, resume=resume), control)

    def deliver(event: Event) -> None:
        events.append(event)
        if control is not None and isinstance(event, EpochEnded) and event.epoch == 2:
            control.stop_after_epoch()

    outcome = execute(runner, store, deliver)
    return RunFolder(store.folder), events, outcome.status


def history(run: RunFolder, trial: str) -> list[dict[str, float]]:
    with open(run.history_csv(trial), newline="") as stream:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(stream)]


def board(folder: Path) -> EventAccumulator:
    """Every record of one TensorBoard run folder, as TensorBoard loads it."""
    return EventAccumulator(str(folder), size_guidance={"tensors": 0}).Reload()


def scalars(accumulator: EventAccumulator, tag: str) -> list[tuple[int, float]]:
    return [
        (e.step, float(tensor_util.make_ndarray(e.tensor_proto))) for e in accumulator.Tensors(tag)
    ]


def hparams_table(logdir: Path) -> dict[str, Any]:
    """TensorBoard's HParams plugin on `logdir`: its experiment and its session groups."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    context = base_plugin.TBContext(
        logdir=str(logdir), multiplexer=multiplexer, data_provider=provider
    )
    apps = HParamsPlugin(context).get_plugin_apps()
    experiment = Client(apps["/experiment"]).post("/experiment", json={"experimentName": ""})
    groups = Client(apps["/session_groups"]).post(
        "/session_groups",
        json={
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN"],
            "startIndex": 0,
            "sliceSize": 100,
        },
    )
    assert experiment.status_code == 200 and groups.status_code == 200
    return {"experiment": json.loads(experiment.data), "groups": json.loads(groups.data)}


@pytest.fixture(scope="module")
def two_variants(tmp_path_factory) -> tuple[RunFolder, list[Event], Path]:
    root = tmp_path_factory.mktemp("board")
    path = root / "board.toml"
    path.write_text(SCENARIO.replace("EPOCHS", "3") + VARIANTS, encoding="utf-8")
    run, events, status = train(path, root / "runs")
    assert status == "finished"
    return run, events, root / "runs"


@pytest.mark.parametrize("trial", ["plain", "bn"])
def test_each_epochs_train_and_validation_scalars_are_the_stored_history(two_variants, trial):
    run, events, _ = two_variants
    rows = history(run, trial)
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    train = board(run.tensorboard_dir(trial) / "train")
    validation = board(run.tensorboard_dir(trial) / "validation")
    assert set(train.Tags()["tensors"]) >= {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert set(validation.Tags()["tensors"]) == {"epoch_loss", "epoch_accuracy"}
    assert not [t for t in train.Tags()["tensors"] if "val_" in t]
    for metric in ("loss", "accuracy"):
        for accumulator, column in ((train, metric), (validation, f"val_{metric}")):
            written = scalars(accumulator, f"epoch_{metric}")
            expected = [(int(r["epoch"]), r[column]) for r in rows]
            assert [s for s, _ in written] == [s for s, _ in expected]
            assert [v for _, v in written] == pytest.approx([v for _, v in expected], rel=1e-6)
    rates = [
        (e.epoch, e.learning_rate) for e in events if isinstance(e, EpochEnded) and e.trial == trial
    ]
    written = scalars(train, "epoch_learning_rate")
    assert [s for s, _ in written] == [s for s, _ in rates]
    assert [v for _, v in written] == pytest.approx([v for _, v in rates], rel=1e-6)
    assert len({v for _, v in written}) > 1  # halved by ReduceLROnPlateau
    assert [v for _, v in written] == pytest.approx([r["learning_rate"] for r in rows], rel=1e-6)


def test_batchnorm_histograms_at_every_snapshot_hold_every_channel(two_variants):
    run, events, _ = two_variants
    (started,) = [e for e in events if isinstance(e, VariantStarted) and e.trial == "bn"]
    snapshots = {0: started.batchnorm} | {
        e.epoch: e.layers for e in events if isinstance(e, BatchNormSnapshot) and e.trial == "bn"
    }
    assert sorted(snapshots) == [0, 1, 2, 3]
    (layer,) = started.batchnorm
    train = board(run.tensorboard_dir("bn") / "train")
    for weight in BATCHNORM_WEIGHTS:
        records = train.Tensors(f"batchnorm/{layer}/{weight}")
        assert [r.step for r in records] == [0, 1, 2, 3]
        for record in records:
            buckets = tensor_util.make_ndarray(record.tensor_proto)  # (left, right, count) rows
            values = snapshots[record.step][layer][weight]
            assert len(values) == CHANNELS and buckets[:, 2].sum() == CHANNELS
            assert buckets[0, 0] == pytest.approx(min(values), rel=1e-6, abs=1e-7)
            assert buckets[-1, 1] == pytest.approx(max(values), rel=1e-6, abs=1e-7)
    plain = board(run.tensorboard_dir("plain") / "train")
    assert not [t for t in plain.Tags()["tensors"] if t.startswith("batchnorm/")]


def test_tensorboards_hparams_table_compares_the_variants(two_variants):
    run, _, runs = two_variants
    table = hparams_table(runs)
    infos = {h["name"]: h for h in table["experiment"]["hparamInfos"]}
    assert infos["compile.optimizer.learning_rate"]["differs"] is True
    assert infos["variant"]["differs"] is True
    assert "model.batchnorm.position" in infos and "model.layers" in infos
    assert not [name for name in infos if "description" in name]  # prose is no parameter
    metrics = {(m["name"]["group"], m["name"]["tag"]) for m in table["experiment"]["metricInfos"]}
    assert {("train", "epoch_loss"), ("validation", "epoch_accuracy")} <= metrics
    groups = {g["name"]: g for g in table["groups"]["sessionGroups"]}
    assert set(groups) == {f"{run.run_id}/plain", f"{run.run_id}/bn"}
    plain, bn = groups[f"{run.run_id}/plain"], groups[f"{run.run_id}/bn"]
    assert plain["hparams"]["compile.optimizer.learning_rate"] == pytest.approx(0.01)
    assert bn["hparams"]["compile.optimizer.learning_rate"] == pytest.approx(0.003)
    assert bn["hparams"]["model.batchnorm.position"] == "after"
    assert plain["hparams"]["model.layers"] == (
        "[Dense(units=16,activation=relu), Dense(units=10,activation=softmax)]"
    )
    last = history(run, "bn")[-1]
    shown = {(m["name"]["group"], m["name"]["tag"]): m["value"] for m in bn["metricValues"]}
    assert shown[("validation", "epoch_accuracy")] == pytest.approx(last["val_accuracy"])


def test_hyperparameters_are_dotted_scalar_keys_without_prose():
    resolved = {
        "scenario": {"name": "s", "description": "words", "seed": 3},
        "description": "more words",
        "compile": {"optimizer": {"type": "SGD", "learning_rate": 0.1, "nesterov": True}},
        "model": {"layers": [{"type": "Dense", "units": 4}], "huge": [{"type": "X" * 500}]},
        "compile_metrics": ["accuracy", "mse"],
        "nothing": None,
        "nan": float("nan"),
    }
    assert hyperparameters(resolved, "v", repeat=2, seed=9) == {
        "variant": "v",
        "trial.repeat": 2,
        "trial.seed": 9,
        "scenario.name": "s",
        "scenario.seed": 3,
        "compile.optimizer.type": "SGD",
        "compile.optimizer.learning_rate": 0.1,
        "compile.optimizer.nesterov": True,
        "model.layers": "[Dense(units=4)]",
        "compile_metrics": "[accuracy, mse]",
        "nan": "nan",
    }


def test_a_tensorboard_folder_that_cannot_be_written_never_stops_training(
    write_scenario, tmp_path, caplog
):
    path = write_scenario(SCENARIO.replace("EPOCHS", "2"))
    runner, store = prepare_run(RunRequest(path, runs_dir=tmp_path / "runs"))
    run = RunFolder(store.folder)
    blocked = run.tensorboard_dir("default")
    blocked.parent.mkdir(parents=True)
    blocked.write_text("a file where the folder should be", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="tuilab.runtime.tensorboard_log"):
        outcome = execute(runner, store, lambda event: None)
    assert outcome.status == "finished"
    assert [r["epoch"] for r in history(run, "default")] == [1, 2]
    (warning,) = [r for r in caplog.records if r.name == "tuilab.runtime.tensorboard_log"]
    assert "no longer written" in warning.getMessage() and str(run.path) in warning.getMessage()
    assert blocked.read_text(encoding="utf-8") == "a file where the folder should be"


def test_a_resumed_trial_writes_on_into_the_same_folder(write_scenario, tmp_path):
    path = write_scenario(SCENARIO.replace("EPOCHS", "4"))
    run, _, status = train(path, tmp_path / "runs", control=RunControl())
    assert status == "stopped"
    resumed, _, status = train(path, tmp_path / "runs", resume=run.path)
    assert status == "finished" and resumed.path == run.path
    folder = run.tensorboard_dir("default")
    assert len(list((folder / "train").glob("events.out.tfevents.*"))) == 2  # one per process
    rows = history(run, "default")
    written = scalars(board(folder / "validation"), "epoch_loss")
    assert [s for s, _ in written] == [1, 2, 3, 4]
    assert [v for _, v in written] == pytest.approx([r["val_loss"] for r in rows], rel=1e-6)


KERAS_CALLBACK = """
[[callbacks]]
type = "TensorBoard"
LOG_DIR
"""


@pytest.mark.parametrize(
    ("log_dir", "folder"), [("", "keras-tensorboard"), ('log_dir = "logs/keras"', "logs/keras")]
)
def test_the_keras_tensorboard_callback_writes_inside_the_trial_folder(
    write_scenario, tmp_path, log_dir, folder
):
    text = SCENARIO.replace("EPOCHS", "2") + KERAS_CALLBACK.replace("LOG_DIR", log_dir)
    path = write_scenario(text)
    before = set(tmp_path.rglob("*"))
    run, _, status = train(path, tmp_path / "runs")
    assert status == "finished"
    written = set(tmp_path.rglob("*")) - before  # the run folder, its parents, its files
    above = {run.path, *run.path.parents}
    assert all(p in above or run.path in p.parents for p in written), sorted(written)
    trial = run.trial("default")
    keras_train = board(trial / folder / "train")
    losses = scalars(keras_train, "epoch_loss")
    assert [v for _, v in losses] == pytest.approx(
        [r["loss"] for r in history(run, "default")], rel=1e-6
    )
    assert list((trial / folder / "validation").glob("events.out.tfevents.*"))
    assert list((trial / "tensorboard" / "train").glob("events.out.tfevents.*"))  # tuilab's own


@pytest.mark.parametrize(
    ("log_dir", "expected"),
    [
        ("../../../outside", "climbs out with '..'"),
        ("/tmp/tuilab-tensorboard-outside", "is an absolute path"),
        ("~/tensorboard", "points into a home folder"),
        ("tensorboard", "tuilab writes its own tensorboard"),
        ("tensorboard/keras", "tuilab writes its own tensorboard"),
    ],
)
def test_a_tensorboard_log_dir_leading_outside_is_refused_before_training(
    write_scenario, tmp_path, log_dir, expected
):
    text = SCENARIO.replace("EPOCHS", "2") + KERAS_CALLBACK.replace(
        "LOG_DIR", f"log_dir = {json.dumps(log_dir)}"
    )
    path = write_scenario(text)
    with pytest.raises(TuilabError) as caught:
        prepare_run(RunRequest(path, runs_dir=tmp_path / "runs"))
    assert expected in str(caught.value) and "log_dir" in str(caught.value)
    assert not (tmp_path / "runs").exists()
    assert not Path("/tmp/tuilab-tensorboard-outside").exists()
