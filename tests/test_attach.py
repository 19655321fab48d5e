"""Attach: a dashboard in one process follows and steers a run another process trains."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from test_cli import QUICK

from tuilab.app.app import create_app
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.runtime.follow import EventFollower
from tuilab.runtime.run_folder import RunFolder


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
