"""Figures to share: `tuilab plot` files, the HTML report and the Markdown report's figures."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import ROOT
from PIL import Image
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.presentation.figures import DPI, curve_lines, curves_figure
from tuilab.presentation.numbers import format_value
from tuilab.runtime.curves import Curve

RUNS = ROOT / "tests" / "fixtures" / "runs"
STORED = RUNS / "quick" / "20260101-120000"
RUN = "quick/20260101-120000"
HOSTILE = "<script>alert(1)</script>"


def invoke(*args: str, runs: Path = RUNS):
    return CliRunner().invoke(app, [*args, "--runs-dir", str(runs)])


def distinct_colours(image: Image.Image) -> int:
    return len(set(image.convert("RGB").getdata()))


def test_plot_writes_a_png_of_the_asked_size_with_lines_drawn(tmp_path: Path) -> None:
    path = tmp_path / "curves.png"
    result = invoke("plot", RUN, "--metric", "loss", "--size", "6x4", "-o", str(path))
    assert result.exit_code == 0, result.output
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (6 * DPI, 4 * DPI)
        assert distinct_colours(image) > 50  # lines, text and anti-aliasing, not a blank page


def test_plot_writes_svg_and_pdf_chosen_by_the_suffix(tmp_path: Path) -> None:
    svg, pdf = tmp_path / "curves.svg", tmp_path / "curves.pdf"
    assert invoke("plot", RUN, "-o", str(svg)).exit_code == 0
    assert invoke("plot", f"{RUN}:bn", "--metric", "learning_rate", "-o", str(pdf)).exit_code == 0
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_plot_refuses_an_unknown_suffix_a_bad_size_and_an_unlogged_metric(tmp_path: Path) -> None:
    gif = tmp_path / "curves.gif"
    result = invoke("plot", RUN, "-o", str(gif))
    assert result.exit_code == 2 and ".png, .svg, .pdf" in result.output
    assert not gif.exists()
    bad_size = invoke("plot", RUN, "--size", "wide", "-o", str(tmp_path / "c.png"))
    assert bad_size.exit_code == 2 and "e.g. 8x5" in bad_size.output
    unlogged = invoke("plot", RUN, "--metric", "f1", "-o", str(tmp_path / "c.png"))
    assert unlogged.exit_code == 2 and "logged: accuracy, learning_rate, loss" in unlogged.output


def test_repeats_of_a_variant_become_one_mean_line_with_a_std_band() -> None:
    curves = {
        f"a.r{i}": Curve("a", "run1", [1, 2], {"accuracy": [v, v + 0.1]})
        for i, v in ((1, 0.2), (2, 0.4))
    }
    curves["b"] = Curve("b", "run1", [1, 2], {"accuracy": [0.5, 0.6], "val_accuracy": [0.5, 0.5]})
    lines = curve_lines(curves, "accuracy")
    assert [(line.label, line.style) for line in lines] == [
        ("a (mean ± std, n=2)", "-"),
        ("b", "-"),
        ("b", "--"),
    ]
    assert lines[0].ys == pytest.approx([0.3, 0.4]) and lines[0].stds == pytest.approx([0.1, 0.1])
    assert lines[1].color == lines[2].color != lines[0].color


def hostile_copy(root: Path, name: str) -> Path:
    """The fixture run with its `plain` trial renamed `name` in the events and results."""
    folder = root / "quick" / "20260101-120000"
    shutil.copytree(STORED, folder)
    lines = []
    for line in (folder / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("trial") == "plain":
            event["trial"] = event["variant"] = name
        if event["event"] == "run_started":
            event["scenario"] = name
        lines.append(json.dumps(event))
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    results = json.loads((folder / "results.json").read_text())
    results["trials"] = {name if k == "plain" else k: v for k, v in results["trials"].items()}
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def embedded_pngs(page: str) -> list[Image.Image]:
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


def test_the_html_report_embeds_each_figure_and_the_stored_numbers() -> None:
    result = invoke("report", RUN, "--format", "html")
    assert result.exit_code == 0, result.output
    page = result.stdout
    assert page.startswith("<!DOCTYPE html>") and "</html>" in page
    images = embedded_pngs(page)
    assert len(images) == 3  # accuracy, loss and the digits samples (no layer stats stored)
    assert all(image.size == (800, 500) and distinct_colours(image) > 50 for image in images[:2])
    assert images[2].size == (1000, 280)
    stored = json.loads((STORED / "results.json").read_text())
    for trial, values in stored["trials"].items():
        assert f"<td>{trial}</td>" in page
        assert format_value(values["test"]["accuracy"]) in page
        assert format_value(values["best"]["val_accuracy"]) in page
    assert "ReduceLROnPlateau" in page and "moving_variance" in page
    assert "model.batchnorm.momentum" in page
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)  # nothing loaded from outside


def test_the_html_report_escapes_a_hostile_trial_name(tmp_path: Path) -> None:
    hostile_copy(tmp_path, HOSTILE)
    result = invoke("report", RUN, "--format", "html", runs=tmp_path)
    assert result.exit_code == 0, result.output
    page = result.stdout
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert len(embedded_pngs(page)) == 3


def test_plot_draws_hostile_and_mathtext_names_as_text(tmp_path: Path) -> None:
    hostile_copy(tmp_path, "_$\\frac{broken$ " + HOSTILE)
    png, svg = tmp_path / "curves.png", tmp_path / "curves.svg"
    for path in (png, svg):
        result = invoke("plot", RUN, "-o", str(path), runs=tmp_path)
        assert result.exit_code == 0, result.output
    assert Image.open(png).size == (800, 500)
    assert ET.parse(svg).getroot().tag.endswith("svg")
    assert "<script" not in svg.read_text()


def test_characters_the_font_lacks_draw_without_warnings(tmp_path: Path) -> None:
    """matplotlib warned once per missing glyph, with its source path, on the user's stderr."""
    import warnings

    hostile_copy(tmp_path, "rocket 🚀 名前")
    png = tmp_path / "curves.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a warning fails the command
        result = invoke("plot", RUN, "-o", str(png), runs=tmp_path)
        assert result.exit_code == 0, result.output
        report = invoke("report", RUN, "--format", "html", runs=tmp_path)
        assert report.exit_code == 0, report.output
    assert Image.open(png).size == (800, 500)


