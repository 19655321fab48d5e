"""The command line: exit codes, JSON output, import discipline, stored-run commands."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FASHION_DEBIAN, ROOT
from typer.testing import CliRunner

from tuilab.cli import app

QUICK = """
[scenario]
name = "quick"
seed = 1
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 16, activation = "relu" },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = 2
batch_size = 64
[variants.a]
[variants.b]
compile.optimizer = { type = "SGD", learning_rate = 0.1 }
"""


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_help_imports_neither_tensorflow_nor_textual():
    code = (
        "import sys; from typer.testing import CliRunner; from tuilab.cli import app; "
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output; "
        "import tuilab.headless.run_cmd, tuilab.headless.render, tuilab.headless.store_cmds; "
        "bad = [m for m in ('tensorflow', 'keras', 'textual') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_validate_exit_codes(write_scenario):
    good = write_scenario(QUICK, "good.toml")
    result = invoke("validate", str(good))
    assert result.exit_code == 0 and "ok" in result.output and "2 variant(s): a, b" in result.output
    bad = write_scenario(QUICK.replace('"Dense", units = 16', '"Dense", unit = 16'), "bad.toml")
    result = invoke("validate", str(good), str(bad))
    assert result.exit_code == 2
    assert "model.layers[0].unit: Dense has no argument 'unit'" in result.output
    assert "Traceback" not in result.output


def test_shipped_scenarios_validate():
    result = invoke("validate", str(ROOT / "scenarios"))
    assert result.exit_code == 0, result.output


def test_summary_prints_keras_counts(write_scenario):
    result = invoke("summary", str(write_scenario(QUICK)), "--variant", "a")
    assert result.exit_code == 0
    assert "Total params: 1,210" in result.output and "variant a" in result.output
    assert "variant b" not in result.output
    assert invoke("summary", str(write_scenario(QUICK)), "--variant", "zz").exit_code == 2


def test_run_json_is_one_event_per_line(write_scenario, tmp_path):
    result = invoke("run", str(write_scenario(QUICK)), "--json", "--runs-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_finished"
    assert sum(e["event"] == "epoch_ended" for e in events) == 4
    stored = next(iter((tmp_path / "scenario").iterdir())) / "events.jsonl"
    stored_kinds = [json.loads(line)["event"] for line in stored.read_text().splitlines()]
    assert stored_kinds == [e["event"] for e in events if e["event"] != "batch_progress"]


def test_run_store_layout_and_listing(write_scenario, tmp_path):
    result = invoke(
        "run",
        str(write_scenario(QUICK)),
        "--headless",
        "--runs-dir",
        str(tmp_path),
        "--set",
        "fit.epochs=3",
    )
    assert result.exit_code == 0, result.output
    assert "Results" in result.output and "epoch 3:" in result.output
    run = next((tmp_path / "scenario").iterdir())
    for name in ("run.json", "scenario.toml", "resolved.json", "events.jsonl", "results.json"):
        assert (run / name).is_file(), name
    with open(run / "variants" / "a" / "history.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]  # 1-based, as in the events
    assert set(rows[0]) == {
        "epoch",
        "accuracy",
        "loss",
        "val_accuracy",
        "val_loss",
        "learning_rate",
    }
    assert (run / "variants" / "b" / "model.keras").is_file()
    results = json.loads((run / "results.json").read_text())
    assert results["status"] == "finished"
    for trial in ("a", "b"):
        entry = results["trials"][trial]
        assert entry["status"] == "finished" and entry["epochs"] == 3
        assert {"loss", "accuracy"} <= set(entry["test"]) and entry["seconds"] > 0
        assert "val_accuracy" in entry["best"]
    resolved = json.loads((run / "resolved.json").read_text())
    assert resolved["overrides"] == ["fit.epochs=3"]
    assert resolved["variants"]["b"]["fit"]["epochs"] == 3
    listing = invoke("runs", "--runs-dir", str(tmp_path))
    assert "finished" in listing.output and "quick" in listing.output
    shown = invoke("show", "latest", "--runs-dir", str(tmp_path))
    assert shown.exit_code == 0 and "Results" in shown.output


def test_compare_and_report(write_scenario, tmp_path):
    path = write_scenario(QUICK)
    assert invoke("run", str(path), "--json", "--runs-dir", str(tmp_path)).exit_code == 0
    assert (
        invoke(
            "run",
            str(path),
            "--json",
            "--runs-dir",
            str(tmp_path),
            "--set",
            "variants.b.fit.epochs=1",
            "--variant",
            "b",
        ).exit_code
        == 0
    )
    runs = sorted(p.name for p in (tmp_path / "scenario").iterdir())
    result = invoke("compare", f"{runs[0]}:b", f"{runs[1]}:b", "--runs-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "fit.epochs" in result.output and "identical in every selection" in result.output
    report = invoke("report", runs[0], "--runs-dir", str(tmp_path), "--format", "md")
    assert "## Results" in report.output and "compile.optimizer" in report.output
    table = invoke("report", runs[0], "--runs-dir", str(tmp_path), "--format", "csv")
    rows = list(csv.DictReader(table.output.splitlines()))
    assert [r["trial"] for r in rows] == ["a", "b"] and float(rows[0]["test_accuracy"]) > 0
    assert invoke("show", "nope", "--runs-dir", str(tmp_path)).exit_code == 2


def test_failed_variant_exits_1_and_bad_input_exits_2_with_nothing_stored(write_scenario, tmp_path):
    diverging = (
        QUICK
        + """
