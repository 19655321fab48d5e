"""The app on a parallel run: every trial live at once, steering the highlighted one or all."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import ROOT
from test_app import wait_until

from tuilab.app.app import create_app
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.app.widgets.variants import VariantList
from tuilab.runtime.events import LearningRateChanged

QUICK = ROOT / "tests" / "fixtures" / "scenarios" / "quick.toml"


def events_of(runs: Path) -> list[dict]:
    (path,) = runs.glob("*/*/events.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_both_trials_train_at_once_and_x_h_steer_the_highlighted_one(tmp_path: Path):
    scenarios, runs = tmp_path / "scenarios", tmp_path / "runs"
    scenarios.mkdir()
    text = QUICK.read_text().replace("epochs = 4", "epochs = 400")
    (scenarios / "quick.toml").write_text(text + "\n[run]\nparallel = 2\n")
    app = create_app(scenarios, runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        state = dashboard.state

        def epochs(trial: str) -> int:
            result = state.book.trials.get(trial)
            return result.epochs if result else 0

        await wait_until(pilot, lambda: epochs("plain") >= 2 and epochs("bn") >= 2, 120)
        assert state.status("plain") == state.status("bn") == "running"
        table = dashboard.query_one(VariantList)
        while dashboard._selected != "bn":
            await pilot.press("down")
        await pilot.press("h")  # the highlighted trial only
        await wait_until(pilot, lambda: any(e.get("reason") == "user" for e in events_of(runs)), 30)
        await pilot.press("x")  # bn stops; plain goes on
        await wait_until(pilot, lambda: state.status("bn") == "stopped", 30)
        bn_epochs = epochs("bn")
        plain_then = epochs("plain")
        await wait_until(pilot, lambda: epochs("plain") >= plain_then + 3, 30)
        assert state.status("plain") == "running" and dashboard.running
        await pilot.press("s")  # the whole run
        await wait_until(pilot, lambda: not dashboard.running, 30)
        assert table.row_count == 2
    rates = [e for e in events_of(runs) if e["event"] == LearningRateChanged.kind]
    assert [e["trial"] for e in rates if e["reason"] == "user"] == ["bn"]
    ends = {e["trial"]: e for e in events_of(runs) if e["event"] == "variant_finished"}
    assert ends["bn"]["status"] == ends["plain"]["status"] == "stopped"
    assert ends["bn"]["epochs"] == bn_epochs < ends["plain"]["epochs"]
    (run,) = runs.glob("*/*/run.json")
    assert json.loads(run.read_text())["status"] == "stopped"
