"""The mistake gallery: `variants/<trial>/mistakes.npz` holds the images of a classifier's most
confident test mistakes as the model got them, checked against the saved model, drawn by
`tuilab show`, and a damaged or hostile file is refused with a reason, never a crash."""

from __future__ import annotations

import json
import os
import pickle
import re
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from tuilab import layout
from tuilab.cli import app
from tuilab.data import load_data
from tuilab.data.sources import spec_for
from tuilab.presentation.confusion import confidence_percent, mistake_caption
from tuilab.presentation.samples import CaptionedTile, caption_lines, gallery_grid, gallery_layout
from tuilab.runtime.confusion import build_report
from tuilab.runtime.events import ClassificationReport
from tuilab.runtime.mistakes import (
    MISTAKE_IMAGES,
    mistakes_path,
    read_mistakes,
    write_mistakes,
)
from tuilab.runtime.ray_pool import STORE_WRITES, RayPool, _trial_files
from tuilab.runtime.run_folder import RunFolder
from tuilab.runtime.session import RunRequest, execute, prepare_run
from tuilab.runtime.stored import load_run

DIGITS = """
[scenario]
name = "mistakes"
seed = 11
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 16, activation = "relu" },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = 1
batch_size = 64
[run]
parallel = PARALLEL
[variants.flat]
compile.optimizer = { type = "Adam", learning_rate = 0.01 }
[variants.image]
data.flatten = false
model.layers = [{ type = "Flatten" }, { type = "Dense", units = 16, activation = "relu" },
                { type = "Dense", units = 10, activation = "softmax" }]
compile.optimizer = { type = "SGD", learning_rate = 0.05 }
"""
TRIALS = ("flat", "image")


