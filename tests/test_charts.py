"""The curve charts as a user reads them: real plotext output, the real shell and the real app.

Every draw on a figure starts from nothing (a log chart once took every later chart's y labels),
the legend sits above the plot and never over a data point, an empty chart says which key
brings the curves back, and the x axis is in whole epochs.
"""

from __future__ import annotations

import re
from pathlib import Path

import plotext
from conftest import ROOT
from rich.style import Style
from rich.text import Text
from test_screens import synthetic_run
from textual.geometry import Region
from textual_plotext.plot import Plot
from typer.testing import CliRunner

from tuilab.app.app import create_app
from tuilab.app.widgets.curves import CurvesPlot
from tuilab.cli import app as cli
from tuilab.presentation.charts import ChartOptions, curves_text, draw_curves
from tuilab.runtime.curves import Curve

FIXTURES = ROOT / "tests" / "fixtures"
STORED_RUN = FIXTURES / "runs" / "quick" / "20260101-120000"
LOSS = [2.118, 0.9, 0.5, 0.3, 0.2, 0.15, 0.12, 0.1]
Y_LABEL = re.compile(r"^\s*(-?[\d.]+(e-?\d+)?)┤")


def loss_curve(epochs: int) -> Curve:
    values = LOSS[:epochs]
    return Curve("adam", "r", list(range(1, epochs + 1)), {"loss": values, "val_loss": values})


def y_labels(lines: list[str]) -> list[str]:
    """The y axis' tick labels, top to bottom."""
    return [match[1] for line in lines if (match := Y_LABEL.match(line))]


def box(lines: list[str]) -> list[str]:
    """The rows of the plot's frame, from its top to its bottom edge."""
    top = next(i for i, line in enumerate(lines) if "┌" in line)
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    return lines[top : bottom + 1]


def x_labels(lines: list[str]) -> list[str]:
    """The words of the row under the plot's bottom edge (its x tick labels)."""
    bottom = next(i for i, line in enumerate(lines) if "└" in line)
    return lines[bottom + 1].split()


def chart_lines(plot: CurvesPlot) -> list[str]:
    strips = plot.render_lines(Region(0, 0, plot.size.width, plot.size.height))
    return ["".join(segment.text for segment in strip) for strip in strips]


def chart_segments(plot: CurvesPlot) -> list[list[tuple[str, Style | None]]]:
    strips = plot.render_lines(Region(0, 0, plot.size.width, plot.size.height))
    return [[(segment.text, segment.style) for segment in strip] for strip in strips]


def test_a_log_chart_leaves_nothing_behind_on_the_same_figure():
    """The dashboard draws every chart on one figure: after a log chart a linear one must come
    out exactly as on a fresh figure, y labels included (they were gone for good)."""
    curves = {"adam": loss_curve(4)}  # under three decades: linear unless asked for log
    linear = ChartOptions(metric="loss", markers=False)
    for make in (lambda: plotext, Plot):
        fresh = make()
        fresh.clear_figure()
        fresh.plotsize(70, 20)
        draw_curves(fresh, curves, linear)
        expected = fresh.build()
        figure = make()
        figure.clear_figure()
        figure.plotsize(70, 20)
        draw_curves(figure, curves, ChartOptions(metric="loss", markers=False, log_scale=True))
        assert "loss (log scale)" in figure.build()
        draw_curves(figure, curves, linear)
        drawn = figure.build()
        assert drawn == expected
        assert len(y_labels(plotext.uncolorize(drawn).splitlines())) >= 3


def test_the_shell_chart_draws_its_legend_above_the_plot_and_every_point():
    """Epoch 1's loss (2.118, the highest value) is drawn in the plot's top left corner, where
    plotext's legend was; the legend is a row above the frame."""
    curves = {"adam": loss_curve(8)}
    lines = curves_text(curves, "loss", 80, 20, color=False).splitlines()
    frame = box(lines)
    assert not any("adam" in row for row in frame)
    legend = lines.index(next(line for line in lines if "adam" in line))
    assert legend < lines.index(frame[0])
    assert "⢕⢕ adam" in lines[legend] and "•• adam val" in lines[legend]
    top_left = frame[1].split("┤" if "┤" in frame[1] else "│")[1][:2]
    assert top_left.strip(), frame[1]  # epoch 1's point is there, not hidden
    assert y_labels(lines)[0] == "2"  # round ticks


def test_the_shell_legend_is_drawn_in_each_curves_own_colour():
    sgd = Curve("sgd", "r", [1, 2, 3, 4], {"loss": [1.0, 1.5, 1.2, 1.9]})
    curves = {"adam": loss_curve(4), "sgd": sgd}
    text = Text.from_ansi(curves_text(curves, "loss", 80, 20, color=True))
    runs = [(text.plain[s.start : s.end], s.style.color) for s in text.spans if s.style.color]
    frame = text.plain.index("┌")
    legend = {words.split()[-1]: color for words, color in runs if "⢕⢕" in words}
    assert set(legend) == {"adam", "sgd"} and legend["adam"] != legend["sgd"]
    braille = {color for words, color in runs if re.search("[⠁-⣿]", words) and "⢕⢕" not in words}
    assert {legend["adam"], legend["sgd"]} <= braille  # each line in its legend's colour
    assert text.plain.index("⢕⢕ sgd") < frame


