"""The report's confusion matrices, layer health, gradient heatmaps and sample grids, from a
tiny real digits run: the HTML page's numbers against the run's files, the embedded figures,
and the Markdown report's figure files."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT
from PIL import Image
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.headless.report_parts import SAMPLES_PER_CLASS, safe_name
from tuilab.presentation.confusion import format_share
from tuilab.presentation.diagnostic_figures import (
    confusion_figure,
    layer_figure,
    layer_figure_size,
    samples_figure_size,
)
from tuilab.presentation.figures import DPI
from tuilab.presentation.layer_health import layer_series
from tuilab.runtime.events import ClassificationReport, event_from_json
from tuilab.runtime.session import RunRequest, execute, prepare_run

DIGITS = """
[scenario]
name = "report figures"
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
[variants.a]
compile.optimizer = { type = "Adam", learning_rate = 0.01 }
[variants.b]
compile.optimizer = { type = "SGD", learning_rate = 0.05 }
"""
TRIALS = ("a", "b")
HOSTILE = "../../<script>alert(1)</script>"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two digits classifiers trained for two epochs, stored (once for this module)."""
    root = tmp_path_factory.mktemp("report")
    path = root / "digits.toml"
    path.write_text(textwrap.dedent(DIGITS), encoding="utf-8")
    runner, store = prepare_run(RunRequest(path, runs_dir=root / "runs"))
    execute(runner, store, lambda event: None)
    return store.folder


