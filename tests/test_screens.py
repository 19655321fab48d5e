"""What the user reads on each screen, asserted cell by cell against the run store."""

from __future__ import annotations

import json
import math
from pathlib import Path

from conftest import ROOT
from rich.text import Text
from textual.widgets import DataTable, RichLog, Static

from tuilab.app.app import create_app
from tuilab.app.screens.compare import CompareScreen
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.app.widgets.results import ResultsTable
from tuilab.app.widgets.variants import VariantList
from tuilab.presentation.describe import describe
from tuilab.presentation.numbers import format_value
from tuilab.runtime.events import (
    EpochEnded,
    RunFinished,
    RunStarted,
    VariantFinished,
    VariantStarted,
)
from tuilab.runtime.store import RunStore
from tuilab.scenario import load_scenario

FIXTURES = ROOT / "tests" / "fixtures"
STORED_RUN = FIXTURES / "runs" / "quick" / "20260101-120000"
SUMMARY = {
    "rows": [
        {
            "name": "dense",
            "type": "Dense",
            "output_shape": [None, 10],
            "params": 650,
            "trainable": 650,
        }
    ],
    "total": 650,
    "trainable": 650,
    "non_trainable": 0,
}


def synthetic_run(root: Path, epochs: int, trials: tuple[str, ...] = ("adam",)) -> Path:
    """A stored run of `epochs` epochs per trial, written by the real RunStore."""
    scenario = load_scenario(FIXTURES / "scenarios" / "quick.toml")
    store = RunStore.create(root, scenario)
    events = [RunStarted("Long run", "x.toml", list(trials), list(trials), 1, {"device": "CPU"})]
    for index, trial in enumerate(trials):
        events.append(VariantStarted(trial, trial, 1, 1, epochs, 10, 32, {}, SUMMARY))
        for epoch in range(1, epochs + 1):
            accuracy = 0.5 + 0.4 * epoch / epochs - 0.01 * index
            logs = {"loss": 1 / epoch, "accuracy": accuracy, "val_accuracy": accuracy - 0.02}
            events.append(EpochEnded(trial, epoch, logs, 0.001, 0.1))
        test = {"accuracy": 0.8 - 0.01 * index, "loss": 0.3}
        events.append(VariantFinished(trial, trial, "finished", epochs, test, 1.0, 0.001))
    events.append(RunFinished("finished", 2.0))
    for event in events:
        store.handle(event)
    return store.folder


def cell(table: DataTable, row: str, key: str) -> str:
    value = table.get_cell(row, key)
    return value.plain if isinstance(value, Text) else str(value)


async def test_results_tab_puts_every_value_under_its_own_header():
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs", stored_run=STORED_RUN)
    results = json.loads((STORED_RUN / "results.json").read_text())["trials"]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for _ in range(4):
            await pilot.press("n")
        await pilot.pause(0.3)
        table = app.screen.query_one(ResultsTable)
        headers = [str(c.label) for c in table.columns.values()]
        assert headers[:5] == ["Variant", "Status", "Epochs", "Best val acc", "Test acc"]
        shown = table.rows_shown
        assert [r.label for r in shown] == ["bn", "plain"]  # ranked by best validation accuracy
        for index, row in enumerate(shown):
            stored = results[row.label]
            assert cell(table, str(index), "trial") == row.label
            assert cell(table, str(index), "status") == stored["status"] == "finished"
            assert cell(table, str(index), "epochs") == str(stored["epochs"])
            expected = format_value(stored["best"]["val_accuracy"])
            assert cell(table, str(index), "best_val_accuracy") == expected
            assert cell(table, str(index), "test_accuracy") == format_value(
                stored["test"]["accuracy"]
            )
            assert cell(table, str(index), "test_loss") == format_value(stored["test"]["loss"])
        await pilot.press("o")  # next column: Best val loss... sorts by it, values stay put
        await pilot.pause(0.2)
        assert {cell(table, str(i), "status") for i in range(2)} == {"finished"}


async def test_results_at_80x24_drop_whole_columns_and_say_so():
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs", stored_run=STORED_RUN)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(4):
            await pilot.press("n")
        await pilot.pause(0.3)
        table = app.screen.query_one(ResultsTable)
        keys = [str(k.value) for k in table.columns]
        assert keys[:2] == ["trial", "status"] and "best_val_accuracy" in keys
        assert "test_accuracy" in keys
        widths = sum(c.get_render_width(table) for c in table.columns.values())
        assert widths <= table.size.width
        note = str(app.screen.query_one("#results-note", Static).render())
        assert note.startswith("too narrow for:") and "Last lr" in note


