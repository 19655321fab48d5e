"""The Textual app driven through Pilot, with real (small) trainings."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest
from conftest import ROOT

from tuilab.app.app import create_app
from tuilab.app.messages import TrainingEvent
from tuilab.app.screens.compare import CompareScreen
from tuilab.app.screens.confirm import ChoiceScreen
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.app.widgets.results import ResultsTable
from tuilab.runtime.events import BatchProgress, EpochEnded

FIXTURES = ROOT / "tests" / "fixtures"
STORED_RUN = FIXTURES / "runs" / "quick" / "20260101-120000"


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    """A scenarios folder holding the quick fixture scenario, and an empty runs folder."""
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    shutil.copy(FIXTURES / "scenarios" / "quick.toml", scenarios / "quick.toml")
    return scenarios, tmp_path / "runs"


async def wait_until(pilot, predicate, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the app"
        await pilot.pause(0.1)


def run_json(runs: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(runs.glob("*/*/run.json"))]


async def test_pick_run_watch_rerun_compare_and_quit(workspace):
    scenarios, runs = workspace
    app = create_app(scenarios, runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")  # run the highlighted scenario
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        await wait_until(pilot, lambda: dashboard.state.book.status == "finished")
        state = dashboard.state
        assert state.trials == ["plain", "bn"]
        assert all(state.status(t) == "finished" for t in state.trials)
        assert state.curves.curves["bn"].epochs == [1, 2, 3, 4]
        assert state.batchnorm["bn"][-1][0] == 4 and not state.batchnorm["plain"]
        # every tab shows the run
        for _tab in ("layers", "batchnorm", "events", "results", "curves"):
            await pilot.press("n")
            await pilot.pause(0.3)
        results = dashboard.query_one(ResultsTable)
        assert results.row_count == 2
        log = dashboard.query_one("#event-log")
        assert any("learning rate" in line.text for line in log.lines)
        # select the second variant and rerun it: a new stored run, next to the first curves
        await pilot.press("down")
        await pilot.press("r")
        await wait_until(
            pilot, lambda: "bn~2" in state.trials and state.status("bn~2") == "finished"
        )
        assert len(run_json(runs)) == 2
        # compare with the earlier run, from the keyboard
        await pilot.press("c")
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        await pilot.pause(0.3)
        assert len(compare.chosen) == 3  # both runs preselected: plain, bn and bn again
        await pilot.press("escape")
        await pilot.press("q")
    assert app.return_value == 0


async def test_steering_keys_while_training(workspace):
    scenarios, runs = workspace
    scenario = scenarios / "quick.toml"
    scenario.write_text(scenario.read_text().replace("epochs = 4", "epochs = 300"))
    app = create_app(scenarios, runs)
    said: list[str] = []
    shown = app.notify
    app.notify = lambda message, **kw: (said.append(str(message)), shown(message, **kw))[1]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        dashboard = app.screen
        await wait_until(
            pilot,
            lambda: (
                dashboard.state.curves.curves.get("plain")
                and dashboard.state.curves.curves["plain"].epochs
            ),
        )
        for key in ("h", "k"):
            await pilot.press(key)
        await wait_until(
            pilot,
            lambda: any("-> " in line and "(user)" in line for _, line in dashboard.state.lines),
        )
        await wait_until(
            pilot,
            lambda: any(
                kind == "control_applied" and "checkpoint " in line
                for kind, line in dashboard.state.lines
            ),
        )
        # each key is acknowledged on screen, then answered when the training applies it
        await wait_until(pilot, lambda: len(said) >= 4)
        assert "lr ÷2 asked for plain: at the end of this batch" in said  # the highlighted
        assert "checkpoint asked for plain: at the end of this batch" in said
        changes = [re.fullmatch(r"plain: lr (\S+) → (\S+)", line) for line in said]
        old, new = next(map(float, c.groups()) for c in changes if c)  # the rate then, halved
        assert new == pytest.approx(old / 2, rel=1e-3), said
        assert any(line.startswith("plain: saved ") and ".keras" in line for line in said), said
        await pilot.press("s")
        await wait_until(pilot, lambda: not dashboard.running)
        assert dashboard.state.status("plain") == "stopped"
        assert "bn" not in dashboard.state.trials  # the whole run stopped
        assert not dashboard.check_action("stop", ())  # steering greys out when idle
    assert run_json(runs)[0]["status"] == "stopped"
    assert list(runs.glob("*/*/variants/plain/checkpoint-epoch*.keras"))


def long_training_app(scenarios: Path, runs: Path):
    """The app on the quick scenario made 300 epochs long."""
    scenario = scenarios / "quick.toml"
    scenario.write_text(scenario.read_text().replace("epochs = 4", "epochs = 300"))
    return create_app(scenarios, runs)


async def two_epochs_in(app, pilot) -> DashboardScreen:
    """Start the highlighted scenario and wait until its first trial has two epochs."""
    await pilot.press("enter")
    dashboard = app.screen
    await wait_until(pilot, lambda: dashboard.state.book.trials.get("plain") is not None)
    await wait_until(pilot, lambda: dashboard.state.book.trials["plain"].epochs >= 2)
    return dashboard


async def test_quitting_during_training_asks_and_keeps_the_run_resumable(workspace):
    scenarios, runs = workspace
    app = long_training_app(scenarios, runs)
    async with app.run_test(size=(80, 24)) as pilot:
        dashboard = await two_epochs_in(app, pilot)
        await pilot.press("q")
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("escape")  # keep training
        assert app.screen is dashboard and dashboard.running
        await pilot.press("q")
        await pilot.press("k")  # quit, keep it resumable
        await wait_until(pilot, lambda: not dashboard.running)
        await pilot.pause(0.2)
    (folder,) = runs.glob("quick/*")
    assert run_json(runs)[0]["status"] == "stopped"
    assert app.farewell == [f"continue it with: tuilab resume {folder}"]
    state = json.loads((folder / "variants" / "plain" / "resume" / "state.json").read_text())
    assert state["epoch"] >= 2  # the last finished epoch, ready for `tuilab resume`


async def test_quitting_and_stopping_for_good_deletes_the_resume_state(workspace):
    from tuilab.runtime.resume import plan_resume
    from tuilab.runtime.run_folder import RunFolder

    scenarios, runs = workspace
    app = long_training_app(scenarios, runs)
    async with app.run_test(size=(80, 24)) as pilot:
        dashboard = await two_epochs_in(app, pilot)
        await pilot.press("q")
        await pilot.press("s")  # stop it for good
        await wait_until(pilot, lambda: not dashboard.running)
        await pilot.pause(0.2)
    (folder,) = runs.glob("quick/*")
    meta = run_json(runs)[0]
    assert meta["status"] == "stopped" and meta["resumable"] is False
    assert not (folder / "variants" / "plain" / "resume").exists()
    assert app.farewell == []
    with pytest.raises(Exception, match="stopped for good"):
        plan_resume(RunFolder(folder))


async def test_invalid_scenarios_show_their_error_inline(tmp_path):
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    shutil.copy(FIXTURES / "scenarios" / "broken.toml", scenarios / "broken.toml")
    app = create_app(scenarios, tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        details = str(app.screen.query_one("#scenario-details").render())
        assert "data.normalize" in details and "did you mean 'scale'?" in details
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, DashboardScreen)  # nothing started


async def test_a_stored_run_opens_in_the_same_dashboard(tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURES / "runs", runs)
    app = create_app(FIXTURES / "scenarios", runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")  # the "Stored runs" tab
        await pilot.press("enter")
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen) and not dashboard.running
        assert dashboard.state.trials == ["plain", "bn"]
        assert dashboard.state.book.status == "finished"
        assert not dashboard.check_action("rerun", ())  # a stored run has no request


def test_newer_progress_replaces_older_progress_of_the_same_trial():
    older = TrainingEvent(BatchProgress("a", 1, 3, 10, {}), 1)
    assert older.can_replace(TrainingEvent(BatchProgress("a", 1, 5, 10, {}), 1))
    assert not older.can_replace(TrainingEvent(BatchProgress("b", 1, 5, 10, {}), 1))
    epoch = TrainingEvent(EpochEnded("a", 1, {}, 0.1, 1.0), 1)
    assert not epoch.can_replace(older) and not older.can_replace(epoch)


def stored_app():
    return create_app(FIXTURES / "scenarios", FIXTURES / "runs", stored_run=STORED_RUN)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
@pytest.mark.parametrize(
    ("tab", "keys"),
    [
        ("curves", []),
        ("layers", ["down", "n"]),
        ("batchnorm", ["down", "n", "n"]),
        ("events", ["n", "n", "n"]),
        ("results", ["p"]),
    ],
)
def test_dashboard_layout_snapshots(snap_compare, size, tab, keys):
    """Pins the layout of each dashboard tab on the stored fixture run (approved after reading
    each screen in tmux at 80x24 against the fixture's files; the values themselves are
    asserted cell by cell in test_screens.py): the variant list with state glyphs and whole
    epoch counts, the footer with Quit/Keys/Compare, tables fitted with dropped columns named."""
    assert snap_compare(stored_app(), terminal_size=size, press=keys)


async def picker_samples_loaded(pilot) -> None:
    """Highlight the valid fixture scenario and wait for its samples grid (a thread worker)."""
    await pilot.press("down")
    samples = pilot.app.screen.query_one("#scenario-samples")
    for _ in range(200):
        if samples.view is not None or samples.error:
            break
        await pilot.pause(0.05)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_picker_and_compare_snapshots(snap_compare, size):
    """Pins the picker (the valid scenario's details and digits samples grid) and the compare
    screen with two trials chosen: curves drawn, results with only the columns that fit."""
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs")
    assert snap_compare(app, terminal_size=size, run_before=picker_samples_loaded)
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs")
    assert snap_compare(app, terminal_size=size, press=["c", "space", "down", "space"])


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_stored_runs_library_snapshot(snap_compare, size):
    """Pins the stored-runs tab as a run library (read in tmux at 80x24 against the fixture's
    results.json: val 0.4653, test 0.4639): the filter box, one line per run, the count and sort
    line naming the library keys, and the picker's footer."""
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs")
    assert snap_compare(app, terminal_size=size, press=["n"])
