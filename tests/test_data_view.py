"""`tuilab data` and the samples grid: shapes, value ranges, class balance, pictures."""

from __future__ import annotations

import io
import re
import shutil

import pytest
from conftest import FASHION_DEBIAN, ROOT
from rich.console import Console
from typer.testing import CliRunner

from tuilab.app.app import create_app
from tuilab.app.widgets.samples import SamplesView
from tuilab.cli import app
from tuilab.data.inspect import inspect_data
from tuilab.headless.data_cmd import wants_color
from tuilab.presentation.samples import grid_layout, samples_grid
from tuilab.scenario import load_scenario

DIGITS = ROOT / "scenarios" / "digits_quick.toml"
ESCAPE = "\x1b"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["data", *args])
    return result.exit_code, result.output


def rows(output: str, first: str) -> list[list[str]]:
    """Table rows whose first cell starts with `first`, split on runs of spaces."""
    return [line.split() for line in output.splitlines() if line.strip().startswith(first)]


def test_digits_shapes_ranges_and_balance():
    code, output = invoke(str(DIGITS))
    assert code == 0, output
    # 1797 digits: 1437 train / 360 test; validation_split 0.2 of 1437 -> 1149 / 288.
    assert "variants: adam, sgd, adam_bn" in output  # one [data] table for all three
    raw_train = rows(output, "train (raw)")[0]
    assert raw_train[2:] == ["(1437,", "8,", "8)", "float32", "0", "16", *raw_train[8:]]
    raw_test = rows(output, "test (raw)")[0]
    assert raw_test[2:8] == ["(360,", "8,", "8)", "float32", "0", "16"]
    train = next(r for r in rows(output, "train ") if r[1] == "(1149,")
    assert train[1:6] == ["(1149,", "64)", "float32", "0", "1"]
    validation = rows(output, "validation ")[0]
    assert validation[1:6] == ["(288,", "64)", "float32", "0", "1"]
    test = next(r for r in rows(output, "test ") if r[1] == "(360,")
    assert test[1:6] == ["(360,", "64)", "float32", "0", "1"]
    assert "normalize = 'scale'" in output and "/ 16" in output
    counts = [
        r for r in map(str.split, output.splitlines()) if len(r) == 4 and "".join(r).isdigit()
    ]
    assert [c[0] for c in counts] == [str(i) for i in range(10)]
    sums = [sum(int(c[k]) for c in counts) for k in (1, 2, 3)]
    assert sums == [1149, 288, 360]
    assert rows(output, "total")[0] == ["total", "1149", "288", "360"]


def test_class_counts_sum_to_each_split():
    scenario = load_scenario(DIGITS)
    config = next(iter(scenario.variants.values())).data
    view = inspect_data(config, scenario.meta.seed, per_class=2)
    assert [(s.name, s.size, sum(s.counts)) for s in view.splits] == [
        ("train", 1149, 1149),
        ("validation", 288, 288),
        ("test", 360, 360),
    ]
    assert [s.name for s in view.samples] == [str(i) for i in range(10) for _ in range(2)]
    assert all(s.image.shape == (8, 8, 1) for s in view.samples)
    assert all(s.image.base is None for s in view.samples)  # the app caches no whole split
    assert min(s.image.min() for s in view.samples) >= 0.0
    assert max(s.image.max() for s in view.samples) <= 1.0


def test_piped_output_has_no_escape_codes_and_shades_in_ascii():
    code, output = invoke(str(DIGITS), "--samples", "2")
    assert code == 0
    assert ESCAPE not in output
    assert "'@' 1" in output and "▄" not in output
    labels = [line for line in output.splitlines() if line.split()[:3] == ["0", "1", "2"]]
    assert len(labels) == 2 and labels[0].split() == [str(i) for i in range(10)]


def test_colour_terminals_get_pixels_and_no_color_wins():
    terminal = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor")
    assert wants_color(terminal, no_color=False)
    assert not wants_color(terminal, no_color=True)
    assert not wants_color(Console(file=io.StringIO()), no_color=False)  # a pipe
    scenario = load_scenario(DIGITS)
    view = inspect_data(next(iter(scenario.variants.values())).data, 0)
    terminal.print(samples_grid(view.samples, 80, color=True))
    drawn = terminal.file.getvalue()
    assert "▄" in drawn and "\x1b[38;2;" in drawn  # half-blocks with truecolor pixels


