"""Resume: a run interrupted at epoch k and resumed ends as the same run uninterrupted.

Each equivalence test trains the reference once (in this process), then the same scenario in a
subprocess that is interrupted (a clean `tuilab stop`, SIGTERM, `kill -9`) after a few epochs,
then `tuilab resume`, and compares every trial's per-epoch history and test metrics.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.errors import RunStoreError
from tuilab.runtime.control_channel import send_request
from tuilab.runtime.events import (
    EpochEnded,
    LearningRateChanged,
    RunResumed,
    VariantResumed,
    VariantStarted,
)
from tuilab.runtime.resume import plan_resume
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.stored import load_run

RESUMABLE = """
[scenario]
name = "resumable"
seed = 3
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 32, activation = "relu" },
          { type = "Dropout", rate = 0.3 },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = 16
batch_size = 64
[[callbacks]]
type = "ReduceLROnPlateau"
monitor = "loss"
patience = 0
min_delta = 0.08
factor = 0.5
[[callbacks]]
type = "EarlyStopping"
monitor = "val_loss"
patience = 50
restore_best_weights = true
[variants.adam]
[variants.bn]
model.batchnorm = { position = "after", momentum = 0.5 }
"""
"""Dropout (seed state), BatchNorm (moving statistics), Adam (optimizer state), and a
ReduceLROnPlateau that halves the rate whenever the loss gains less than 0.08: it fires at
epochs 12, 14, 15 and 16 on TensorFlow and on JAX, after any resume point."""
EPOCHS = 16


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def history(folder: Path, trial: str) -> list[dict[str, float]]:
    with open(folder / "variants" / trial / "history.csv", newline="") as stream:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(stream)]


def results(folder: Path) -> dict:
    return json.loads((folder / "results.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The scenario trained without interruption."""
    root = tmp_path_factory.mktemp("reference")
    scenario = root / "resumable.toml"
    scenario.write_text(RESUMABLE)
    result = invoke("run", str(scenario), "--headless", "--runs-dir", str(root / "runs"))
    assert result.exit_code == 0, result.output
    (folder,) = (root / "runs" / "resumable").iterdir()
    return folder


def interrupted(tmp_path: Path, interrupt: str) -> Path:
    """Start the run in a subprocess, interrupt it after adam's second epoch, return its folder."""
    scenario = tmp_path / "resumable.toml"
    scenario.write_text(RESUMABLE)
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuilab",
            "run",
            str(scenario),
            "--headless",
            "--runs-dir",
            str(runs),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            logs = list(runs.glob("resumable/*/events.jsonl"))
            if logs and '"trial":"adam","epoch":2,' in logs[0].read_text():
                break
            assert process.poll() is None, process.stderr.read()
            time.sleep(0.01)
        else:
            raise AssertionError("the run did not reach its second epoch")
        folder = logs[0].parent
        if interrupt == "stop":  # frozen while asked, so a fast backend cannot finish first:
            process.send_signal(signal.SIGSTOP)
            send_request(folder, "stop")
            time.sleep(0.3)  # past the control thread's 0.2 s wait: it reads the request at once
            process.send_signal(signal.SIGCONT)
            expected = 130
        elif interrupt == "sigterm":
            process.send_signal(signal.SIGTERM)
            expected = 143
        else:
            process.kill()
            expected = -signal.SIGKILL
        assert process.wait(timeout=120) == expected
        if interrupt != "kill":  # a clean end says how to go on
            assert f"continue it with: tuilab resume {folder}" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
    return folder


