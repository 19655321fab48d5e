"""The dashboard's confusion view (`f`): a stored digits run's matrices, trial by trial."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, training_app
from rich.console import Console
from rich.table import Table
from textual.widgets import Static

from tuilab.app.app import create_app
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.app.widgets.confusion import ConfusionScreen, matrix_table
from tuilab.runtime.events import ClassificationReport
from tuilab.runtime.session import RunRequest, execute, prepare_run

FIXTURES = ROOT / "tests" / "fixtures"
STORED_RUN = FIXTURES / "runs" / "quick" / "20260101-120000"

DIGITS = """
[scenario]
name = "tiny digits"
seed = 3
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 16, activation = "relu" },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = 2
batch_size = 64
[variants.adam]
compile.optimizer = { type = "Adam", learning_rate = 0.01 }
[variants.sgd]
compile.optimizer = { type = "SGD", learning_rate = 0.05 }
"""


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A scenarios folder, a runs folder and a stored two-variant digits run in it."""
    root = tmp_path_factory.mktemp("confusion")
    scenarios = root / "scenarios"
    scenarios.mkdir()
    path = scenarios / "digits.toml"
    path.write_text(DIGITS)
    runner, store = prepare_run(RunRequest(path, runs_dir=root / "runs"))
    execute(runner, store, lambda event: None)
    assert store is not None
    return scenarios, root / "runs", store.folder


def matrix_counts(table: Table) -> list[list[int]]:
    """The counts of a drawn matrix, read back from its rendered rows (under the header rule)."""
    console = Console(width=200, color_system=None)
    with console.capture() as capture:
        console.print(table)
    lines = capture.get().splitlines()
    start = next(i for i, line in enumerate(lines) if "─" in line) + 1
    size = len(table.columns) - 1
    return [[int(word) for word in line.split()[-size:]] for line in lines[start:] if line.strip()]


def stored_matrix(folder: Path, trial: str) -> list[list[int]]:
    return json.loads((folder / "variants" / trial / "confusion.json").read_text())["matrix"]


def body_text(app) -> str:
    """The confusion view's body as plain text, 76 columns wide (80 less border and padding)."""
    console = Console(width=76, color_system=None)
    with console.capture() as capture:
        console.print(app.screen.query_one("#confusion-body", Static).content)
    return capture.get()