def test_ten_classes_fit_80_columns():
    assert grid_layout(80, 10, 28) == (10, 7)
    assert grid_layout(80, 10, 8) == (10, 7)
    assert grid_layout(45, 10, 28) == (5, 8)
    console = Console(file=io.StringIO(), width=80, force_terminal=True)
    view = inspect_data(load_scenario(DIGITS).variants["adam"].data, 0, per_class=2)
    console.print(samples_grid(view.samples, 80))
    plain = re.sub(r"\x1b\[[0-9;]*m", "", console.file.getvalue())
    assert max(len(line) for line in plain.splitlines()) <= 80


def test_a_wrong_normalisation_shows_out_of_range_pixels():
    code, output = invoke(str(DIGITS), "--set", 'data.normalize="none"')
    assert code == 0
    assert "normalize = 'none'" in output
    assert "!" in output.split("samples (train")[1]  # values above 1 marked


@pytest.mark.skipif(not FASHION_DEBIAN.is_dir(), reason="Debian's fashion-mnist not installed")
def test_fashion_mnist_from_debian_with_class_names():
    code, output = invoke(str(ROOT / "scenarios" / "fashion_mnist_quick.toml"))
    assert code == 0, output
    assert "(5000, 28, 28)  uint8      0  255" in output
    assert "9 Ankle boot" in output and "T-shirt" in output
    assert rows(output, "total")[0] == ["total", "4000", "1000", "5000"]


def test_missing_dataset_is_a_clear_message():
    code, output = invoke(str(ROOT / "scenarios" / "cifar10_quick.toml"))
    assert code == 2
    assert "dataset 'cifar10' not found; looked in:" in output
    assert "Fix: set data.path" in output


def grid_text(widget: SamplesView) -> str:
    """What the widget's text shows on screen, line by line (all of it without image tiles)."""
    text = widget.text
    return "\n".join(text.render_line(y).text for y in range(text.size.height))


async def loaded(pilot, widget: SamplesView) -> None:
    """Wait for the widget's thread worker to deliver (data or its error)."""
    for _ in range(200):
        if widget.view is not None or widget.error:
            await pilot.pause(0.05)
            return
        await pilot.pause(0.05)
    raise AssertionError("samples never loaded")


@pytest.mark.parametrize("graphics", [True, False])
async def test_picker_shows_the_samples_grid(tmp_path, monkeypatch, graphics):
    monkeypatch.delenv("TUILAB_GRAPHICS", raising=False)
    if not graphics:
        monkeypatch.setenv("NO_COLOR", "1")  # the widget draws ASCII shades then
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    shutil.copy(DIGITS, scenarios / "digits_quick.toml")
    shutil.copy(ROOT / "scenarios" / "cifar10_quick.toml", scenarios / "a_cifar.toml")
    tui = create_app(scenarios, tmp_path / "runs")
    async with tui.run_test(size=(80, 24)) as pilot:
        samples = tui.screen.query_one("#scenario-samples", SamplesView)
        await loaded(pilot, samples)
        assert "dataset 'cifar10' not found" in grid_text(samples)  # the first: no data
        await pilot.press("down")
        await loaded(pilot, samples)
        assert samples.graphics is graphics
        assert samples.labels() == [str(i) for i in range(10)]
        text = grid_text(samples)
        label_rows = [line.split() for line in text.splitlines() if line.split()[:2] == ["0", "1"]]
        assert label_rows and label_rows[0][:5] == ["0", "1", "2", "3", "4"]
        assert ("▄" in text) is graphics
        assert ("'@' 1" in text) is not graphics


async def test_dashboard_d_opens_the_data_of_a_stored_run(tmp_path):
    from tuilab.app.screens.dashboard import DashboardScreen
    from tuilab.app.widgets.samples import DataScreen

    runs = tmp_path / "runs"
    shutil.copytree(ROOT / "tests" / "fixtures" / "runs", runs)
    tui = create_app(ROOT / "tests" / "fixtures" / "scenarios", runs)
    async with tui.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "enter")
        await pilot.pause(0.2)
        assert isinstance(tui.screen, DashboardScreen)
        await pilot.press("d")
        await pilot.pause(0.1)
        assert isinstance(tui.screen, DataScreen)
        samples = tui.screen.query_one(SamplesView)
        await loaded(pilot, samples)
        assert samples.labels() == [str(i) for i in range(10) for _ in range(2)]
        text = grid_text(samples)
        assert "total   1149         288   360" in text
        assert any(line.split()[:10] == [str(i) for i in range(10)] for line in text.splitlines())
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert isinstance(tui.screen, DashboardScreen)