def test_a_markdown_report_written_to_a_file_links_its_figures(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    result = invoke("report", RUN, "-o", str(report))
    assert result.exit_code == 0, result.output
    text = report.read_text()
    for metric in ("accuracy", "loss"):
        figure = tmp_path / f"report-{metric}.png"
        assert f"![{metric} per epoch](report-{metric}.png)" in text
        assert Image.open(figure).size == (800, 500)
    assert "## Curves" not in invoke("report", RUN).stdout  # no file, no figures


WITHOUT_MATPLOTLIB = """
import sys
sys.modules["matplotlib"] = None  # as if the plot extra were not installed
from tuilab.cli import main
sys.argv = ["tuilab", *sys.argv[1:]]
main()
"""


def run_without_matplotlib(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_MATPLOTLIB, *args, "--runs-dir", str(RUNS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_matplotlib_plot_names_the_extra_and_html_still_works(tmp_path: Path) -> None:
    plot = run_without_matplotlib("plot", RUN, "-o", str(tmp_path / "c.png"))
    assert plot.returncode == 2 and 'pip install "tuilab[plot]"' in plot.stderr
    assert "Traceback" not in plot.stderr
    page = run_without_matplotlib("report", RUN, "--format", "html")
    assert page.returncode == 0, page.stderr
    assert "tuilab[plot]" in page.stdout and "data:image" not in page.stdout
    assert "<td>bn</td>" in page.stdout
    report = tmp_path / "report.md"
    markdown = run_without_matplotlib("report", RUN, "-o", str(report))
    assert markdown.returncode == 0 and "tuilab[plot]" in markdown.stderr
    assert "## Curves" not in report.read_text() and list(tmp_path.iterdir()) == [report]


def test_learning_rate_changes_and_early_stopping_are_marked() -> None:
    curve = Curve(
        "a", "run1", [1, 2, 3, 4], {"loss": [2, 1, 1.1, 1.2], "val_loss": [2, 1, 1.2, 1.3]}
    )
    curve.lr_changes, curve.early_stop = [3], (4, 2)
    figure = curves_figure({"a": curve}, "loss", "marks")
    axes = figure.axes[0]
    stars = [line for line in axes.get_lines() if line.get_marker() == "*"]
    assert [(list(s.get_xdata()), list(s.get_ydata())) for s in stars] == [([2], [1])]
    assert any(line.get_marker() == "v" for line in axes.get_lines())
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["a", "training", "validation", "lr changed", "early stop: best epoch"]
