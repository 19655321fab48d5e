"""The run folder as untrusted input: corrupt files are reported, never crash, never hide runs."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.presentation.text import has_control
from tuilab.runtime.run_folder import STALE_SECONDS, RunFolder
from tuilab.runtime.run_listing import list_runs
from tuilab.runtime.stored import load_run

STORED_RUN = ROOT / "tests" / "fixtures" / "runs" / "quick" / "20260101-120000"


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A runs folder with two copies of the fixture run: `quick/good` and `quick/bad`."""
    root = tmp_path / "runs"
    for name in ("good", "bad"):
        shutil.copytree(STORED_RUN, root / "quick" / name)
    meta = json.loads((root / "quick" / "bad" / "run.json").read_text())
    meta["started"] = "2026-01-02T00:00:00"  # the newer one
    (root / "quick" / "bad" / "run.json").write_text(json.dumps(meta))
    return root


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "100"})


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data)))


RUN_JSON_DAMAGE = {
    "a list": lambda _: [1],
    "pid as text": lambda d: {**d, "pid": "abc"},
    "unknown status": lambda d: {**d, "status": "[]running[/]"},
    "variants not a list": lambda d: {**d, "variants": "plain"},
    "no scenario": lambda d: {k: v for k, v in d.items() if k != "scenario"},
}


@pytest.mark.parametrize("damage", RUN_JSON_DAMAGE, ids=list(RUN_JSON_DAMAGE))
def test_a_bad_run_json_is_listed_corrupt_and_the_others_still_work(runs, damage):
    edit_json(runs / "quick" / "bad" / "run.json", RUN_JSON_DAMAGE[damage])
    infos = {info.folder.name: info for info in list_runs(runs)}
    assert infos["bad"].status == "corrupt" and infos["bad"].problem.startswith("run.json")
    assert infos["good"].status == "finished"
    listing = invoke("runs", "--runs-dir", str(runs))
    assert listing.exit_code == 0, listing.output
    assert "corrupt" in listing.output and "quick/bad: run.json" in listing.output
    for command in (("show", "quick/good"), ("report", "quick/good"), ("compare", "quick/good")):
        result = invoke(*command, "--runs-dir", str(runs))
        assert result.exit_code == 0, (command, result.output)
        assert "Traceback" not in result.output


def test_a_missing_run_json_is_listed_not_dropped(runs):
    (runs / "quick" / "bad" / "run.json").unlink()
    infos = {info.folder.name: info for info in list_runs(runs)}
    assert infos["bad"].status == "corrupt"
    assert infos["bad"].problem == "run.json is missing"


def test_a_bad_middle_event_line_is_reported_and_the_rest_is_read(runs):
    path = runs / "quick" / "bad" / "events.jsonl"
    lines = path.read_text().splitlines()
    epoch_line = next(i for i, line in enumerate(lines) if '"epoch_ended"' in line)
    broken = json.loads(lines[epoch_line])
    broken["logs"] = None
    lines[epoch_line] = json.dumps(broken)
    path.write_text("\n".join(lines) + "\n")
    stored = load_run(RunFolder(path.parent))
    assert stored.problems == [
        f"events.jsonl line {epoch_line + 1}: epoch_ended: logs: Input should be a valid dictionary"
    ]
    assert len(stored.events) == len(lines) - 1
    result = invoke("show", "quick/bad", "--runs-dir", str(runs))
    assert result.exit_code == 0
    assert f"quick/bad is corrupt: events.jsonl line {epoch_line + 1}" in result.output


def test_a_half_written_last_line_is_what_a_kill_leaves_and_is_no_problem(runs):
    path = runs / "quick" / "bad" / "events.jsonl"
    text = path.read_text()
    path.write_text(text + '{"event":"epoch_ended","trial":"pl')
    stored = load_run(RunFolder(path.parent))
    assert stored.problems == []
    assert len(stored.events) == len(text.splitlines())


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    field=st.sampled_from(["trial", "epoch", "logs", "learning_rate", "seconds", "event"]),
    value=st.one_of(
        st.none(),
        st.booleans(),
        st.text(max_size=20),
        st.lists(st.integers(), max_size=3),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    ),
)
def test_any_damaged_event_is_a_reported_problem(tmp_path_factory, field, value):
    folder = tmp_path_factory.mktemp("run") / "quick" / "r"
    shutil.copytree(STORED_RUN, folder)
    path = folder / "events.jsonl"
    lines = path.read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if '"epoch_ended"' in line)
    event = json.loads(lines[index])
    event[field] = value
    lines[index] = json.dumps(event)
    path.write_text("\n".join(lines) + "\n")
    stored = load_run(RunFolder(folder))  # never raises
    still_valid = (field == "trial" and isinstance(value, str)) or (field == "logs" and value == {})
    if not still_valid:
        assert len(stored.problems) == 1 and stored.problems[0].startswith(
            f"events.jsonl line {index + 1}"
        )


def test_a_stored_metric_as_text_is_refused_not_coerced(runs):
    path = runs / "quick" / "bad" / "results.json"
    edit_json(path, lambda d: {**d, "trials": {"plain": {"best": {"val_accuracy": "0.96"}}}})
    info = next(i for i in list_runs(runs) if i.folder.name == "bad")
    assert info.status == "corrupt"
    assert "results.json: trials.plain.best.val_accuracy" in info.problem


def _running(folder: Path, host: str, pid: int) -> None:
    edit_json(folder / "run.json", lambda d: {**d, "status": "running", "host": host, "pid": pid})


