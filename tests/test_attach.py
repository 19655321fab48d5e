"""Attach: a dashboard in one process follows and steers a run another process trains, through
every resume (`tuilab resume` goes on in the same folder, in a new process)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli import QUICK

from tuilab.app.app import create_app
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.runtime.events import EpochEnded, RunFinished, RunResumed, RunStarted
from tuilab.runtime.follow import EventFollower
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.store_files import cut_partial_line
from tuilab.runtime.stored import load_run

ONE_VARIANT = QUICK.replace(
    '[variants.b]\ncompile.optimizer = { type = "SGD", learning_rate = 0.1 }\n', ""
)
"""`QUICK` with variant `a` alone (Adam at its default rate, 0.001): one trial to resume."""


def start_headless(path: Path, runs: Path) -> tuple[subprocess.Popen, Path]:
    """A real headless run in its own process; returns it and its run folder once it trains."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tuilab", "run", str(path), "--headless", "--runs-dir", str(runs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list(runs.glob("scenario/*/variants/a/history.csv"))
        if found and len(found[0].read_text().splitlines()) > 2:
            return process, found[0].parent.parent.parent
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.2)
    process.kill()
    raise AssertionError("the headless run did not start training")


def tuilab(*args: str) -> subprocess.CompletedProcess:
    """The real command line, in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "tuilab", *args], capture_output=True, text=True, timeout=120
    )


def resume_headless(run: Path, runs: Path) -> subprocess.Popen:
    """`tuilab resume RUN --headless` in its own process."""
    return subprocess.Popen(
        [sys.executable, "-m", "tuilab", "resume", str(run), "--headless", "--runs-dir", str(runs)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop_headless(process: subprocess.Popen, run: Path, runs: Path) -> int:
    """Stop the run with `tuilab stop` (another process); the epochs it had stored."""
    sent = tuilab("stop", str(run), "--runs-dir", str(runs))
    assert sent.returncode == 0, sent.stderr
    assert process.wait(timeout=90) == 130, process.stderr.read()
    return stored_epochs(run)


def stored_epochs(run: Path, trial: str = "a") -> int:
    return load_run(run).book.trials[trial].epochs


def shown_epochs(screen: DashboardScreen, trial: str = "a") -> int:
    result = screen.state.book.trials.get(trial)
    return result.epochs if result else 0


async def until(pilot, condition, what: str, timeout: float = 120.0) -> None:
    """Let the app run until `condition()` holds (fails after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:.0f} s for: {what}"
        await pilot.pause(0.2)


def ended_after(lines: list[str], follower: EventFollower, folder: RunFolder) -> list[bool]:
    """Append each line to the run's events.jsonl and poll once after each: `ended` each time."""
    states = []
    for line in lines:
        with open(folder.events_jsonl, "a") as stream:
            stream.write(line)
        follower.poll()
        states.append(follower.ended)
    return states


def test_a_follower_reads_only_complete_new_lines(tmp_path):
    folder = RunFolder(tmp_path)
    folder.events_jsonl.write_text('{"event":"run_finished","status":"fini')
    follower = EventFollower(folder)
    assert follower.poll() == [] and follower.offset == 0  # a half-written line waits
    with open(folder.events_jsonl, "a") as stream:
        stream.write('shed","seconds":1.5}\n')
    events = follower.poll()
    assert [e.kind for e in events] == ["run_finished"] and follower.ended
    assert follower.poll() == []


async def test_attach_sees_epochs_arrive_and_stops_the_run_after_this_epoch(
    write_scenario, tmp_path
):
    path = write_scenario(QUICK.replace("epochs = 2", "epochs = 400"))
    process, run = start_headless(path, tmp_path)
    try:
        app = create_app(tmp_path, tmp_path, attach=run)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            assert isinstance(screen, DashboardScreen) and screen.attached is not None
            deadline = time.monotonic() + 60

            def epochs() -> int:
                trial = screen.state.book.trials.get("a")
                return trial.epochs if trial else 0

            while epochs() < 3 and time.monotonic() < deadline:
                await pilot.pause(0.2)
            seen = epochs()
            while epochs() <= seen and time.monotonic() < deadline:
                await pilot.pause(0.2)
            assert epochs() > seen >= 3  # epochs keep arriving live
            await pilot.press("e")  # stop after this epoch, sent to the other process
            assert process.wait(timeout=90) == 130
            while screen.running and time.monotonic() < deadline:
                await pilot.pause(0.2)
            assert not screen.running  # the run ended while attached: final state shown
            assert screen.state.book.status == "stopped"
    finally:
        if process.poll() is None:
            process.kill()
    assert json.loads((run / "run.json").read_text())["status"] == "stopped"
    lines = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    applied = [e for e in lines if e["event"] == "control_applied"]
    assert [e["action"] for e in applied] == ["stop_after_epoch"]