[variants.c]
model.layers = [{ type = "Dense", units = 32, activation = "relu" }, { type = "Dense", units = 10 }]
compile.optimizer = { type = "SGD", learning_rate = 1e12 }
compile.loss = { type = "SparseCategoricalCrossentropy", from_logits = true }
"""
    )
    result = invoke(
        "run", str(write_scenario(diverging)), "--headless", "--runs-dir", str(tmp_path / "r1")
    )
    assert result.exit_code == 1 and "FAILED: loss became nan" in result.output
    bad = write_scenario(QUICK.replace("epochs = 2", "epochs = -1"), "bad.toml")
    result = invoke("run", str(bad), "--headless", "--runs-dir", str(tmp_path / "r2"))
    assert result.exit_code == 2 and "fit.epochs" in result.output
    missing = write_scenario(
        QUICK.replace('"digits"', '"cifar10"').replace("flatten = true", "flatten = true"),
        "missing.toml",
    )
    result = invoke("run", str(missing), "--headless", "--runs-dir", str(tmp_path / "r3"))
    assert result.exit_code == 2 and "dataset 'cifar10' not found" in result.output
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()


@pytest.mark.skipif(not FASHION_DEBIAN.is_dir(), reason="apt-get install dataset-fashion-mnist")
def test_fashion_mnist_mlp_reaches_the_seed_accuracy(write_scenario, tmp_path):
    text = """