async def test_f_shows_the_highlighted_trials_matrix_and_switches_trials(digits_run):
    scenarios, runs, folder = digits_run
    app = create_app(scenarios, runs, stored_run=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        assert dashboard.state.trials == ["adam", "sgd"]
        await pilot.press("down")  # highlight sgd
        await pilot.press("f")
        await pilot.pause(0.3)
        view = app.screen
        assert isinstance(view, ConfusionScreen) and view.trial == "sgd"
        assert view.matrix is not None
        assert matrix_counts(view.matrix) == stored_matrix(folder, "sgd")
        diagonal = view.matrix.columns[1]._cells[0]
        assert "on rgb(0," in str(diagonal.style) or diagonal.style == "dim"
        await pilot.press("greater_than_sign")
        await pilot.pause(0.2)
        assert view.trial == "adam"
        assert matrix_counts(view.matrix) == stored_matrix(folder, "adam")
        text = body_text(app)
        assert "Per class" in text and "Recall (acc)" in text and "Most confused" in text
        assert all(len(line.rstrip()) <= 76 for line in text.splitlines())
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert app.screen is dashboard


async def test_the_matrix_fits_80_columns_without_cutting_a_count(digits_run):
    scenarios, runs, folder = digits_run
    app = create_app(scenarios, runs, stored_run=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("f")
        await pilot.pause(0.3)
        view = app.screen
        assert isinstance(view, ConfusionScreen) and view.matrix is not None
        console = Console(width=76, color_system=None)
        with console.capture() as capture:
            console.print(view.matrix)
        assert all(len(line) <= 76 for line in capture.get().splitlines())
        assert matrix_counts(view.matrix) == stored_matrix(folder, "adam")


async def test_a_run_without_reports_says_so():
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs", stored_run=STORED_RUN)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("f")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfusionScreen)
        assert "no report" in body_text(app)
        await pilot.press("escape")
        await pilot.pause(0.2)
        assert isinstance(app.screen, DashboardScreen)


FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]


def fashion_report(trial: str) -> ClassificationReport:
    matrix = [[120 if i == j else i + j for j in range(5)] for i in range(5)]
    return ClassificationReport(
        trial, FASHION, matrix, [0.9] * 5, [0.8] * 5, [0.85] * 5, [sum(r) for r in matrix]
    )


def test_long_class_names_go_in_a_legend_when_the_rows_do_not_fit():
    report = fashion_report("plain")
    named = matrix_table(report, 76)
    assert named is not None and "T-shirt/top" not in named[1]  # names in the rows
    narrow = matrix_table(report, 24)
    assert narrow is not None
    assert "0 T-shirt/top, 1 Trouser" in narrow[1]
    assert matrix_counts(narrow[0]) == report.matrix
    assert matrix_table(report, 10) is None  # never a cut count


async def test_a_report_arriving_while_the_view_is_open_is_shown():
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs", stored_run=STORED_RUN)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        await pilot.press("f")
        await pilot.pause(0.3)
        view = app.screen
        assert isinstance(view, ConfusionScreen) and view.trial == "plain"
        assert view.matrix is None
        dashboard.state.book.handle(fashion_report("plain"))
        await pilot.pause(1.3)
        assert view.matrix is not None
        assert matrix_counts(view.matrix) == fashion_report("plain").matrix
        assert "Coat" in body_text(app)


def fixture_run_with_report(runs: Path) -> Path:
    """The quick fixture run copied under `runs`, with a 10-class Fashion report for `plain`."""
    names = [*FASHION, "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    matrix = [[900 if i == j else (i * 7 + j * 3) % 23 for j in range(10)] for i in range(10)]
    report = ClassificationReport(
        "plain", names, matrix, [0.9] * 10, [0.8] * 10, [0.85] * 10, [sum(r) for r in matrix]
    )
    folder = runs / "quick" / STORED_RUN.name
    shutil.copytree(STORED_RUN, folder)
    lines = (folder / "events.jsonl").read_text().splitlines()
    finished = next(i for i, line in enumerate(lines) if '"variant_finished"' in line)
    lines.insert(finished, report.to_json())  # as a live run stores it: before the trial ends
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_confusion_view_snapshot(snap_compare, tmp_path):
    """Pins the view at 80x24 (read in tmux first): class names in the rows, three-digit
    counts whole, green diagonal and red mistakes deeper with the count."""
    folder = fixture_run_with_report(tmp_path / "runs")
    app = create_app(FIXTURES / "scenarios", tmp_path / "runs", stored_run=folder)
    assert snap_compare(app, terminal_size=(80, 24), press=["f"])


def gallery_captions(folder: Path, trial: str) -> list[str]:
    """`true→predicted 93%` of the stored images' mistakes, from confusion.json itself."""
    stored = json.loads((folder / "variants" / trial / "confusion.json").read_text())
    with np.load(folder / "variants" / trial / "mistakes.npz", allow_pickle=False) as arrays:
        index = arrays["index"].tolist()
    mistakes = stored["misclassified"][: len(index)]
    assert [m["index"] for m in mistakes] == index
    captions = []
    for m in mistakes:
        percent = f"{m['confidence']:.0%}"  # as the table's 0.930 rounds
        percent = ">99%" if percent == "100%" and m["confidence"] < 1 else percent
        captions.append(f"{m['true']}→{m['predicted']} {percent}")
    return captions


async def test_f_shows_the_mistake_gallery_under_the_most_confused_table(digits_run):
    scenarios, runs, folder = digits_run
    app = create_app(scenarios, runs, stored_run=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("down", "f")  # sgd
        await pilot.pause(0.3)
        view = app.screen
        assert isinstance(view, ConfusionScreen) and view.trial == "sgd"
        assert view.gallery, "no gallery drawn"
        text = body_text(app)
        captions = gallery_captions(folder, "sgd")
        assert 0 < len(captions) <= 16
        gallery = text[text.index("Most confused") :]
        assert f"sgd: the {len(captions)} most confident mistakes" in gallery
        assert re.findall(r"\d→\d >?\d+%", gallery) == captions  # row by row, the table's order
        assert all(len(line.rstrip()) <= 76 for line in text.splitlines())
        await pilot.press("greater_than_sign")  # adam: its own images
        await pilot.pause(0.3)
        assert re.findall(r"\d→\d >?\d+%", body_text(app)) == gallery_captions(folder, "adam")


@pytest.mark.parametrize("how", ["pickled objects", "truncated", "a directory", "wrong shape"])
async def test_a_damaged_gallery_file_is_named_in_the_view_not_a_crash(digits_run, tmp_path, how):
    from test_mistakes import damage

    scenarios, _, original = digits_run
    folder = tmp_path / "runs" / original.parent.name / original.name
    shutil.copytree(original, folder)
    damage(folder / "variants" / "adam" / "mistakes.npz", how, tmp_path)
    app = create_app(scenarios, tmp_path / "runs", stored_run=folder)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        await pilot.press("f")
        await pilot.pause(0.3)
        assert isinstance(app.screen, ConfusionScreen) and app.screen.trial == "adam"
        text = body_text(app)
        assert "no mistake gallery: mistakes.npz" in text
        assert "Most confused" in text and not re.findall(r"\d→\d >?\d+%", text)
        assert not (tmp_path / "pwned").exists()
        await pilot.press("greater_than_sign")  # sgd's file is whole
        await pilot.pause(0.3)
        assert re.findall(r"\d→\d >?\d+%", body_text(app)) == gallery_captions(folder, "sgd")


async def test_r_asks_a_training_trial_for_its_confusion_now(tmp_path):
    app = training_app(tmp_path, DIGITS.replace("epochs = 2", "epochs = 400"))
    async with app.run_test(size=(80, 24)) as pilot:
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen)
        for _ in range(600):
            await pilot.pause(0.1)
            if dashboard.state.curves.curves:
                break
        await pilot.press("f")
        await pilot.pause(0.3)
        view = app.screen
        assert isinstance(view, ConfusionScreen) and view.report is None
        assert "r: one now" in body_text(app)
        await pilot.press("r")
        for _ in range(300):
            await pilot.pause(0.1)
            if view.report is not None:
                break
        report = view.report
        assert report is not None and report.during.startswith("epoch ")
        assert view.matrix is not None and matrix_counts(view.matrix) == report.matrix
        assert f"(asked for at {report.during}, while training)" in " ".join(body_text(app).split())
        dashboard.control.stop()
        for _ in range(300):
            await pilot.pause(0.1)
            if not dashboard.running:
                break
    written = next((tmp_path / "runs").glob("*/*/variants/adam/confusion.json"))
    stored = json.loads(written.read_text())
    assert stored["during"] == report.during and stored["matrix"] == report.matrix