def test_a_follower_takes_the_last_start_or_end_it_reads_and_a_resume_cut(tmp_path):
    """What `tuilab resume` does to a run's log: after the first process's `run_finished`, a
    new process appends `run_resumed` (after cutting the half line a killed process left)."""
    folder = RunFolder(tmp_path)
    started = RunStarted("quick", "q.toml", ["a"], ["a"]).to_json() + "\n"
    epoch = EpochEnded("a", 1, {"loss": 0.5}, 0.001, 0.1).to_json() + "\n"
    stopped = RunFinished("stopped", 1.0).to_json() + "\n"
    resumed = RunResumed("quick", ["a"]).to_json() + "\n"
    folder.events_jsonl.write_text(started + epoch + stopped + resumed + epoch)
    follower = EventFollower(folder)
    kinds = [event.kind for event in follower.poll()]  # a stop and its resume in one read
    assert kinds == ["run_started", "epoch_ended", "run_finished", "run_resumed", "epoch_ended"]
    assert not follower.ended  # the resumed process trains: the run is live
    assert ended_after([stopped, resumed, epoch], follower, folder) == [True, False, False]
    with open(folder.events_jsonl, "a") as stream:  # a process killed mid-line
        stream.write(epoch[:20])
    assert follower.poll() == []
    cut_partial_line(folder.events_jsonl)  # the resume's own cut, then its appends
    with open(folder.events_jsonl, "a") as stream:
        stream.write(resumed + epoch)
    assert [event.kind for event in follower.poll()] == ["run_resumed", "epoch_ended"]
    assert follower.problems == [] and not follower.ended
    assert follower.offset == folder.events_jsonl.stat().st_size


async def test_attach_follows_a_run_through_its_resume_and_steers_the_resumed_process(
    write_scenario, tmp_path
):
    """Attached before the stop: the first process's end is shown, the resume goes live again
    (epochs past the stop point), and `h` then `e` reach the resumed process, which applies
    them; the final state is the one the run folder stores."""
    path = write_scenario(ONE_VARIANT.replace("epochs = 2", "epochs = 5000"))
    first, run = start_headless(path, tmp_path)
    resumed = None
    try:
        app = create_app(tmp_path, tmp_path, attach=run)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            await until(pilot, lambda: shown_epochs(screen) >= 3, "epochs of the first process")
            stopped_at = stop_headless(first, run, tmp_path)
            await until(pilot, lambda: not screen.running, "the first process's end")
            assert screen.state.book.status == "stopped" and shown_epochs(screen) == stopped_at
            assert not screen.check_action("halve_lr", ())  # nothing trains: no steering

            resumed = resume_headless(run, tmp_path)
            past = stopped_at + 3
            await until(pilot, lambda: shown_epochs(screen) > past, "epochs of the resume")
            assert screen.running and screen.check_action("halve_lr", ())
            await pilot.press("h")  # sent through the run's control folder
            await until(pilot, lambda: resumed_events(run, "learning_rate_changed"), "lr÷2")
            halved_at = shown_epochs(screen) + 1
            await until(pilot, lambda: shown_epochs(screen) > halved_at, "an epoch at lr÷2")
            rates = screen.state.curves.curves["a"].values["learning_rate"]
            assert rates[0] == pytest.approx(0.001) and rates[-1] == pytest.approx(0.0005)
            await pilot.press("e")  # stop after this epoch: the resumed process ends
            assert resumed.wait(timeout=90) == 130, resumed.stderr.read()
            await until(pilot, lambda: not screen.running, "the resumed process's end")
            stored = json.loads((run / "run.json").read_text())["status"]
            assert screen.state.book.status == stored == "stopped"
            assert shown_epochs(screen) == stored_epochs(run) > past
            assert not screen.check_action("halve_lr", ())
    finally:
        for process in (first, resumed):
            if process is not None and process.poll() is None:
                process.kill()
    (changed,) = resumed_events(run, "learning_rate_changed")  # by the resumed process
    assert changed["reason"] == "user" and changed["new"] == pytest.approx(changed["old"] / 2)
    applied = resumed_events(run, "control_applied")
    assert [e["action"] for e in applied] == ["stop_after_epoch"]


async def test_attach_to_a_resumed_run_follows_it_live_to_its_stored_end(write_scenario, tmp_path):
    """Attached after a resume: both processes' events read at once, then new epochs arrive
    until the resumed process finishes, and the dashboard shows the stored `finished`."""
    epochs = 250
    path = write_scenario(ONE_VARIANT.replace("epochs = 2", f"epochs = {epochs}"))
    first, run = start_headless(path, tmp_path)
    resumed = None
    try:
        stopped_at = stop_headless(first, run, tmp_path)
        resumed = resume_headless(run, tmp_path)
        deadline = time.monotonic() + 120
        while stored_epochs(run) <= stopped_at + 1 and time.monotonic() < deadline:
            assert resumed.poll() is None, resumed.stderr.read()
            time.sleep(0.2)
        app = create_app(tmp_path, tmp_path, attach=run)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            await until(pilot, lambda: shown_epochs(screen) > stopped_at + 1, "the first read")
            seen = shown_epochs(screen)
            await until(pilot, lambda: shown_epochs(screen) > seen + 2, "new epochs, live")
            assert screen.running and screen.check_action("stop", ())  # steerable
            await until(pilot, lambda: not screen.running, "the resumed process's end")
            assert resumed.wait(timeout=60) == 0
            stored = json.loads((run / "run.json").read_text())["status"]
            assert screen.state.book.status == stored == "finished"
            assert screen.state.book.trials["a"].status == "finished"
            assert shown_epochs(screen) == epochs
            assert "finished" in str(screen.query_one("#run-info").render())
    finally:
        for process in (first, resumed):
            if process is not None and process.poll() is None:
                process.kill()


def resumed_events(run: Path, kind: str) -> list[dict]:
    """The `kind` events the resumed process wrote (after its `run_resumed`)."""
    lines = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    starts = [i for i, line in enumerate(lines) if line["event"] == "run_resumed"]
    return [e for e in lines[starts[-1] :] if e["event"] == kind] if starts else []