@pytest.mark.parametrize("interrupt", ["stop", "sigterm", "kill"])
def test_a_resumed_run_ends_as_the_uninterrupted_run(reference, tmp_path, interrupt):
    folder = interrupted(tmp_path, interrupt)
    before = load_run(folder)
    assert before.status in ("stopped", "incomplete")
    assert before.book.trials["adam"].status != "finished"
    plan = plan_resume(RunFolder(folder))
    assert not plan.done  # adam was interrupted, bn never started

    result = invoke("resume", str(folder), "--headless")
    assert result.exit_code == 0, result.output
    assert "resuming resumable" in result.output

    for trial in ("adam", "bn"):
        expected, got = history(reference, trial), history(folder, trial)
        assert [row["epoch"] for row in got] == list(range(1, EPOCHS + 1))  # no repeats
        for want, have in zip(expected, got, strict=True):
            assert have == pytest.approx(want, rel=1e-5, abs=1e-6)
        test_want = results(reference)["trials"][trial]["test"]
        test_have = results(folder)["trials"][trial]["test"]
        assert test_have == pytest.approx(test_want, rel=1e-5, abs=1e-6)

    stored = load_run(folder)
    assert stored.status == "finished" and not stored.corrupt
    kinds = [e.kind for e in stored.events]
    ended_cleanly = interrupt != "kill"  # a stop or SIGTERM logs the end of the first part
    assert kinds.count("run_resumed") == 1
    assert kinds.count("run_finished") == (2 if ended_cleanly else 1)
    resumed = next(e for e in stored.events if isinstance(e, VariantResumed))
    assert resumed.trial == "adam" and resumed.from_epoch == plan.states["adam"].epoch >= 1
    after = stored.events[stored.events.index(resumed) :]
    changes = [
        (e.epoch, e.new, e.reason)
        for e in after
        if isinstance(e, LearningRateChanged) and e.trial == "adam"
    ]
    reference_changes = [
        (e.epoch, e.new, e.reason)
        for e in load_run(reference).events
        if isinstance(e, LearningRateChanged) and e.trial == "adam" and e.epoch > resumed.from_epoch
    ]
    assert changes and changes[0][2] == "ReduceLROnPlateau"  # the plateau fired after the resume
    assert [c[::2] for c in changes] == [c[::2] for c in reference_changes]  # epochs, reasons
    assert [c[1] for c in changes] == pytest.approx([c[1] for c in reference_changes], rel=1e-6)
    epochs = [e.epoch for e in stored.book._epochs["adam"]]
    assert epochs == list(range(1, EPOCHS + 1))
    assert not (folder / "variants" / "adam" / "resume").exists()  # finished: state dropped
    meta = json.loads((folder / "run.json").read_text())
    assert meta["status"] == "finished" and len(meta["resumed"]) == 1


# -- refusals ----------------------------------------------------------------------------------


def test_a_finished_run_has_nothing_to_resume(reference):
    result = invoke("resume", str(reference), "--headless")
    assert result.exit_code == 2
    assert "nothing to resume, every trial finished" in result.output


def test_a_live_run_is_not_resumed(reference, tmp_path):
    import shutil

    folder = tmp_path / "runs" / "resumable" / "live"
    shutil.copytree(reference, folder)
    meta = json.loads((folder / "run.json").read_text())
    meta.update(status="running", pid=os.getpid())
    (folder / "run.json").write_text(json.dumps(meta))
    (folder / "heartbeat").touch()
    result = invoke("resume", str(folder), "--headless")
    assert result.exit_code == 2
    assert "is still running" in result.output and "tuilab stop" in result.output


def test_a_corrupt_resume_state_is_named_and_nothing_is_written(reference, tmp_path):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(reference, folder)
    meta = json.loads((folder / "run.json").read_text())
    meta.update(status="stopped")
    (folder / "run.json").write_text(json.dumps(meta))
    lines = (folder / "events.jsonl").read_text().splitlines()
    cut = next(i for i, line in enumerate(lines) if '"variant_finished"' in line)
    (folder / "events.jsonl").write_text("\n".join(lines[:cut]) + "\n")  # adam unfinished
    state = folder / "variants" / "adam" / "resume"
    state.mkdir()
    (state / "state.json").write_text('{"version": 1, "trial": "adam", "epoch": "3"}')
    before = (folder / "events.jsonl").read_bytes()
    result = invoke("resume", str(folder), "--headless")
    assert result.exit_code == 2
    assert "state.json is not a valid resume state" in result.output
    assert (folder / "events.jsonl").read_bytes() == before
    assert json.loads((folder / "run.json").read_text())["status"] == "stopped"


def test_a_run_stopped_for_good_is_not_resumed(reference, tmp_path):
    import shutil

    from tuilab.runtime.resume import forget_resume

    folder = tmp_path / "run"
    shutil.copytree(reference, folder)
    forget_resume(RunFolder(folder), "stopped for good from the app")
    with pytest.raises(RunStoreError, match="stopped for good"):
        plan_resume(RunFolder(folder))


# -- the store and the results read a resumed trial as one ------------------------------------


def test_epochs_logged_after_the_saved_state_are_superseded(tmp_path):
    """Killed between logging epoch 3 and saving it: resumed from 2, epoch 3 is trained again."""
    from tuilab.runtime.results import ResultsBook
    from tuilab.runtime.store import RunStore

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(
        json.dumps({"scenario": "s", "stem": "s", "variants": ["a"], "status": "running"})
    )
    store = RunStore(folder)
    started = VariantStarted("a", "a", 1, 1, 5, 10, 32)
    first = [EpochEnded("a", e, {"loss": 1.0 / e}, 0.01, 1.0) for e in (1, 2, 3)]
    for event in (started, *first):
        store.handle(event)
    store.close()
    with open(folder / "events.jsonl", "a") as stream:
        stream.write('{"event":"epoch_ended","tri')  # cut by the kill

    store = RunStore.reopen(folder)
    second = [
        RunResumed("s", ["a"]),
        VariantResumed("a", "a", 1, 1, 5, 2, 10, 32, 0.01),
        EpochEnded("a", 3, {"loss": 0.5}, 0.01, 1.0),
    ]
    for event in second:
        store.handle(event)
    store.mark_ended("stopped")
    rows = history(folder, "a")
    assert [(r["epoch"], r["loss"]) for r in rows] == [(1, 1.0), (2, 0.5), (3, 0.5)]
    stored = load_run(folder)
    assert not stored.corrupt  # the half line was cut before appending
    book = ResultsBook()
    for event in stored.events:
        book.handle(event)
    trial = book.trials["a"]
    assert trial.epochs == 3 and trial.final == {"loss": 0.5}
    assert [e.epoch for e in book._epochs["a"]] == [1, 2, 3]


