"""Steering a run that another process trains: `tuilab stop`, `lr`, `checkpoint` and the
run's control folder, against real headless runs in subprocesses."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from test_cli import QUICK
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.runtime.control import RunControl
from tuilab.runtime.control_channel import (
    ABANDONED_SECONDS,
    MAX_REPORTED,
    ControlChannel,
    ControlRequest,
)

LONG = QUICK[: QUICK.index("[variants.a]")].replace("epochs = 2", "epochs = 5000")
"""The quick scenario, long enough to steer while it trains, without its variants."""


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def wait_for(check: Callable[[], object], process: subprocess.Popen | None, what: str) -> object:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if process is not None:
            assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def events(run: Path, kind: str) -> list[dict]:
    lines = (run / "events.jsonl").read_text().splitlines()
    found = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:  # a line being written
            continue
        if event["event"] == kind:
            found.append(event)
    return found


def history(run: Path) -> list[dict[str, str]]:
    path = run / "variants" / "default" / "history.csv"
    if not path.is_file():
        return []
    text = path.read_text()
    complete = text[: text.rfind("\n") + 1]  # a row being written is not read
    return list(csv.DictReader(complete.splitlines()))


def start(write_scenario, tmp_path: Path, text: str = LONG) -> tuple[subprocess.Popen, Path]:
    """A headless run in its own process, once it has stored two epochs."""
    scenario = write_scenario(text)
    runs = tmp_path / "runs"
    process = subprocess.Popen(
        [sys.executable, "-m", "tuilab", "run", str(scenario), "--headless", "--runs-dir", runs],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    run = wait_for(lambda: next(iter(runs.glob("*/*/run.json")), None), process, "run.json")
    folder = Path(str(run)).parent
    wait_for(lambda: len(history(folder)) >= 2, process, "two epochs")
    return process, folder


def finish(process: subprocess.Popen) -> tuple[int, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out + err


def test_lr_checkpoint_and_stop_after_epoch_steer_a_headless_run(write_scenario, tmp_path):
    process, run = start(write_scenario, tmp_path)
    runs = str(tmp_path / "runs")
    try:
        control = run / "control"
        assert stat.S_IMODE(control.stat().st_mode) == 0o700

        result = invoke("lr", "latest", "--scale", "0.5", "--runs-dir", runs)
        assert result.exit_code == 0, result.output
        assert f"sent: scale the learning rate by 0.5 to scenario/{run.name} (" in result.output
        assert "has not read it" not in result.output
        change = wait_for(lambda: events(run, "learning_rate_changed"), process, "the new rate")
        change = change[0]
        assert change["reason"] == "user" and change["new"] == pytest.approx(change["old"] / 2)
        at = change["epoch"]
        rows = wait_for(lambda: [r for r in history(run) if int(r["epoch"]) > at + 1], process, "")
        before = [float(r["learning_rate"]) for r in history(run) if int(r["epoch"]) < at]
        assert before and all(rate == pytest.approx(change["old"]) for rate in before)
        assert all(float(r["learning_rate"]) == pytest.approx(change["new"]) for r in rows)

        result = invoke("checkpoint", f"scenario/{run.name}", "--runs-dir", runs)
        assert result.exit_code == 0 and "sent: checkpoint to" in result.output
        saved = wait_for(lambda: events(run, "control_applied"), process, "the checkpoint")[0]
        assert saved["action"] == "checkpoint"
        assert Path(saved["detail"]).is_file()
        assert Path(saved["detail"]).parent == run / "variants" / "default"

        result = invoke("stop", str(run), "--after-epoch", "--runs-dir", runs)
        assert result.exit_code == 0
        assert f"sent: stop after this epoch to scenario/{run.name}" in result.output
        code, output = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 130, output
    assert json.loads((run / "run.json").read_text())["status"] == "stopped"
    finished = events(run, "variant_finished")[0]
    assert finished["status"] == "stopped" and "accuracy" in finished["test"]
    assert finished["epochs"] == len(history(run)) < 5000
    assert (run / "variants" / "default" / "model.keras").is_file()
    assert list(control.iterdir()) == []


def _request(**fields: object) -> bytes:
    return json.dumps({"sent": "2026-11-23T20:15:00", "pid": 1, **fields}).encode()


HOSTILE = {
    "01-garbage.json": (b"\x00\xff\xfe not json at all", "not JSON"),
    "02-unknown.json": (_request(action="explode"), "unknown action 'explode'"),
    "03-negative.json": (_request(action="scale_lr", factor=-1), "positive finite factor"),
    "04-nan.json": (
        b'{"action":"scale_lr","factor":NaN,"sent":"2026-11-23T20:15:00","pid":1}',
        "factor: Input should be a finite number",
    ),
    "05-text.json": (_request(action="scale_lr", factor="x"), "factor: Input should be a valid"),
    "06-huge.json": (b"{" + b" " * (1024 * 1024) + b"}", "larger than 4 KB"),
    "07-extra.json": (_request(action="stop", run="rm -rf"), "run: Extra inputs"),
    "08-bool-pid.json": (_request(action="checkpoint", pid=True), "pid: Input should be"),
    "09-factor-on-stop.json": (_request(action="stop", factor=2), "stop takes no factor"),
}


def test_malformed_requests_are_refused_and_the_run_goes_on(write_scenario, tmp_path):
    passwd = Path("/etc/passwd")
    passwd_before = (passwd.read_bytes(), passwd.stat().st_mtime_ns)
    process, run = start(write_scenario, tmp_path)
    control = run / "control"
    runs = str(tmp_path / "runs")
    try:
        for name, (data, _) in HOSTILE.items():
            hidden = control / f".{name}"
            hidden.write_bytes(data)
            hidden.rename(control / name)
        (control / "10-link.json").symlink_to(passwd)
        os.mkfifo(control / "11-fifo.json")
        (control / "12-folder").mkdir()
        refused = wait_for(
            lambda: len(found := events(run, "control_refused")) >= len(HOSTILE) + 3 and found,
            process,
            "every refusal",
        )
        reasons = {e["reason"].split(":")[0]: e["reason"] for e in refused}
        for name, (_, reason) in HOSTILE.items():
            assert reason in reasons[name], reasons[name]
        assert "symbolic link" in reasons["10-link.json"]
        assert "not a regular file" in reasons["11-fifo.json"]
        assert "a folder" in reasons["12-folder"]
        assert all(e["trial"] == "default" for e in refused)
        assert list(control.iterdir()) == []
        assert (passwd.read_bytes(), passwd.stat().st_mtime_ns) == passwd_before
        epochs = len(history(run))
        wait_for(lambda: len(history(run)) > epochs + 2, process, "more epochs")

        # a control folder others can write into is refused on both sides
        control.chmod(0o777)
        result = invoke("stop", "latest", "--runs-dir", runs)
        assert result.exit_code == 2 and "is writable by other users" in result.output
        wait_for(
            lambda: any("requests ignored" in e["reason"] for e in events(run, "control_refused")),
            process,
            "the channel's warning",
        )
        control.chmod(0o700)
        result = invoke("stop", "latest", "--runs-dir", runs)
        assert result.exit_code == 0 and "sent: stop to" in result.output
        code, output = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 130, output
    assert "control request refused: 02-unknown.json: unknown action 'explode'" in output
    assert output.count("control request refused:") == len(HOSTILE) + 4
    assert json.loads((run / "run.json").read_text())["status"] == "stopped"
    assert events(run, "control_applied")[-1]["action"] == "stop"


def test_steering_a_run_that_is_not_running_exits_2(write_scenario, tmp_path):
    runs = str(tmp_path / "runs")
    scenario = write_scenario(LONG.replace("epochs = 5000", "epochs = 1"))
    assert invoke("run", str(scenario), "--headless", "--runs-dir", runs).exit_code == 0
    result = invoke("stop", "latest", "--runs-dir", runs)
    assert result.exit_code == 2 and "is not running (finished)" in result.output
    assert "Traceback" not in result.output
    result = invoke("checkpoint", "nope", "--runs-dir", runs)
    assert result.exit_code == 2 and "no stored run 'nope'" in result.output
    for bad in ("0", "-1", "nan", "inf"):
        result = invoke("lr", "latest", "--scale", bad, "--runs-dir", runs)
        assert result.exit_code == 2 and "must be a positive number" in result.output, bad
    result = invoke("lr", "latest", "--scale", "x", "--runs-dir", runs)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not list(Path(runs).glob("*/*/control/*"))


def _write(folder: Path, name: str, data: bytes) -> None:
    (folder / name).write_bytes(data)


def test_channel_applies_requests_in_order_and_closes_idempotently(tmp_path):
    control = RunControl()
    refusals: list[str] = []
    channel = ControlChannel(tmp_path, control, on_refused=refusals.append)
    folder = tmp_path / "control"
    folder.mkdir(mode=0o700)
    _write(folder, "3.json", _request(action="stop_after_epoch"))
    _write(folder, "1.json", _request(action="scale_lr", factor=0.25))
    _write(folder, "2.json", _request(action="checkpoint"))
    _write(folder, ".4.json.tmp", b"half written")  # a sender's temporary file: not yet a request
    assert channel.poll() == 3 and refusals == []
    taken = control.take()
    assert [(r.action, r.factor) for r in taken] == [
        ("scale_lr", 0.25),
        ("checkpoint", 1.0),
        ("stop_after_epoch", 1.0),
    ]
    assert sorted(p.name for p in folder.iterdir()) == [".4.json.tmp"]
    assert [r.action for r in channel.applied] == ["scale_lr", "checkpoint", "stop_after_epoch"]
    abandoned = folder / ".4.json.tmp"
    old = abandoned.stat().st_mtime - ABANDONED_SECONDS - 1  # its sender died a while ago
    os.utime(abandoned, (old, old))
    assert channel.poll() == 0 and not abandoned.exists() and refusals == []
    assert channel.start() and channel.running
    _write(folder, "5.json", _request(action="stop"))
    wait_for(lambda: control.pending, None, "the polling thread")
    assert [r.action for r in control.take()] == ["stop"] and control.run_stopped
    channel.close()
    channel.close()
    assert not channel.running and not channel.start()


def test_channel_refuses_a_shared_folder_and_caps_its_reports(tmp_path):
    folder = tmp_path / "control"
    folder.mkdir(mode=0o700)
    folder.chmod(0o770)
    refusals: list[str] = []
    channel = ControlChannel(tmp_path, RunControl(), on_refused=refusals.append)
    assert not channel.start()
    assert refusals == [
        f"steering from other processes is off: {folder} is writable by other users "
        "(mode 770; chmod 700 it)"
    ]
    folder.chmod(0o700)
    refusals.clear()
    for number in range(MAX_REPORTED + 10):
        _write(folder, f"{number:03d}.json", b"nonsense")
    assert channel.poll() == 0
    assert len(channel.refused) == MAX_REPORTED + 1  # the folder's refusal counts too
    assert refusals == channel.refused[1:] and "not reported" in refusals[-1]
    assert list(folder.iterdir()) == []
    ControlRequest.model_validate_json(_request(action="stop"))  # the shape the tests write


def test_stop_after_epoch_ends_the_whole_run(write_scenario, tmp_path):
    process, run = start(write_scenario, tmp_path, LONG + "[variants.default]\n[variants.b]\n")
    try:
        result = invoke("stop", "latest", "--after-epoch", "--runs-dir", str(tmp_path / "runs"))
        assert result.exit_code == 0
        code, output = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 130, output
    assert [e["trial"] for e in events(run, "variant_started")] == ["default"]
    assert events(run, "variant_finished")[0]["status"] == "stopped"
    assert events(run, "run_finished")[0]["status"] == "stopped"


def test_tuilab_confusion_reports_a_training_classifier_now_and_again_at_its_end(
    write_scenario, tmp_path
):
    process, run = start(write_scenario, tmp_path)
    runs = str(tmp_path / "runs")
    try:
        result = invoke("confusion", "latest", "--trial", "default", "--runs-dir", runs)
        assert result.exit_code == 0, result.output
        assert "sent: report its confusion on the test split to" in result.output
        during = wait_for(lambda: events(run, "classification_report"), process, "a report")[0]
        applied = wait_for(lambda: events(run, "control_applied"), process, "its record")[0]
        assert applied["action"] == "confusion" and applied["detail"] == during["during"]
        assert during["during"].startswith(f"epoch {applied['epoch']}, batch ")
        assert sum(map(sum, during["matrix"])) == sum(during["support"]) == 360
        stored = json.loads((run / "variants" / "default" / "confusion.json").read_text())
        assert stored["during"] == during["during"] and stored["matrix"] == during["matrix"]
        assert invoke("stop", str(run), "--runs-dir", runs).exit_code == 0
        code, output = finish(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert code == 130, output
    reports = events(run, "classification_report")
    assert len(reports) == 1  # stopped mid-epoch: no report at the end
    result = invoke("show", str(run), "--runs-dir", runs)
    assert f"(asked for at {during['during']}, while training)" in " ".join(result.output.split())


def test_a_confusion_request_reaches_only_its_trial_which_reports_again_at_its_end(tmp_path):
    from tuilab.runtime.events import ClassificationReport, ControlApplied
    from tuilab.runtime.session import RunRequest, execute, prepare_run

    text = QUICK.replace("epochs = 2", "epochs = 3")
    scenario = tmp_path / "quick.toml"
    scenario.write_text(text, encoding="utf-8")
    control = RunControl()
    runner, store = prepare_run(RunRequest(scenario, runs_dir=tmp_path / "runs"), control)
    seen: list[object] = []

    def sink(event: object) -> None:
        seen.append(event)
        if type(event).__name__ == "EpochEnded" and event.epoch == 1 and event.trial == "a":
            control.confusion(trial="a")

    execute(runner, store, sink)
    reports = [e for e in seen if isinstance(e, ClassificationReport)]
    assert [(r.trial, r.during) for r in reports] == [
        ("a", "epoch 1, batch 18"),  # asked for as epoch 1 ended: applied there
        ("a", ""),
        ("b", ""),
    ]
    applied = [e for e in seen if isinstance(e, ControlApplied)]
    assert [(e.trial, e.action, e.detail) for e in applied] == [
        ("a", "confusion", "epoch 1, batch 18")
    ]