def test_a_live_run_is_running_by_its_heartbeat_even_from_another_host(runs):
    folder = runs / "quick" / "bad"
    _running(folder, "gpu-box-elsewhere", 1)
    (folder / "heartbeat").touch()
    assert RunFolder(folder).info().status == "running"
    stale = time.time() - STALE_SECONDS - 5
    os.utime(folder / "heartbeat", (stale, stale))
    assert RunFolder(folder).info().status == "incomplete"


def test_a_running_run_whose_process_died_here_is_incomplete_at_once(runs):
    folder = runs / "quick" / "bad"
    _running(folder, socket.gethostname(), 2**22 + 12345)  # no such pid
    (folder / "heartbeat").touch()
    assert RunFolder(folder).info().status == "incomplete"


def test_runs_lists_a_run_in_progress_without_crashing(runs):
    folder = runs / "quick" / "bad"
    _running(folder, socket.gethostname(), os.getpid())
    (folder / "heartbeat").touch()
    result = invoke("runs", "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output
    assert "running" in result.output


def test_runs_at_80_columns_cut_no_number(runs):
    result = CliRunner().invoke(app, ["runs", "--runs-dir", str(runs)], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert "…" not in result.output
    table = [line for line in result.output.splitlines() if str(runs) not in line]
    assert max(len(line) for line in table) <= 80  # all but the title's path, never split
    results = json.loads((STORED_RUN / "results.json").read_text())["trials"]
    best = max(results.values(), key=lambda t: t["best"]["val_accuracy"])
    assert f"{best['best']['val_accuracy']:.4g}" in result.output
    assert f"{best['test']['accuracy']:.4g}" in result.output


@pytest.mark.parametrize(
    "command",
    [("show", "quick/good"), ("compare", "quick/good", "quick/bad"), ("compare", "quick/good:bn")],
)
def test_show_and_compare_at_80_columns_cut_no_number(runs, command):
    result = CliRunner().invoke(app, [*command, "--runs-dir", str(runs)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    tables = result.output.split("accuracy")[0]  # the tables, before the charts
    assert "…" not in tables
    boxes = [line for line in tables.splitlines() if line[:1] in "┏┃┡│└"]
    assert boxes and max(len(line) for line in boxes) <= 80
    trials = json.loads((STORED_RUN / "results.json").read_text())["trials"]
    chosen = ["bn"] if command[-1].endswith(":bn") else list(trials)
    for trial in (trials[name] for name in chosen):
        assert f"{trial['best']['val_accuracy']:.4g}" in tables
        assert f"{trial['test']['accuracy']:.4g}" in tables
    if command[0] == "compare" and len(command) == 3:
        assert "+0.0000" in tables  # Δ against the first selection, whole


def test_runs_ranks_by_validation_and_shows_that_trials_test_beside_it(runs):
    info = next(i for i in list_runs(runs) if i.folder.name == "good")
    trials = json.loads((STORED_RUN / "results.json").read_text())["trials"]
    best = max(trials.values(), key=lambda t: t["best"]["val_accuracy"])
    assert info.best_val_accuracy == best["best"]["val_accuracy"]
    assert info.test_accuracy == best["test"]["accuracy"]


def test_report_to_a_folder_or_unwritable_path_is_a_clear_error(runs, tmp_path):
    folder = invoke("report", "quick/good", "--runs-dir", str(runs), "-o", str(tmp_path))
    assert folder.exit_code == 2 and "is a folder" in folder.output
    missing = tmp_path / "no" / "such" / "dir" / "r.md"
    result = invoke("report", "quick/good", "--runs-dir", str(runs), "-o", str(missing))
    assert result.exit_code == 2 and "cannot write" in result.output
    assert "Traceback" not in result.output


def test_markdown_report_escapes_pipes_and_control_characters(runs):
    edit_json(runs / "quick" / "good" / "run.json", lambda d: {**d, "scenario": "a | b \x1b[2J"})
    path = runs / "quick" / "good" / "events.jsonl"
    path.write_text(path.read_text().replace('"scenario":"Quick test"', '"scenario":"a | b"'))
    result = invoke("report", "quick/good", "--runs-dir", str(runs))
    assert result.exit_code == 0
    assert "# a \\| b: run" in result.output  # a heading (rendered `a | b`), not a table
    table = [line for line in result.output.splitlines() if line.startswith("| plain")]
    assert table and all(line.count("|") == 10 for line in table)
    assert not has_control(result.output)


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("tuilab ")


async def test_the_apps_run_list_shows_a_corrupt_run_with_its_reason(runs, tmp_path):
    from textual.widgets import OptionList

    from tuilab.app.app import create_app

    edit_json(runs / "quick" / "bad" / "run.json", RUN_JSON_DAMAGE["pid as text"])
    app = create_app(tmp_path / "no-scenarios", runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        await pilot.pause(0.2)
        options = app.screen.query_one("#run-list", OptionList)
        lines = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        bad = next(line for line in lines if line.startswith("quick/bad"))
        good = next(line for line in lines if line.startswith("quick/good"))
        assert "corrupt" in bad and "run.json: pid" in bad
        assert "finished" in good and "val 0.4653 test 0.4639" in good
        options.highlighted = lines.index(bad)
        await pilot.press("enter")  # open the corrupt run: what could be read, and a warning
        await pilot.pause(0.3)
        from tuilab.app.screens.dashboard import DashboardScreen

        assert isinstance(app.screen, DashboardScreen) and app.is_running
        assert any("run.json: pid" in n.message for n in app._notifications)