[scenario]
seed = 1
[data]
dataset = "fashion_mnist"
normalize = "scale"
flatten = true
validation_split = 0.3
[model]
layers = [{ type = "Dense", units = 40, activation = "relu" },
          { type = "Dense", units = 40, activation = "relu" },
          { type = "Dense", units = 40, activation = "relu" },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = 3
batch_size = 50
"""
    result = invoke("run", str(write_scenario(text)), "--json", "--no-store")
    assert result.exit_code == 0, result.output
    finished = [json.loads(x) for x in result.stdout.splitlines() if "variant_finished" in x]
    assert finished[0]["test"]["accuracy"] >= 0.84


def tuilab(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tuilab", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_for_epochs(history: Path, count: int, process: subprocess.Popen) -> None:
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if history.is_file() and len(history.read_text().splitlines()) > count:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    raise AssertionError("training did not reach the expected epoch")


@pytest.mark.parametrize(
    ("signal_name", "code"), [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)]
)
def test_signals_stop_cleanly_and_keep_results(write_scenario, tmp_path, signal_name, code):
    import signal

    path = write_scenario(QUICK.replace("epochs = 2", "epochs = 500"))
    process = tuilab("run", str(path), "--headless", "--runs-dir", str(tmp_path))
    history = None
    for _ in range(600):
        found = list(tmp_path.glob("scenario/*/variants/a/history.csv"))
        if found:
            history = found[0]
            break
        import time

        time.sleep(0.1)
    assert history is not None
    wait_for_epochs(history, 2, process)
    process.send_signal(getattr(signal, signal_name))
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    run = history.parent.parent.parent
    assert json.loads((run / "run.json").read_text())["status"] == "stopped"
    assert json.loads((run / "results.json").read_text())["trials"]["a"]["status"] == "stopped"
    assert "stopped" in invoke("runs", "--runs-dir", str(tmp_path)).output


def test_kill_9_leaves_readable_epochs_and_an_incomplete_run(write_scenario, tmp_path):
    path = write_scenario(QUICK.replace("epochs = 2", "epochs = 500"))
    process = tuilab("run", str(path), "--headless", "--runs-dir", str(tmp_path))
    import time

    for _ in range(600):
        found = list(tmp_path.glob("scenario/*/variants/a/history.csv"))
        if found:
            break
        time.sleep(0.1)
    history = found[0]
    wait_for_epochs(history, 3, process)
    process.kill()
    process.communicate()
    with open(history, newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) >= 3 and all(r["loss"] for r in rows)
    listing = invoke("runs", "--runs-dir", str(tmp_path))
    assert "incomplete" in listing.output
    from tuilab.runtime.stored import load_run

    book = load_run(history.parent.parent.parent).book
    assert book.status == "incomplete" and book.trials["a"].epochs >= 3


def test_unwritable_runs_folder_and_full_disk_fail_before_training(
    write_scenario, tmp_path, monkeypatch
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = invoke(
        "run", str(write_scenario(QUICK)), "--headless", "--runs-dir", str(blocker / "runs")
    )
    assert result.exit_code == 2 and "is not writable" in result.output
    assert "epoch 1" not in result.output
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr("tuilab.runtime.store.shutil.disk_usage", lambda path: usage(1, 1, 1000))
    result = invoke(
        "run", str(write_scenario(QUICK)), "--headless", "--runs-dir", str(tmp_path / "runs")
    )
    assert result.exit_code == 2 and "only 0 MB free" in result.output
    assert not list((tmp_path / "runs").glob("*/*"))


def test_a_failing_user_callback_fails_its_variant_only(write_scenario, tmp_path):
    text = (
        QUICK
        + """
[variants.c]
callbacks = [{ type = "ModelCheckpoint", filepath = "model-{no_such_metric}.keras" }]
"""
    )
    result = invoke("run", str(write_scenario(text)), "--json", "--runs-dir", str(tmp_path))
    assert result.exit_code == 1
    events = [json.loads(line) for line in result.stdout.splitlines()]
    failed = [e for e in events if e["event"] == "variant_failed"]
    assert [e["trial"] for e in failed] == ["c"] and "no_such_metric" in failed[0]["reason"]
    finished = {e["trial"] for e in events if e["event"] == "variant_finished"}
    assert finished == {"a", "b"}


def test_out_of_memory_advice_names_the_batch_size(write_scenario):
    import tensorflow as tf

    from tuilab.runtime.failures import describe_failure

    config = next(
        iter(
            __import__("tuilab.scenario", fromlist=["x"])
            .load_scenario(write_scenario(QUICK))
            .variants.values()
        )
    )
    error = tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")
    message = describe_failure(error, config)
    assert message.startswith("out of memory") and "smaller batch size than 64" in message


def test_the_runs_dir_before_the_command_is_the_commands_runs_dir(tmp_path, monkeypatch):
    """`tuilab --runs-dir D show latest` looked in ./runs; it means `show latest --runs-dir D`."""
    monkeypatch.chdir(tmp_path)
    for where in ("first", "second"):
        (tmp_path / where).mkdir()
    before = CliRunner().invoke(app, ["--runs-dir", "first", "runs"])
    assert before.exit_code == 0
    shown = CliRunner().invoke(app, ["--runs-dir", "first", "show", "latest"])
    assert shown.exit_code == 2 and "under first" in shown.output, shown.output
    given = CliRunner().invoke(
        app, ["--runs-dir", "first", "show", "latest", "--runs-dir", "second"]
    )
    assert "under second" in given.output  # the command's own option wins