def test_tuilab_show_draws_the_legend_above_the_loss_chart():
    """The stored run's loss starts at 2.30 (its highest): nothing of the plot is covered."""
    result = CliRunner().invoke(
        cli, ["show", "quick/20260101-120000", "--runs-dir", str(FIXTURES / "runs")]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    loss = lines[next(i for i, line in enumerate(lines) if line.strip() == "loss") :]
    assert "⢕⢕ plain" in loss[1] and "•• bn val" in loss[1]
    frame = box(loss)
    assert not any(name in row for row in frame for name in ("plain", "bn"))
    assert frame[1].split("│")[1][:1].strip()  # epoch 1's highest loss, top left
    assert set(x_labels(loss)) == {"1", "2", "3", "4"}


def test_x_ticks_are_whole_epochs_early_in_training():
    for epochs in (1, 2, 3):
        lines = curves_text({"adam": loss_curve(epochs)}, "loss", 80, 18, False).splitlines()
        assert x_labels(lines)[:-1] == [str(e) for e in range(1, epochs + 1)]  # then "epoch"
    lines = curves_text({"adam": loss_curve(8)}, "loss", 40, 18, False).splitlines()
    ticks = x_labels(lines)[:-1]
    assert ticks and all(tick.isdigit() for tick in ticks)


async def test_dashboard_y_labels_come_back_after_a_log_chart():
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs", stored_run=STORED_RUN)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        plot = app.screen.query_one(CurvesPlot)
        before = chart_lines(plot)
        assert len(y_labels(before)) >= 3
        await pilot.press("g")
        await pilot.pause(0.3)
        assert "accuracy (log scale)" in chart_lines(plot)[0]
        await pilot.press("g")
        await pilot.pause(0.3)
        assert chart_lines(plot) == before
        await pilot.press("g")
        while plot.options.metric != "loss":  # the loss chart, log scale, then linear
            await pilot.press("m")
        await pilot.press("g")
        await pilot.pause(0.3)
        lines = chart_lines(plot)
        assert lines[0].strip() == "loss" and len(y_labels(lines)) >= 3


async def test_dashboard_legend_sits_above_the_plot_in_each_trials_colour():
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs", stored_run=STORED_RUN)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        plot = app.screen.query_one(CurvesPlot)
        lines = chart_lines(plot)
        assert "⢕⢕ plain" in lines[1] and "•• bn val" in lines[1]
        assert not any(name in row for row in box(lines) for name in ("plain", "bn"))
        rows = chart_segments(plot)
        legend = {text.split()[-1]: style.color for text, style in rows[1] if text.strip()}
        assert legend["plain"] != legend["bn"]
        drawn = {style.color for row in rows[2:] for text, style in row if "⠤" in text}
        assert {legend["plain"], legend["bn"]} <= drawn  # the same colours as their lines


async def test_hiding_both_curve_sets_says_which_keys_bring_them_back():
    """At 60 columns the old hint (plotext's title) did not fit and was dropped: an empty box."""
    app = create_app(FIXTURES / "scenarios", FIXTURES / "runs", stored_run=STORED_RUN)
    async with app.run_test(size=(60, 20)) as pilot:
        await pilot.pause(0.5)
        plot = app.screen.query_one(CurvesPlot)
        await pilot.press("t", "v")
        await pilot.pause(0.3)
        inside = " ".join(row.strip("│ ") for row in box(chart_lines(plot)))
        assert "train and validation hidden" in " ".join(inside.split())
        assert "press t or v to show them" in " ".join(inside.split())
        await pilot.press("v")
        await pilot.pause(0.3)
        lines = chart_lines(plot)
        assert "•• plain val" in lines[1] and "hidden" not in " ".join(lines)
        while plot.options.metric != "learning_rate":  # no validation curve: nothing drawn
            await pilot.press("m")
        await pilot.pause(0.3)
        inside = " ".join(" ".join(row.strip("│ ") for row in box(chart_lines(plot))).split())
        assert "train hidden" in inside and "press t to show it" in inside
        await pilot.press("t")
        await pilot.pause(0.3)
        assert "⢕⢕ plain" in chart_lines(plot)[1]


async def test_dashboard_x_ticks_are_whole_epochs_for_a_two_epoch_run(tmp_path: Path):
    folder = synthetic_run(tmp_path / "runs", 2, trials=("adam", "sgd"))
    app = create_app(FIXTURES / "scenarios", tmp_path / "runs", stored_run=folder)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause(0.5)
        lines = chart_lines(app.screen.query_one(CurvesPlot))
        assert x_labels(lines) == ["1", "2"]
        assert "⢕⢕ adam" in lines[1] and "⢕⢕ sgd" in lines[1]