def train(folder: Path, parallel: int = 1):
    """A tiny digits run (one epoch: plenty of mistakes); the runner and the run folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "digits.toml"
    path.write_text(textwrap.dedent(DIGITS.replace("PARALLEL", str(parallel))), encoding="utf-8")
    runner, store = prepare_run(RunRequest(path, runs_dir=folder / "runs"))
    outcome = execute(runner, store, lambda event: None)
    assert outcome.status == "finished" and store is not None
    return runner, store.folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    return train(tmp_path_factory.mktemp("mistakes"))


def stored_report(folder: Path, trial: str) -> ClassificationReport:
    return load_run(folder).book.reports[trial]


def test_the_stored_images_are_the_test_inputs_the_saved_model_gets_wrong(trained) -> None:
    import keras

    runner, folder = trained
    for trial in TRIALS:
        report = stored_report(folder, trial)
        assert report.misclassified_total >= MISTAKE_IMAGES  # one epoch: enough mistakes
        with np.load(folder / "variants" / trial / "mistakes.npz", allow_pickle=False) as raw:
            assert sorted(raw.files) == ["images", "index"]
            assert raw["index"].dtype == np.int64 and raw["images"].dtype == np.float32
            assert raw["images"].shape == (MISTAKE_IMAGES, 8, 8, 1)  # the image shape, even flat
        found, problem = read_mistakes(folder, trial)  # checked against confusion.json
        assert problem is None and found is not None
        expected = [m["index"] for m in report.misclassified[:MISTAKE_IMAGES]]
        assert found.index.tolist() == expected
        # the test split recomputed as training prepared it, after preprocessing
        config = runner.scenario.variants[trial]
        data = load_data(config.data, config.compile.loss, runner.scenario.meta.seed)
        shape = spec_for(config.data).image_shape
        assert np.array_equal(found.images, data.x_test[found.index].reshape(-1, *shape))
        assert found.images.min() >= 0.0 and found.images.max() <= 1.0  # scaled 0..16 -> 0..1
        # the saved model really gets each of them wrong, as the report says
        model = keras.models.load_model(folder / "variants" / trial / "model.keras")
        inputs = found.images.reshape(len(found), *data.input_shape)
        probs = model.predict(inputs, verbose=0)
        mistakes = report.misclassified[:MISTAKE_IMAGES]
        assert probs.argmax(axis=1).tolist() == [m["predicted"] for m in mistakes]
        assert probs.argmax(axis=1).tolist() != [m["true"] for m in mistakes]
        assert all(data.y_test[m["index"]] == m["true"] != m["predicted"] for m in mistakes)
        confidences = [m["confidence"] for m in mistakes]
        assert probs.max(axis=1) == pytest.approx(confidences, rel=1e-4)


def show(folder: Path, columns: int = 80, env: dict[str, str] | None = None):
    result = CliRunner().invoke(
        app,
        ["show", f"{folder.parent.name}/{folder.name}", "--runs-dir", str(folder.parent.parent)],
        env={"COLUMNS": str(columns), **(env or {})},
    )
    assert result.exit_code == 0, result.output
    return result.output


def expected_caption(report: ClassificationReport, index: int) -> str:
    mistake = report.misclassified[index]
    percent = f"{mistake['confidence']:.0%}"  # as the table's 0.930 rounds
    percent = ">99%" if percent == "100%" and mistake["confidence"] < 1 else percent
    return f"{mistake['true']}→{mistake['predicted']} {percent}"


def test_show_prints_the_gallery_under_the_mistakes_table_at_80_columns(trained) -> None:
    _, folder = trained
    output = show(folder)
    shown = output.splitlines()[1:]  # the first names the run's (long) folder
    assert all(len(line) <= 80 for line in shown)
    for trial in TRIALS:
        report = stored_report(folder, trial)
        table = output.index(f"{trial}: most confident mistakes")
        heading = output.index(f"{trial}: the {MISTAKE_IMAGES} most confident mistakes as")
        assert table < heading
        captions = [expected_caption(report, k) for k in range(MISTAKE_IMAGES)]
        rest = output[heading:]
        end = rest.find("confusion on the test split")
        gallery = rest if end < 0 else rest[:end]
        # every caption whole, row by row, left to right: the table's order
        assert re.findall(r"\d→\d >?\d+%", gallery) == captions, gallery
        assert "'@' 1" in gallery  # piped: the ASCII legend, ASCII shades


def test_the_gallery_wraps_to_more_rows_when_narrow_and_never_cuts_a_caption() -> None:
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    names += ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 400)
    probs = rng.dirichlet(np.ones(10), 400)
    report = build_report("cnn", names, y, probs)
    image = np.linspace(-0.5, 1.5, 28 * 28, dtype=np.float32).reshape(28, 28, 1)
    tiles = [CaptionedTile(image, mistake_caption(report, m)) for m in report.misclassified[:16]]
    for width in (80, 76, 40, 20, 12):
        per_row, cell, _ = gallery_layout(width, tiles)
        assert per_row * (cell + 1) - 1 <= width
        for color in (True, False):
            console = Console(width=width, color_system="truecolor" if color else None)
            with console.capture() as capture:
                console.print(gallery_grid(tiles, width, color=color))
            text = Text.from_ansi(capture.get()).plain
            assert "…" not in text
            assert all(len(line) <= width for line in text.splitlines())
            for tile in tiles:  # every caption, line by line, as laid out
                assert all(line in text for line in caption_lines(tile.caption, cell))
    assert gallery_layout(80, tiles)[0] == 4  # 4 Fashion tiles a row at 80 columns
    assert caption_lines(("T-shirt/top→", "Ankle boot", " 93%"), 18) == [
        "T-shirt/top→",
        "Ankle boot 93%",
    ]
    assert caption_lines(("3→", "8", " 93%"), 18) == ["3→8 93%"]
    assert caption_lines(("abcdefgh",), 3) == ["abc", "def", "gh"]  # folded, not cut
    assert confidence_percent(0.29) == "29%" and confidence_percent(0.96996) == "97%"
    assert confidence_percent(0.996) == ">99%" and confidence_percent(1.0) == "100%"


def copy_run(folder: Path, tmp_path: Path) -> Path:
    target = tmp_path / "runs" / folder.parent.name / folder.name
    shutil.copytree(folder, target)
    return target


class Boom:
    """Pickled into an object array: unpickling it would create `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def damage(path: Path, how: str, tmp_path: Path) -> None:
    """Replace a good `mistakes.npz` by a bad one."""
    good = np.load(path, allow_pickle=False)
    index, images = good["index"], good["images"]
    good.close()
    if how == "pickled objects":
        objects = np.empty(len(index), dtype=object)
        objects[:] = [Boom(tmp_path / "pwned") for _ in index]
        np.savez(path, index=objects, images=images)
    elif how == "wrong shape":
        np.savez_compressed(path, index=index, images=images.reshape(len(index), -1))
    elif how == "wrong dtype":
        np.savez_compressed(path, index=index.astype(np.float64), images=images)
    elif how == "other indices":
        np.savez_compressed(path, index=index[::-1].copy(), images=images)
    elif how == "a directory":
        path.unlink()
        path.mkdir()
    elif how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "not a zip":
        path.write_bytes(b"\x93NUMPY" + os.urandom(200))
    elif how == "a lying header":
        header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000,), }"
        header += b" " * (63 - len(header) % 64) + b"\n"
        fake = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 64
        import zipfile

        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("index.npy", fake)
            archive.writestr("images.npy", fake)
    elif how == "a link to a device":
        path.unlink()
        path.symlink_to("/dev/zero")
    else:
        raise AssertionError(how)


HOSTILE = (
    "pickled objects",
    "wrong shape",
    "wrong dtype",
    "other indices",
    "a directory",
    "truncated",
    "not a zip",
    "a lying header",
    "a link to a device",
)


@pytest.mark.parametrize("how", HOSTILE)
def test_a_damaged_or_hostile_file_gives_a_reason_not_a_crash(trained, tmp_path, how) -> None:
    _, original = trained
    folder = copy_run(original, tmp_path)
    damage(folder / "variants" / "flat" / "mistakes.npz", how, tmp_path)
    found, problem = read_mistakes(folder, "flat")
    assert found is None and problem and "mistakes.npz" in problem, problem
    assert not (tmp_path / "pwned").exists()  # nothing from the file was ever run
    output = show(folder)
    assert "flat: no mistake gallery: mistakes.npz" in output
    assert "image: the 16 most confident mistakes" in output  # the other trial is unharmed
    assert not (tmp_path / "pwned").exists()
    assert all(len(line) <= 80 for line in output.splitlines()[1:])


def test_no_file_means_no_gallery_and_no_complaint(trained, tmp_path) -> None:
    _, original = trained
    folder = copy_run(original, tmp_path)
    (folder / "variants" / "flat" / "mistakes.npz").unlink()
    assert read_mistakes(folder, "flat") == (None, None)
    output = show(folder)
    assert "no mistake gallery" not in output and "flat: the 16 most" not in output
    assert "flat: most confident mistakes" in output  # the table still shows


def small_report(mistakes: int) -> ClassificationReport:
    y = np.arange(20) % 10
    probs = np.full((20, 10), 0.01)
    probs[np.arange(20), y] = 0.91
    for k in range(mistakes):
        probs[k] = 0.01
        probs[k, (y[k] + 1) % 10] = 0.91 - 0.01 * k
    return build_report("t", [str(i) for i in range(10)], y, probs)


def test_no_file_for_data_that_is_no_image_or_a_report_without_mistakes(tmp_path) -> None:
    run = RunFolder(tmp_path / "run")
    x = np.random.default_rng(0).random((20, 64), dtype=np.float32)
    assert write_mistakes(run, small_report(3), x, (8, 8, 1)) is not None
    found, problem = read_mistakes(run, "t", small_report(3))
    assert problem is None and found is not None and found.index.tolist() == [0, 1, 2]
    assert np.array_equal(found.images, x[:3].reshape(3, 8, 8, 1))
    assert write_mistakes(run, small_report(3), x, (64,)) is None  # a vector: no image
    assert not mistakes_path(run, "t").exists()  # nor the earlier one
    write_mistakes(run, small_report(3), x, (8, 8, 1))
    assert write_mistakes(run, small_report(0), x, (8, 8, 1)) is None  # a perfect classifier
    assert not mistakes_path(run, "t").exists()
    assert write_mistakes(run, small_report(3), x, (4, 4, 2)) is None  # two channels: no image
    assert write_mistakes(run, small_report(3), x[:, :10], (8, 8, 1)) is None  # other sizes


def test_the_file_is_a_trial_file_a_ray_task_brings_back_confined(trained, tmp_path) -> None:
    _, original = trained
    source = original / "variants" / "flat"
    assert layout.MISTAKES_NPZ in layout.TRIAL_FILES  # callbacks may not write over it
    assert layout.MISTAKES_NPZ not in STORE_WRITES
    files = _trial_files(source)
    assert layout.MISTAKES_NPZ in files
    files["../../mistakes.npz"] = b"outside"  # a hostile task's result
    pool = RayPool.__new__(RayPool)  # only its bringing back, without a cluster
    folder = copy_run(original, tmp_path)
    shutil.rmtree(folder / "variants" / "flat")
    pool._folder = RunFolder(folder)
    pool._bring_back("flat", {"files": files, "node": "n", "host": "h", "pid": 1})
    found, problem = read_mistakes(folder, "flat")
    assert problem is None and found is not None and len(found) == MISTAKE_IMAGES
    assert not (folder / "mistakes.npz").exists() and not (folder.parent / "mistakes.npz").exists()


def test_parallel_workers_store_each_trials_images(tmp_path) -> None:
    _, folder = train(tmp_path, parallel=2)
    for trial in TRIALS:
        found, problem = read_mistakes(folder, trial)
        assert problem is None and found is not None and len(found) == MISTAKE_IMAGES
        report = json.loads((folder / "variants" / trial / "confusion.json").read_text())
        assert found.index.tolist() == [m["index"] for m in report["misclassified"][:16]]


def test_a_pickle_is_never_loaded_even_when_numpy_would(tmp_path) -> None:
    """The header check refuses an object array before numpy is asked to load it."""
    run = RunFolder(tmp_path / "run")
    path = mistakes_path(run, "t")
    path.parent.mkdir(parents=True)
    marker = tmp_path / "ran"
    with open(path, "wb") as stream:
        bomb = np.array([Boom(marker)], dtype=object)
        np.savez(stream, index=bomb, images=np.zeros((1, 2, 2, 1)))
    assert pickle.dumps(Boom(marker))  # it is a real pickle bomb
    found, problem = read_mistakes(run, "t", small_report(1))
    assert found is None and "Python objects" in (problem or "") and not marker.exists()