async def test_events_tab_follows_a_run_of_2100_epochs_to_its_last_line(tmp_path):
    folder = synthetic_run(tmp_path / "runs", 2100)
    app = create_app(FIXTURES / "scenarios", tmp_path / "runs", stored_run=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(3):
            await pilot.press("n")
        await pilot.pause(0.5)
        log = app.screen.query_one(RichLog)
        text = "\n".join(line.text for line in log.lines)
        assert "adam epoch 2100:" in text
        assert text.rstrip().endswith(describe(RunFinished("finished", 2.0)))


async def test_variant_list_shows_300_of_300_whole_and_no_stale_batch_line(tmp_path):
    folder = synthetic_run(tmp_path / "runs", 300, ("a_rather_long_variant_name", "sgd"))
    app = create_app(FIXTURES / "scenarios", tmp_path / "runs", stored_run=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        variants = app.screen.query_one(VariantList)
        assert cell(variants, "sgd", "epoch") == "300/300"
        epoch_column = variants.columns["epoch"]
        assert epoch_column.get_render_width(variants) >= len("300/300") + 2
        used = sum(c.get_render_width(variants) for c in variants.columns.values())
        assert used <= variants.size.width
        assert cell(variants, "sgd", "state") == "✓"
        assert str(app.screen.query_one("#progress-line", Static).render()) == ""


async def test_layers_and_batchnorm_tabs_read_the_stored_values():
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs", stored_run=STORED_RUN)
    summary = json.loads((STORED_RUN / "events.jsonl").read_text().splitlines()[1])
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down", "n")  # the bn trial, Layers tab
        await pilot.pause(0.3)
        layers = app.screen.query_one("#layers-table", DataTable)
        assert cell(layers, "1", "name") == "batch_normalization"
        assert cell(layers, "1", "params") == "64"
        assert cell(layers, "1", "output_shape") == "(None, 16)"
        totals = str(app.screen.query_one("#layers-totals", Static).render())
        assert "bn: total 1,274 · trainable 1,242 · non-trainable 32" in totals
        assert summary["trial"] == "plain"
        await pilot.press("n")
        await pilot.pause(0.3)
        table = app.screen.query_one("#bn-table", DataTable)
        last = json.loads((STORED_RUN / "variants/bn/batchnorm.jsonl").read_text().splitlines()[-1])
        values = last["layers"]["batch_normalization"]
        headers = [str(c.label) for c in table.columns.values()]
        assert headers == ["ch", "gamma 1→", "beta 0→", "mov mean 0→", "mov var 1→"]
        title = str(app.screen.query_one("#bn-title", Static).render())
        assert "too narrow for: flags (no channel flagged)" in title  # named, never cut
        for channel in (0, 3, 15):
            assert cell(table, str(channel), "gamma") == format_value(values["gamma"][channel])
            assert cell(table, str(channel), "beta") == format_value(values["beta"][channel])
            expected = format_value(values["moving_variance"][channel])
            assert cell(table, str(channel), "moving_variance") == expected
        widths = sum(c.get_render_width(table) for c in table.columns.values())
        assert widths <= table.size.width  # every column shown fits at 80x24


async def test_footer_shows_quit_keys_and_compare_at_80_columns():
    from textual.widgets._footer import FooterKey

    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs", stored_run=STORED_RUN)
    async with app.run_test(size=(80, 24)) as pilot:
        shown: dict = {}
        for _ in range(50):  # the footer is laid out after the screen mounts (slower under load)
            await pilot.pause(0.1)
            shown = {
                key.description: key.region
                for key in app.screen.query(FooterKey)
                if key.region.width and key.region.right <= 80
            }
            if shown:
                break
        assert {"Quit", "Keys", "Compare"} <= set(shown), shown


async def test_curve_keys_and_a_tiny_terminal_never_crash_the_app():
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs", stored_run=STORED_RUN)
    async with app.run_test(size=(80, 24)) as pilot:
        for keys in (["t", "v"], ["g"], ["t"], ["v"], ["m", "m", "m"], ["a"], ["g"]):
            await pilot.press(*keys)
            await pilot.pause(0.3)
        from tuilab.app.widgets.curves import CurvesPlot

        assert app.screen.query_one(CurvesPlot).options.smoothing == 0.6
        assert any(n.message == "smoothing: 0.6" for n in app._notifications)
        await pilot.resize_terminal(40, 12)
        await pilot.pause(0.5)
        await pilot.press("g", "t", "v", "a", "a", "a")
        await pilot.pause(0.5)
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.5)
        assert isinstance(app.screen, DashboardScreen) and app.is_running
        assert app.screen.query_one(CurvesPlot).options.smoothing == 0.0  # cycled back to off


async def test_compare_two_runs_with_the_same_variant_shows_two_rows_and_two_series(tmp_path):
    root = tmp_path / "runs"
    first = synthetic_run(root, 3)
    second = synthetic_run(root, 5)
    app = create_app(FIXTURES / "scenarios", root)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        for index, (_, folder, trial, _) in enumerate(screen.items):
            if folder in (first, second) and trial == "adam":
                screen.query_one("#compare-list").select(index)
        await pilot.pause(0.5)
        table = screen.query_one("#compare-table", DataTable)
        assert table.row_count == 2
        epochs = sorted(cell(table, str(i), "epochs") for i in range(2))
        assert epochs == ["3", "5"]
        assert cell(table, "0", "delta_test_accuracy") == "+0.0000"
        from tuilab.presentation.charts import chart_series

        series = chart_series({s.label: s.curve for s in screen.chosen}, screen.options)
        labels = [s.label for s in series if s.label]
        assert len(labels) == 4 and not any("n=2" in label for label in labels)
        assert not any(math.isnan(y) for s in series for y in s.ys)


def stored_accuracies(run: Path) -> dict[str, list[float]]:
    """Each trial's train and validation accuracy per epoch, read from the run's events.jsonl."""
    series: dict[str, list[float]] = {}
    for line in (run / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "epoch_ended":
            logs = event["logs"]
            series.setdefault(event["trial"], []).append(logs["accuracy"])
            series.setdefault(f"{event['trial']} val", []).append(logs["val_accuracy"])
    return series


async def test_compare_keys_in_a_fast_burst_draw_both_chosen_trials():
    """Space, Down, Space arriving together (as a terminal delivers a fast burst, before the
    first key is handled: Pilot's press waits between keys) choose the first two trials and
    the chart draws their stored values. SelectionList resolved Space to the option highlighted
    when its OptionSelected message was handled, after Down: both toggled the second trial."""
    from textual import events
    from textual_plotext import PlotextPlot

    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("c")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        for key, character in (("space", " "), ("down", None), ("space", " ")):
            app.post_message(events.Key(key, character))  # all queued before any is handled
        await pilot.pause(0.5)
        assert screen.query_one("#compare-list").selected == [0, 1]
        assert [s.label for s in screen.chosen] == ["0101-120000:plain", "0101-120000:bn"]
        plot = screen.query_one(PlotextPlot)
        labels = [words.split(" ", 1)[1] for words, _ in plot.drawn.legend]  # above the plot
        drawn = dict(zip(labels, plot.plt._active.monitor.y, strict=True))
        stored = stored_accuracies(STORED_RUN)
        assert drawn == {f"0101-120000:{trial}": values for trial, values in stored.items()}
        assert len(drawn["0101-120000:bn val"]) == 4


async def test_compare_with_nothing_chosen_says_how_to_choose_then_draws_the_choice():
    from textual.geometry import Region
    from textual_plotext import PlotextPlot

    def chart_text(plot: PlotextPlot) -> str:
        strips = plot.render_lines(Region(0, 0, plot.size.width, plot.size.height))
        return "\n".join("".join(segment.text for segment in strip) for strip in strips)

    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("c")
        await pilot.pause(0.3)
        plot = app.screen.query_one(PlotextPlot)
        assert "accuracy: Space on a trial draws it" in chart_text(plot)
        await pilot.press("space")
        await pilot.pause(0.3)
        text = chart_text(plot)
        assert "Space on a trial" not in text and "nothing to draw" not in text
        assert "0101-120000:plain" in text  # the legend names the chosen trial


async def test_compare_results_show_the_differing_keys_as_columns_and_sort_by_them():
    from tuilab.app.screens.compare import CompareScreen as Compare

    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs")
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("c", "space", "down", "space", "n")
        await pilot.pause(0.3)
        assert isinstance(app.screen, Compare)
        table = app.screen.query_one("#compare-table", DataTable)
        keys = [column.key.value for column in table.ordered_columns]
        assert keys[:3] == [
            "trial",
            "param:model.batchnorm.momentum",
            "param:model.batchnorm.position",
        ]
        rows = [[str(cell) for cell in table.get_row_at(i)][:3] for i in range(table.row_count)]
        assert [row[0] for row in rows] == ["0101-120000:plain", "0101-120000:bn"]
        assert rows[0][1:] == ["-", "-"] and rows[1][1:] == ["0.9", "after"]
        await pilot.press("o", "o", "o", "o")  # trial, momentum, position, status
        await pilot.pause(0.2)
        note = str(app.screen.query_one("#compare-note", Static).render())
        assert "sorted by Status" in note
        await pilot.press("o")  # best validation accuracy, highest first
        await pilot.pause(0.2)
        firsts = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert firsts == ["0101-120000:bn", "0101-120000:plain"]  # 0.4653 above 0.4062