def report(folder: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["report", str(folder), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def page(run: Path) -> str:
    return report(run, "--format", "html")


def section(page: str, heading: str, until: str = "<h3>") -> str:
    """The page from the `<h3>` naming `heading` to the next `<h3>` (or the end)."""
    start = page.index(f"<h3>{heading}")
    end = page.find(until, start + 4)
    return page[start : end if end > 0 else len(page)]


def embedded(page: str) -> dict[str, Image.Image]:
    """alt text -> image, for each embedded PNG."""
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"', page)
    return {html.unescape(alt): Image.open(io.BytesIO(base64.b64decode(d))) for d, alt in found}


def stored_report(run: Path, trial: str) -> dict:
    return json.loads((run / "variants" / trial / "confusion.json").read_text())


def layer_lines(run: Path, trial: str) -> list[dict]:
    text = (run / "variants" / trial / "layers.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_the_confusion_heatmap_has_every_count_of_confusion_json(run: Path, page: str) -> None:
    for trial in TRIALS:
        stored = stored_report(run, trial)
        part = section(page, trial)
        heat = re.search(r'<table class="heat">(.*?)</table>', part, re.S)
        assert heat is not None
        headers = re.findall(r"<th>([^<]*)</th>", heat.group(1))
        assert headers[1:] == stored["labels"]
        rows = re.findall(r"<tr>(.*?)</tr>", heat.group(1), re.S)[1:]
        counts = [[int(n) for n in re.findall(r"<td[^>]*>(\d+)</td>", row)] for row in rows]
        assert counts == stored["matrix"]
        diagonal = re.findall(r'<td style="background: rgb\(0,(\d+),0\)[^>]*>(\d+)</td>', part)
        assert [int(n) for _, n in diagonal] == [
            stored["matrix"][i][i] for i in range(10) if stored["matrix"][i][i]
        ]
        assert 'class="zero">0</td>' in part


def test_the_per_class_table_and_confused_pairs_are_the_stored_values(run: Path, page: str) -> None:
    for trial in TRIALS:
        stored = stored_report(run, trial)
        part = section(page, trial)
        for index, label in enumerate(stored["labels"]):
            values = [stored[k][index] for k in ("precision", "recall", "f1")]
            cells = [str(stored["support"][index]), *(format_share(v) for v in values)]
            row = f"<td>{label}</td>" + "".join(f'<td class="num">{c}</td>' for c in cells)
            assert row in part
        top = stored["confused_pairs"][0]
        share = format_share(top["count"] / stored["support"][top["true"]])
        assert f'<td class="num">{top["count"]}</td><td class="num">{share}</td>' in part
        assert f"accuracy {format_share(stored['accuracy'])} on 360 test samples" in part


def test_the_layer_table_shows_the_norms_of_layers_jsonl(run: Path, page: str) -> None:
    for trial in TRIALS:
        lines = layer_lines(run, trial)
        part = section(page, f"{trial}: layers")
        assert f"epochs 0-{lines[-1]['epoch']}" in part
        for name, last in lines[-1]["layers"].items():
            first = lines[0]["layers"][name]
            for key in ("gradient_norm", "weight_norm"):
                shown = f"{first[key]:.3g} → {last[key]:.3g}"
                assert f'<td class="num">{shown}</td>' in part, (name, key)
            assert f"<td>{name}</td>" in part


def test_the_page_embeds_curves_layer_heatmaps_and_the_sample_grid(run: Path, page: str) -> None:
    images = embedded(page)
    layers = len(layer_lines(run, "a")[0]["layers"])
    width, height = layer_figure_size(layers)
    for trial in TRIALS:
        heatmap = images[f"{trial}: gradient norm per layer (rows) and epoch (columns), log scale"]
        assert heatmap.size == (width * DPI, round(height * DPI))
        assert len(set(heatmap.convert("RGB").getdata())) > 20
    grid = next(image for alt, image in images.items() if "training samples per class" in alt)
    width, height = samples_figure_size(10, SAMPLES_PER_CLASS)
    assert grid.size == (round(width * DPI), round(height * DPI))
    pixels = set(grid.convert("RGB").getdata())
    assert any(r == g == b and 0 < r < 255 for r, g, b in pixels)  # grey levels drawn
    assert "digits, variants a, b" in page and "(x - 0) / 16" in page
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)


def test_a_markdown_report_links_every_figure_as_a_file(run: Path, tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    report(run, "-o", str(path))
    text = path.read_text()
    links = dict(re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", text))
    names = set(links.values())
    expected = {f"report-{kind}-{t}.png" for kind in ("confusion", "layers") for t in TRIALS}
    assert expected | {"report-samples.png", "report-accuracy.png"} <= names
    assert {p.name for p in tmp_path.iterdir()} == names | {"report.md"}
    for name in names:
        with Image.open(tmp_path / name) as image:
            assert image.format == "PNG" and image.size[0] >= 700
    assert links["confusion matrix of a"] == "report-confusion-a.png"
    stored = stored_report(run, "a")
    row = "| " + " | ".join([stored["labels"][0], *map(str, stored["matrix"][0])]) + " |"
    assert row in text
    first, last = layer_lines(run, "a")[0], layer_lines(run, "a")[-1]
    norm = f"{first['layers']['dense']['gradient_norm']:.3g} → "
    norm += f"{last['layers']['dense']['gradient_norm']:.3g}"
    assert "| dense | 1,040 | " in text and norm in text


def test_the_confusion_figure_writes_every_count() -> None:
    matrix = [[5, 1, 0], [0, 7, 2], [3, 0, 4]]
    report = ClassificationReport(
        "t", ["cat", "dog", "bird"], matrix, [0.5] * 3, [0.5] * 3, [0.5] * 3, [6, 9, 7]
    )
    figure = confusion_figure(report)
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert texts == [str(n) for row in matrix for n in row]
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == ["cat", "dog", "bird"]


def copy_run(run: Path, root: Path) -> Path:
    folder = root / "report" / run.name
    shutil.copytree(run, folder)
    return folder


@pytest.mark.parametrize(
    ("resolved", "reason"),
    [
        (
            {"data": {"dataset": "mnist", "path": "/nonexistent/mnist.npz"}},
            "mnist: data.path: /nonexistent/mnist.npz does not exist",
        ),
        ({"source": "script"}, "no samples: a run recorded from a script"),
    ],
)
def test_a_run_without_loadable_data_says_why_in_one_line(
    run: Path, tmp_path: Path, resolved: dict, reason: str
) -> None:
    folder = copy_run(run, tmp_path)
    document = json.loads((folder / "resolved.json").read_text())
    for table in document["variants"].values():
        table["data"] = resolved.get("data", table["data"])
    document.update({k: v for k, v in resolved.items() if k != "data"})
    (folder / "resolved.json").write_text(json.dumps(document))
    page = report(folder, "--format", "html")
    data = page[page.index("<h2>The data") :]
    line = re.search(r'<p class="warn">([^<\n]*)</p>', data)
    assert line is not None and reason in line.group(1)
    assert "<img" not in data and page.count('<table class="heat">') == 2


def test_a_hostile_trial_name_is_escaped_and_its_figures_stay_beside_the_report(
    run: Path, tmp_path: Path
) -> None:
    folder = copy_run(run, tmp_path / "store")
    lines = []
    for line in (folder / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event.get("trial") == "a":
            event["trial"] = HOSTILE
            event["variant"] = HOSTILE if "variant" in event else event.get("variant")
        lines.append(json.dumps(event))
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    page = report(folder, "--format", "html")
    assert "<script" not in page.lower() and "&lt;script&gt;" in page
    out = tmp_path / "out"
    out.mkdir()
    report(folder, "-o", str(out / "report.md"))
    written = sorted(p.name for p in out.iterdir())
    assert "/" not in safe_name(HOSTILE) and not safe_name(HOSTILE).startswith(".")
    assert f"report-confusion-{safe_name(HOSTILE)}.png" in written
    assert f"report-layers-{safe_name(HOSTILE)}.png" in written
    assert all(p.parent == out for p in out.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "store"]  # nothing beside


WITHOUT_MATPLOTLIB = """
import sys
sys.modules["matplotlib"] = None  # as if the plot extra were not installed
from tuilab.cli import main
sys.argv = ["tuilab", *sys.argv[1:]]
main()
"""


def test_without_matplotlib_the_tables_stay_and_the_page_says_how_to_get_figures(
    run: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_MATPLOTLIB, "report", str(run), "--format", "html"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    page = result.stdout
    assert "data:image" not in page and page.count("tuilab[plot]") >= 2
    assert page.count('<table class="heat">') == 2 and "Grad norm" in page


def test_a_flagged_layer_is_highlighted_in_the_table_and_the_heatmap(
    run: Path, tmp_path: Path
) -> None:
    folder = copy_run(run, tmp_path)
    lines = []
    for line in (folder / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if event["event"] == "layer_stats" and event["trial"] == "b" and event["epoch"] == 2:
            event["layers"]["dense_1"]["gradient_norm"] = None  # a NaN gradient, as stored
        lines.append(json.dumps(event))
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    page = report(folder, "--format", "html")
    part = section(page, "b: layers")
    assert '<tr class="flagged"><td>dense_1</td>' in part and "non-finite" in part
    assert "flagged: dense_1" in part
    assert '<tr class="flagged">' not in section(page, "a: layers")
    series = layer_series(event_from_json(line) for line in lines)
    figure = layer_figure(series["b"])
    ticks = {t.get_text(): t.get_color() for t in figure.axes[0].get_yticklabels()}
    assert ticks == {"dense": "black", "dense_1 [non-finite]": "red"}
    assert [t.get_text() for t in figure.axes[0].texts] == ["!"]


def test_the_page_shows_each_trials_stored_mistakes_as_a_captioned_gallery(
    run: Path, page: str
) -> None:
    import numpy as np

    from tuilab.presentation.diagnostic_figures import gallery_figure_size

    images = embedded(page)
    for trial in TRIALS:
        stored = np.load(run / "variants" / trial / "mistakes.npz", allow_pickle=False)
        count = len(stored["index"])
        assert count and list(stored["index"]) == [
            m["index"] for m in stored_report(run, trial)["misclassified"][:count]
        ]
        alt = f"{trial}: the most confident mistakes, true→predicted confidence"
        width, height = gallery_figure_size(count)
        assert images[alt].size == (round(width * DPI), round(height * DPI))


def test_a_corrupt_mistakes_file_is_named_and_the_rest_of_the_page_stays(
    run: Path, tmp_path: Path
) -> None:
    folder = copy_run(run, tmp_path)
    (folder / "variants" / "a" / "mistakes.npz").write_bytes(b"PK\x03\x04 not a zip")
    page = report(folder, "--format", "html")
    assert "a: no mistake gallery: " in html.unescape(page)
    alts = embedded(page)
    assert "b: the most confident mistakes, true→predicted confidence" in alts
    assert "a: the most confident mistakes, true→predicted confidence" not in alts
    assert page.count('<table class="heat">') == 2
