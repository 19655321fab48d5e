"""TensorBoard files and `TuilabCallback` without TensorFlow: any Keras backend.

The subprocesses run with `tests/fixtures/notf` first on `PYTHONPATH`: its `sitecustomize`
makes TensorFlow look uninstalled (`import tensorflow` fails, `find_spec` answers None).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT

from tuilab.runtime.events import (
    BatchNormSnapshot,
    EpochEnded,
    Event,
    VariantStarted,
    event_from_json,
)

NOTF = ROOT / "tests" / "fixtures" / "notf"
STORED = ROOT / "tests" / "fixtures" / "runs" / "quick" / "20260101-120000"
EVENT_FILE = re.compile(r"^events\.out\.tfevents\.\d{10}\..+\.\d+\.\d+\.v2$")

WRITE = """
import importlib.util, os, signal, sys
from pathlib import Path
assert importlib.util.find_spec("tensorflow") is None
from tuilab.runtime.events import EpochEnded, VariantFinished, RunFinished, event_from_json
from tuilab.runtime.tensorboard_log import TensorBoardLog

finished, killed = Path(sys.argv[1]), Path(sys.argv[2])
events = [event_from_json(line) for line in (finished / "events.jsonl").read_text().splitlines()]
log = TensorBoardLog(finished)  # the writer thread, as a run uses it
for event in events:
    log.handle(event)
log.close()
assert not log.problem, log.problem
assert "tensorflow" not in sys.modules and "keras" not in sys.modules

cut = TensorBoardLog(killed)
cut.close()  # its thread stopped: `_write` runs here, and the process dies before any close
for event in events:
    if isinstance(event, EpochEnded) and event.epoch > 2 or isinstance(
        event, (VariantFinished, RunFinished)
    ):
        continue
    cut._write(event)
assert not cut.problem, cut.problem
os.kill(os.getpid(), signal.SIGKILL)
"""

READ = """
import importlib.util, json, sys
from pathlib import Path
assert importlib.util.find_spec("tensorflow") is None
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
from tensorboard.plugins.hparams import plugin_data_pb2
from tensorboard.util import tensor_util
from tuilab.runtime.events import EpochEnded
from tuilab.runtime.tensorboard_read import read_tensorboard

found = {}
for folder in sys.argv[1:]:
    epochs = [e for e in read_tensorboard(Path(folder)) if isinstance(e, EpochEnded)]
    multiplexer = EventMultiplexer(size_guidance={"tensors": 0})
    multiplexer.AddRunsFromDirectory(folder)
    multiplexer.Reload()
    runs = {}
    for run, tags in multiplexer.Runs().items():
        runs[run] = {}
        for tag in tags["tensors"]:
            plugin = multiplexer.SummaryMetadata(run, tag).plugin_data
            points = multiplexer.Tensors(run, tag)
            values = [tensor_util.make_ndarray(p.tensor_proto).tolist() for p in points]
            entry = {"plugin": plugin.plugin_name, "steps": [p.step for p in points]}
            entry["values"] = values
            if plugin.plugin_name == "hparams":
                data = plugin_data_pb2.HParamsPluginData.FromString(plugin.content)
                start = data.session_start_info
                entry["hparams"] = {k: v.WhichOneof("kind") for k, v in start.hparams.items()}
                entry["group"] = start.group_name
            runs[run][tag] = entry
    found[folder] = {
        "epochs": [[e.trial, e.epoch, e.logs, e.learning_rate] for e in epochs],
        "runs": runs,
    }
found["tensorflow"] = "tensorflow" in sys.modules
print(json.dumps(found))
"""

SCRIPT = """
import json, sys
import keras
import numpy as np
from tuilab.keras import TuilabCallback

keras.utils.set_random_seed(3)
if sys.argv[2:] == ["data_parallel"]:
    keras.distribution.set_distribution(keras.distribution.DataParallel())
