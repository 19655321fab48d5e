"""One state per run and per trial, folded from the events by one function (`ResultsBook` and
its `settle`), read alike by the listing, `show`, the app and the reports."""

from __future__ import annotations

import csv
import json

from test_app import long_training_app, two_epochs_in, wait_until, workspace  # noqa: F401
from typer.testing import CliRunner
from zoo import Zoo

from tuilab.app.widgets.variants import VariantList
from tuilab.cli import app as cli
from tuilab.presentation.numbers import format_value
from tuilab.runtime.run_listing import list_runs
from tuilab.runtime.stored import load_run


def test_a_killed_run_lists_and_shows_the_epochs_it_stored(run_zoo: Zoo) -> None:
    """`kill -9` mid-run: `runs` (once from `results.json`, written only at a trial's end,
    so `incomplete - -`) and `show` agree: the best validation accuracy of the epochs stored,
    and the dead trial is `incomplete`, never `running`."""
    folder = run_zoo.runs["killed"]
    stored = load_run(folder)
    trial = stored.book.trials["default"]
    assert stored.status == "incomplete" and trial.status == "incomplete"
    assert trial.epochs >= 2
    (info,) = [i for i in list_runs(run_zoo.runs_dir) if i.folder == folder]
    assert info.status == "incomplete"
    assert info.best_val_accuracy == trial.best["val_accuracy"]
    listed = CliRunner().invoke(cli, ["--runs-dir", str(run_zoo.runs_dir), "runs"])
    (line,) = [line for line in listed.output.splitlines() if info.run_id in line]
    assert format_value(trial.best["val_accuracy"]) in line, line
    shown = CliRunner().invoke(cli, ["--runs-dir", str(run_zoo.runs_dir), "show", str(folder)])
    assert "running" not in shown.output
    assert "incomplete" in shown.output


async def test_the_sidebar_counts_the_epochs_kept_after_a_stop_mid_epoch(workspace) -> None:  # noqa: F811
    """`s` mid-epoch: the sidebar says what `results.json` and `history.csv` hold (9 epochs
    kept), not the epoch that was in progress when the stop came (`10/300`)."""
    scenarios, runs = workspace
    app = long_training_app(scenarios, runs)
    scenario = scenarios / "quick.toml"  # batches of 2: an epoch of about a second
    scenario.write_text(scenario.read_text().replace("batch_size = 64", "batch_size = 2"))
    async with app.run_test(size=(80, 24)) as pilot:
        dashboard = await two_epochs_in(app, pilot)
        progress = dashboard.state.progress["plain"]
        await wait_until(pilot, lambda: 20 < progress.batch < progress.steps - 200)
        await pilot.press("s")
        await wait_until(pilot, lambda: not dashboard.running)
        await pilot.pause(0.2)
        shown = dashboard.query_one(VariantList).get_cell("plain", "epoch").plain
    (folder,) = runs.glob("*/*")
    results = json.loads((folder / "results.json").read_text())["trials"]["plain"]
    history = list(csv.DictReader((folder / "variants" / "plain" / "history.csv").open()))
    assert results["status"] == "stopped"
    assert shown == f"{results['epochs']}/300" and len(history) == results["epochs"]


async def test_the_stored_runs_list_follows_a_run_trained_elsewhere(tmp_path) -> None:
    """The picker's list re-reads the store while shown: a run stored after the app opened
    appears, with its values, and the highlighted run stays highlighted."""
    from test_screens import synthetic_run

    from tuilab.app.app import create_app
    from tuilab.app.widgets.run_library import RunLibrary

    runs = tmp_path / "runs"
    first = synthetic_run(runs, 3)
    app = create_app(tmp_path / "scenarios", runs)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        library = app.screen.query_one(RunLibrary)
        assert [i.folder for i in library.shown] == [first]
        import time

        time.sleep(1.1)  # a newer stamp
        second = synthetic_run(runs, 2)
        await wait_until(pilot, lambda: len(library.shown) == 2, timeout=10)
        (info,) = [i for i in library.shown if i.folder == second]
        assert info.status == "finished" and info.best_val_accuracy is not None
        assert library.highlighted_run().folder == first