async def test_the_app_resumes_a_run_and_shows_it_as_one(reference, tmp_path):
    from tuilab.app.app import create_app
    from tuilab.app.screens.dashboard import DashboardScreen
    from tuilab.runtime.session import RunRequest

    folder = interrupted(tmp_path, "sigterm")
    request = RunRequest(folder / "scenario.toml", runs_dir=tmp_path / "runs", resume=folder)
    app = create_app(tmp_path, tmp_path / "runs", run=request)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        assert screen.sub_title == f"resuming resumable/{folder.name}"
        deadline = time.monotonic() + 120
        while (screen.running or not screen.state.book.trials) and time.monotonic() < deadline:
            await pilot.pause(0.2)
        book = screen.state.book
        assert book.status == "finished"
        for trial in ("adam", "bn"):
            assert book.trials[trial].epochs == EPOCHS
            assert screen.state.curves.curves[trial].epochs == list(range(1, EPOCHS + 1))
            want = results(reference)["trials"][trial]["test"]
            assert book.trials[trial].test == pytest.approx(want, rel=1e-5, abs=1e-6)
        lines = [line for _, line in screen.state.lines]
        assert any(line.startswith("run resumed: resumable (2 trial(s) to go)") for line in lines)
        assert any(line.startswith("adam: resumed after epoch ") for line in lines)
        assert not screen.check_action("rerun", ())  # nothing to rerun from: no scenario file


def test_latest_means_the_newest_run_that_can_resume(reference, tmp_path):
    import shutil

    from tuilab.runtime.run_listing import find_run

    root = tmp_path / "runs"
    older, newer = root / "resumable" / "20000101-000000", root / "resumable" / "20990101-000000"
    shutil.copytree(reference, older)
    shutil.copytree(reference, newer)  # finished
    meta = json.loads((older / "run.json").read_text())
    meta.update(status="stopped")
    (older / "run.json").write_text(json.dumps(meta))
    assert find_run(root, "latest").path == newer
    resumable = ("stopped", "incomplete", "failed")
    assert find_run(root, "latest", statuses=resumable).path == older
    assert find_run(root, "resumable", statuses=resumable).path == older
    assert find_run(root, "latest", statuses=("running",)).path == newer  # none: the newest


def test_a_failed_trial_starts_again_and_a_finished_one_is_kept(reference, tmp_path):
    """bn failed in its fourth epoch (no resume state kept): it trains again from epoch 1."""
    import shutil

    folder = tmp_path / "runs" / "resumable" / "failed"
    shutil.copytree(reference, folder)
    lines = (folder / "events.jsonl").read_text().splitlines()
    bn_epochs = [i for i, line in enumerate(lines) if '"trial":"bn","epoch":3,' in line]
    failed = {
        "event": "variant_failed",
        "trial": "bn",
        "variant": "bn",
        "reason": "loss became nan at epoch 4 batch 2",
        "epoch": 4,
    }
    kept = [*lines[: bn_epochs[-1] + 1], json.dumps(failed)]
    kept.append(json.dumps({"event": "run_finished", "status": "failed", "seconds": 1.0}))
    (folder / "events.jsonl").write_text("\n".join(kept) + "\n")
    meta = json.loads((folder / "run.json").read_text())
    meta.update(status="failed")
    (folder / "run.json").write_text(json.dumps(meta))
    adam_model = (folder / "variants" / "adam" / "model.keras").stat().st_mtime_ns

    result = invoke("resume", str(folder), "--headless")
    assert result.exit_code == 0, result.output
    assert "bn: start, seed 3" in result.output and "adam: start" not in result.output
    assert (folder / "variants" / "adam" / "model.keras").stat().st_mtime_ns == adam_model
    for trial in ("adam", "bn"):
        assert results(folder)["trials"][trial]["test"] == pytest.approx(
            results(reference)["trials"][trial]["test"], rel=1e-5, abs=1e-6
        )
    got = history(folder, "bn")
    assert [row["epoch"] for row in got] == list(range(1, EPOCHS + 1))
    assert got == pytest.approx(history(reference, "bn"), rel=1e-5, abs=1e-6)
    assert load_run(folder).book.trials["bn"].status == "finished"