rng = np.random.default_rng(3)
x = rng.normal(size=(256, 8)).astype("float32")
y = (x[:, 0] + x[:, 1] > 0).astype("int32")
inputs = keras.Input((8,))
hidden = keras.layers.BatchNormalization()(keras.layers.Dense(8, activation="relu")(inputs))
model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy", metrics=["accuracy"])
recorder = TuilabCallback("jax-script", runs_dir=sys.argv[1])
history = model.fit(
    x[:192], y[:192], validation_data=(x[192:], y[192:]), epochs=3, batch_size=32, verbose=0,
    callbacks=[recorder],
)
print(json.dumps({
    "history": history.history, "folder": str(recorder.run_folder),
    "backend": keras.backend.backend(), "tensorflow": "tensorflow" in sys.modules,
    "interactive": keras.config.is_interactive_logging_enabled(),
}))
"""


def without_tensorflow(script: str, *args: str, cwd: Path, **env: str) -> str:
    """Run `script` in a fresh interpreter with TensorFlow blocked; its stdout."""
    path = cwd / "script.py"
    path.write_text(textwrap.dedent(script), encoding="utf-8")
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}
    environment["PYTHONPATH"] = os.pathsep.join([str(NOTF), str(ROOT)])
    done = subprocess.run(
        [sys.executable, str(path), *args],
        capture_output=True,
        text=True,
        env=environment,
        cwd=cwd,
        timeout=600,
    )
    assert done.returncode in (0, -9), done.stderr  # -9: the writer's kill of itself
    return done.stdout


def stored_events() -> list[Event]:
    lines = (STORED / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [event_from_json(line) for line in lines]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, Path, dict[str, Any]]:
    """The stored fixture run's events written without TensorFlow twice (once finished, once
    killed after epoch 2) and read back by TensorBoard and tuilab in another such process."""
    root = tmp_path_factory.mktemp("notf")
    finished, killed = root / "finished", root / "killed"
    for folder in (finished, killed):
        shutil.copytree(STORED, folder)
    without_tensorflow(WRITE, str(finished), str(killed), cwd=root)
    output = without_tensorflow(READ, str(finished / "variants"), str(killed), cwd=root)
    return finished, killed, json.loads(output)


def test_logs_written_without_tensorflow_keep_tensorflows_names_and_layout(written):
    finished, _, read = written
    assert read["tensorflow"] is False
    files = sorted(p.relative_to(finished).as_posix() for p in finished.rglob("events.out.*"))
    folders = [f.rsplit("/", 1)[0] for f in files]
    assert folders == [
        f"variants/{trial}/tensorboard{part}"
        for trial in ("bn", "plain")
        for part in ("", "/train", "/validation")
    ]
    assert all(EVENT_FILE.match(f.rsplit("/", 1)[1]) for f in files), files


def test_tuilab_reads_back_every_epochs_values_without_tensorflow(written):
    finished, _, read = written
    expected = {(e.trial, e.epoch): e for e in stored_events() if isinstance(e, EpochEnded)}
    epochs = read[str(finished / "variants")]["epochs"]
    assert sorted((t.split("/")[0], n) for t, n, _, _ in epochs) == sorted(expected)
    for trial, epoch, logs, rate in epochs:
        event = expected[(trial.split("/")[0], epoch)]
        assert set(logs) == set(event.logs)
        for metric, value in event.logs.items():
            assert logs[metric] == pytest.approx(value, rel=1e-6)
        assert rate == pytest.approx(event.learning_rate, rel=1e-6)


def test_tensorboard_finds_scalars_histograms_and_hparams_without_tensorflow(written):
    finished, _, read = written
    runs = read[str(finished / "variants")]["runs"]
    events = stored_events()
    (started,) = [e for e in events if isinstance(e, VariantStarted) and e.trial == "bn"]
    snapshots = {0: started.batchnorm} | {
        e.epoch: e.layers for e in events if isinstance(e, BatchNormSnapshot)
    }
    for trial in ("plain", "bn"):
        hparams = runs[f"{trial}/tensorboard"]["_hparams_/session_start_info"]
        assert hparams["plugin"] == "hparams" and hparams["group"].endswith(f"/{trial}")
        assert hparams["hparams"]["variant"] == "string_value"
        train = runs[f"{trial}/tensorboard/train"]
        assert train["epoch_loss"]["plugin"] == "scalars"
        assert train["epoch_loss"]["steps"] == [1, 2, 3, 4]
        assert runs[f"{trial}/tensorboard/validation"]["epoch_loss"]["plugin"] == "scalars"
    histograms = {
        tag: entry for tag, entry in runs["bn/tensorboard/train"].items() if "batchnorm/" in tag
    }
    assert len(histograms) == 4 and {e["plugin"] for e in histograms.values()} == {"histograms"}
    for tag, entry in histograms.items():
        _, layer, weight = tag.split("/")
        assert entry["steps"] == sorted(snapshots)
        for step, buckets in zip(entry["steps"], entry["values"], strict=True):
            values = snapshots[step][layer][weight]
            assert sum(row[2] for row in buckets) == len(values)
            assert buckets[0][0] == pytest.approx(min(values), rel=1e-6, abs=1e-7)
            assert buckets[-1][1] == pytest.approx(max(values), rel=1e-6, abs=1e-7)


def test_a_killed_writer_leaves_every_epoch_it_wrote(written):
    _, killed, read = written
    epochs = read[str(killed)]["epochs"]
    assert sorted((t.split("/")[-2], n) for t, n, _, _ in epochs) == [
        ("bn", 1),
        ("bn", 2),
        ("plain", 1),
        ("plain", 2),
    ]
    stored = {(e.trial, e.epoch): e.logs for e in stored_events() if isinstance(e, EpochEnded)}
    for trial, epoch, logs, _ in epochs:
        assert logs["val_loss"] == pytest.approx(stored[(trial.split("/")[-2], epoch)]["val_loss"])


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_a_jax_script_records_its_fit_with_tensorflow_blocked(tmp_path):
    from tuilab.runtime.run_folder import RunFolder
    from tuilab.runtime.tensorboard_read import read_tensorboard

    output = json.loads(
        without_tensorflow(SCRIPT, "runs", cwd=tmp_path, KERAS_BACKEND="jax").splitlines()[-1]
    )
    assert output["backend"] == "jax" and output["tensorflow"] is False
    assert output["interactive"] is True  # the script's own Keras settings are left alone
    folder = tmp_path / output["folder"]
    lines = (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert "tensorflow" not in events[0]["device"]
    epochs = [e for e in events if e["event"] == "epoch_ended"]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]
    history = output["history"]
    assert [e["logs"]["val_loss"] for e in epochs] == pytest.approx(history["val_loss"])
    assert events[-1]["event"] == "run_finished" and events[-1]["status"] == "finished"
    board = RunFolder(folder).tensorboard_dir("jax-script")
    read = [e for e in read_tensorboard(board) if isinstance(e, EpochEnded)]
    assert [e.epoch for e in read] == [1, 2, 3]
    assert [e.logs["val_loss"] for e in read] == pytest.approx(history["val_loss"], rel=1e-6)
    assert [e.logs["loss"] for e in read] == pytest.approx(history["loss"], rel=1e-6)


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_a_jax_script_on_two_devices_is_recorded_as_data_parallel(tmp_path):
    """The script sets Keras's DataParallel itself; the callback records what it trains with."""
    output = without_tensorflow(
        SCRIPT,
        "runs",
        "data_parallel",
        cwd=tmp_path,
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
    )
    output = json.loads(output.splitlines()[-1])
    lines = (tmp_path / output["folder"] / "events.jsonl").read_text(encoding="utf-8")
    events = [json.loads(line) for line in lines.splitlines()]
    (started,) = [e for e in events if e["event"] == "variant_started"]
    assert (started["strategy"], started["replicas"]) == ("data_parallel", 2)
    epochs = [e for e in events if e["event"] == "epoch_ended"]
    assert [e["logs"]["val_loss"] for e in epochs] == pytest.approx(output["history"]["val_loss"])
