"""Faults from outside: a full disk, a vanished terminal, signals, internal errors.

Each is caused for real where the operating system allows it (a file-size limit makes writes
fail as a full disk does; tmux is killed; signals are sent), and each must end with the run
stored under a final status and every finished epoch kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_cli import QUICK

from tuilab.app.app import create_app
from tuilab.app.screens.dashboard import DashboardScreen


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_mid_run_ends_it_failed_and_keeps_the_finished_epochs(write_scenario, tmp_path):
    text = QUICK.replace("epochs = 2", "epochs = 400").replace(
        '{ type = "Dense", units = 16, activation = "relu" }',
        '{ type = "Dense", units = 16, activation = "relu", batchnorm = { position = "after" } }',
    )
    path = write_scenario(text)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "tuilab",
            "run",
            str(path),
            "--headless",
            "--runs-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        preexec_fn=_limit_file_size(60_000),
        env={**os.environ, "TUILAB_OFFLINE": "1"},
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "cannot write the run folder" in result.stderr and "File too large" in result.stderr
    run = next(tmp_path.glob("scenario/*"))
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "failed" and "File too large" in meta["reason"]
    rows = (run / "variants" / "a" / "history.csv").read_text().splitlines()
    assert len(rows) > 2  # the epochs finished before the disk filled are kept


def _start_app_in_tmux(path: Path, runs: Path, session: str) -> Path:
    command = f"{sys.executable} -m tuilab run {path} --runs-dir {runs}"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", command], check=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = list(runs.glob("scenario/*/variants/a/history.csv"))
        if found and len(found[0].read_text().splitlines()) > 2:
            return found[0].parent.parent.parent
        time.sleep(0.2)
    raise AssertionError("the app did not start training")


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (CI installs it)")
def test_killing_the_tmux_server_stops_the_run_and_ends_the_process(write_scenario, tmp_path):
    path = write_scenario(QUICK.replace("epochs = 2", "epochs = 500"))
    socket_name = f"tuilab-test-{os.getpid()}"
    os.environ["TMUX_TMPDIR"] = str(tmp_path)
    try:
        run = _start_app_in_tmux(path, tmp_path, socket_name)
        pid = json.loads((run / "run.json").read_text())["pid"]
        subprocess.run(["tmux", "kill-server"], check=False)
        assert _wait_gone(pid, 90), "the app outlived its terminal"
    finally:
        subprocess.run(["tmux", "kill-server"], check=False, capture_output=True)
        os.environ.pop("TMUX_TMPDIR", None)
    meta = json.loads((run / "run.json").read_text())
    assert meta["status"] == "stopped"
    assert json.loads((run / "results.json").read_text())["trials"]["a"]["status"] == "stopped"


@pytest.mark.parametrize(
    ("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)]
)
def test_a_signal_to_the_app_stops_training_keeps_results_and_exits(
    write_scenario, tmp_path, signum, code
):
    """The real app in a pseudo-terminal, as over SSH: SIGTERM or SIGHUP as when the session
    dies, SIGINT as `kill -INT` from another shell. It stops cleanly instead of vanishing."""
    import pty

    path = write_scenario(QUICK.replace("epochs = 2", "epochs = 500"))
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tuilab", "run", str(path), "--runs-dir", str(tmp_path)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env=env,
        close_fds=True,
    )
    os.close(follower)
    os.set_blocking(leader, False)
    deadline = time.monotonic() + 120
    history = None
    while time.monotonic() < deadline and history is None:
        found = list(tmp_path.glob("scenario/*/variants/a/history.csv"))
        if found and len(found[0].read_text().splitlines()) > 2:
            history = found[0]
        with contextlib.suppress(OSError):
            os.read(leader, 65536)
        time.sleep(0.1)
    assert history is not None, "the app did not start training"
    process.send_signal(signum)
    while process.poll() is None and time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            os.read(leader, 65536)
        time.sleep(0.05)
    assert process.wait(timeout=60) == code
    os.close(leader)
    run = history.parent.parent.parent
    assert json.loads((run / "run.json").read_text())["status"] == "stopped"
    assert json.loads((run / "results.json").read_text())["trials"]["a"]["status"] == "stopped"


async def test_an_internal_error_in_the_app_ends_the_run_failed_not_running(
    write_scenario, tmp_path, monkeypatch
):
    def broken_run(self) -> str:
        self.sink(__import__("tuilab.runtime.events", fromlist=["x"]).RunFinished)  # not an event
        return "finished"

    monkeypatch.setattr("tuilab.runtime.runner.Runner.run", broken_run)
    path = write_scenario(QUICK)
    app = create_app(path.parent, tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        deadline = time.monotonic() + 90
        while screen.running and time.monotonic() < deadline:
            await pilot.pause(0.2)
        assert not screen.running
    meta = json.loads(next((tmp_path / "runs").glob("*/*/run.json")).read_text())
    assert meta["status"] == "failed" and meta["reason"].startswith("internal error:")


def test_an_error_while_evaluating_fails_that_trial_only(write_scenario, tmp_path, monkeypatch):
    import keras

    real = keras.Model.evaluate
    calls = []

    def evaluate(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("test labels do not fit")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(keras.Model, "evaluate", evaluate)
    from typer.testing import CliRunner

    from tuilab.cli import app

    result = CliRunner().invoke(
        app, ["run", str(write_scenario(QUICK)), "--json", "--runs-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    events = [json.loads(line) for line in result.stdout.splitlines()]
    failed = [e for e in events if e["event"] == "variant_failed"]
    assert [(e["trial"], e["reason"]) for e in failed] == [
        ("a", "ValueError: test labels do not fit")
    ]
    assert [e["trial"] for e in events if e["event"] == "variant_finished"] == ["b"]
    meta = json.loads(next(tmp_path.glob("*/*/run.json")).read_text())
    assert meta["status"] == "failed"
    results = json.loads(next(tmp_path.glob("*/*/results.json")).read_text())
    assert results["status"] == "failed" and results["trials"]["b"]["status"] == "finished"


def test_a_tensorflow_graph_error_is_reported_by_its_real_line(write_scenario):
    """Keras raises `Graph execution error:` followed by a traceback; the reason is the line
    that says what went wrong, not the cut first line."""
    import keras
    import numpy as np

    from tuilab.runtime.failures import describe_failure
    from tuilab.scenario import load_scenario

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy")
    with pytest.raises(Exception) as caught:
        model.evaluate(np.zeros((8, 4), "float32"), np.full(8, 7), verbose=0)
    assert str(caught.value).startswith("Graph execution error")
    config = next(iter(load_scenario(write_scenario(QUICK)).variants.values()))
    reason = describe_failure(caught.value, config)
    assert reason.startswith("InvalidArgumentError: ") and "label value of 7" in reason
    assert "Graph execution error" not in reason


def test_an_autograph_error_is_reported_by_its_real_line(write_scenario):
    """AutoGraph raises `in user code:`, the traced lines, then the error, indented."""
    import tensorflow as tf

    from tuilab.runtime.failures import describe_failure
    from tuilab.scenario import load_scenario

    def needs_a_python_bool(x: tf.Tensor) -> tf.Tensor:
        return tf.constant(1) if bool(x > 0) else tf.constant(0)

    with pytest.raises(Exception) as caught:
        tf.data.Dataset.range(3).map(needs_a_python_bool)
    assert str(caught.value).startswith("in user code:")
    config = next(iter(load_scenario(write_scenario(QUICK)).variants.values()))
    reason = describe_failure(caught.value, config)
    assert reason.startswith("OperatorNotAllowedInGraphError: Using a symbolic `tf.Tensor`")
