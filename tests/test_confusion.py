"""Where the classifier goes wrong: the confusion report of each trial, checked against
scikit-learn on the saved model's own predictions, shown by `tuilab show` and compared."""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from sklearn.metrics import confusion_matrix
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.data import load_data
from tuilab.data.class_names import class_names
from tuilab.headless.confusion import matrix_table
from tuilab.runtime.confusion import build_report, class_indices, probabilities
from tuilab.runtime.control import RunControl
from tuilab.runtime.events import (
    ClassificationReport,
    EpochEnded,
    Event,
    EventFormatError,
    VariantFinished,
    event_from_dict,
    event_from_json,
)
from tuilab.runtime.session import RunRequest, execute, prepare_run
from tuilab.runtime.stored import load_run

ROOT = Path(__file__).resolve().parent.parent
OLD_RUN = ROOT / "tests" / "fixtures" / "runs"
DIGITS = """
[scenario]
name = "where it goes wrong"
seed = 3
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 32, activation = "relu" },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = EPOCHS
batch_size = 64
[variants.a]
compile.optimizer = { type = "Adam", learning_rate = 0.01 }
[variants.b]
compile.optimizer = { type = "SGD", learning_rate = 0.05 }
"""


def train(folder: Path, epochs: int, control: RunControl | None = None, on_event=None):
    path = folder / "digits.toml"
    path.write_text(textwrap.dedent(DIGITS.replace("EPOCHS", str(epochs))), encoding="utf-8")
    runner, store = prepare_run(RunRequest(path, runs_dir=folder / "runs"), control)
    events: list[Event] = []

    def deliver(event: Event) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    execute(runner, store, deliver)
    return runner, store.folder, events


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """Two digits classifiers, 3 epochs each, stored (trained once for this module)."""
    return train(tmp_path_factory.mktemp("confusion"), 3)


def saved_predictions(runner, folder: Path, trial: str) -> tuple[np.ndarray, np.ndarray]:
    """The test split the runner used and the saved model's probabilities on it."""
    import keras

    config = runner.scenario.variants[trial]
    data = load_data(config.data, config.compile.loss, runner.scenario.meta.seed)
    model = keras.models.load_model(folder / "variants" / trial / "model.keras")
    return data.y_test, model.predict(data.x_test, batch_size=config.fit.batch_size, verbose=0)


def test_the_stored_matrix_is_scikit_learns_on_the_saved_models_predictions(trained) -> None:
    runner, folder, events = trained
    for trial in ("a", "b"):
        stored = json.loads((folder / "variants" / trial / "confusion.json").read_text())
        y_test, probs = saved_predictions(runner, folder, trial)
        predicted = probs.argmax(axis=1)
        expected = confusion_matrix(y_test, predicted, labels=list(range(10)))
        matrix = np.array(stored["matrix"])
        assert (matrix == expected).all(), trial
        assert matrix.sum() == len(y_test) == sum(stored["support"])
        assert stored["labels"] == [str(i) for i in range(10)]
        assert stored["accuracy"] == pytest.approx(np.trace(matrix) / len(y_test))
        rows, columns = matrix.sum(axis=1), matrix.sum(axis=0)
        assert stored["recall"] == pytest.approx(np.diag(matrix) / rows)
        precision = np.divide(np.diag(matrix), columns, out=np.zeros(10), where=columns > 0)
        assert stored["precision"] == pytest.approx(precision)
        wrong = predicted != y_test
        assert stored["misclassified_total"] == int(wrong.sum())
        assert len(stored["misclassified"]) == min(50, int(wrong.sum())) > 0
        confidences = [m["confidence"] for m in stored["misclassified"]]
        assert confidences == sorted(confidences, reverse=True)  # the most confident first
        for mistake in stored["misclassified"]:
            index = mistake["index"]
            assert mistake["true"] == y_test[index] != probs[index].argmax()
            assert mistake["predicted"] == probs[index].argmax()
            assert mistake["confidence"] == pytest.approx(probs[index].max(), rel=1e-5)
        off = matrix - np.diag(np.diag(matrix))
        top = stored["confused_pairs"][0]
        assert top["count"] == off.max() == off[top["true"], top["predicted"]]
        # the same report travelled as an event, before its trial's VariantFinished
        kinds = [(type(e).__name__, getattr(e, "trial", "")) for e in events]
        assert kinds.index(("ClassificationReport", trial)) < kinds.index(
            ("VariantFinished", trial)
        )
        assert load_run(folder).book.reports[trial].matrix == stored["matrix"]


def test_the_report_takes_little_room_in_events_jsonl(trained) -> None:
    _, folder, _ = trained
    lines = (folder / "events.jsonl").read_text().splitlines()
    reports = [line for line in lines if '"classification_report"' in line]
    assert len(reports) == 2
    assert all(len(line) < 8000 for line in reports)
    assert all(isinstance(event_from_json(line), ClassificationReport) for line in reports)


def test_show_prints_every_count_of_the_matrix_at_80_columns(trained) -> None:
    _, folder, _ = trained
    result = CliRunner().invoke(
        app,
        ["show", f"{folder.parent.name}/{folder.name}", "--runs-dir", str(folder.parent.parent)],
        env={"COLUMNS": "80"},
    )
    assert result.exit_code == 0, result.output
    assert "…" not in result.output
    shown = result.output.splitlines()[1:]  # the first names the run's (long) folder
    assert all(len(line) <= 80 for line in shown)
    for trial in ("a", "b"):
        report = load_run(folder).book.reports[trial]
        assert f"{trial}: confusion on the test split" in result.output
        for index, row in enumerate(report.matrix):
            pattern = rf"^\s*{index}\s+" + r"\s+".join(str(n) for n in row) + r"\s*$"
            assert re.search(pattern, result.output, re.MULTILINE), (trial, row)
        assert f"{trial}: per class" in result.output
        assert f"{trial}: most confused" in result.output


def test_compare_shows_per_class_recall_deltas_against_the_first(trained) -> None:
    _, folder, _ = trained
    run = f"{folder.parent.name}/{folder.name}"
    result = CliRunner().invoke(
        app,
        ["compare", f"{run}:a", f"{run}:b", "--runs-dir", str(folder.parent.parent)],
        env={"COLUMNS": "100"},
    )
    assert result.exit_code == 0, result.output
    assert "Per-class recall (test)" in result.output
    book = load_run(folder).book
    first, second = book.reports["a"].recall, book.reports["b"].recall
    for index in range(10):
        row = rf"^│ {index}\s+│ {first[index]:.3f} │ {second[index]:.3f} "
        row += re.escape(f"{second[index] - first[index]:+.3f}")
        assert re.search(row, result.output, re.MULTILINE), index


def test_a_trial_stopped_mid_epoch_has_no_report(tmp_path: Path) -> None:
    control = RunControl()

    def stop(event: Event) -> None:
        if isinstance(event, EpochEnded):
            control.stop()

    _, folder, events = train(tmp_path, 200, control, stop)
    ended = [e for e in events if isinstance(e, VariantFinished)]
    assert ended and ended[0].status == "stopped" and not ended[0].test
    assert not [e for e in events if isinstance(e, ClassificationReport)]
    assert not list(folder.glob("variants/*/confusion.json"))
    assert load_run(folder).book.reports == {}


def test_a_run_stored_before_reports_still_shows() -> None:
    result = CliRunner().invoke(
        app, ["show", "quick/20260101-120000", "--runs-dir", str(OLD_RUN)], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    assert "Results" in result.output and "confusion" not in result.output
    assert load_run(OLD_RUN / "quick" / "20260101-120000").book.reports == {}


def noisy_report(dataset: str, samples: int = 10_000) -> ClassificationReport:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, samples)
    probs = rng.dirichlet(np.ones(10) * 0.3, samples)
    probs[np.arange(samples), y] += 0.5
    return build_report("cnn", class_names(dataset, 10), y, probs / probs.sum(axis=1)[:, None])


@pytest.mark.parametrize("dataset", ["fashion_mnist", "cifar10"])
def test_a_named_10_class_matrix_fits_80_columns_whole(dataset: str) -> None:
    report = noisy_report(dataset)
    matrix = [row[:] for row in report.matrix]
    matrix[0][0], matrix[1][2] = 1000, 1234  # four-digit counts
    report = replace(report, matrix=matrix)
    for width in (80, 60):
        console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(matrix_table(report, width))
        text = console.export_text()
        assert "…" not in text and max(len(line) for line in text.splitlines()) <= width
        assert "1234" in text and "1000" in text
        if width == 80:  # names on the rows
            assert f"1 {class_names(dataset, 10)[1]}" in text
        else:  # indices, and a legend naming the classes
            assert "0 " + class_names(dataset, 10)[0] in text
    assert matrix_table(report, 30) is None  # never a cut count: nothing rather than half


def test_class_names_labels_and_outputs() -> None:
    assert class_names("fashion_mnist", 10)[9] == "Ankle boot"
    assert class_names("cifar10", 10)[0] == "airplane"
    assert class_names("digits", 10) == [str(i) for i in range(10)]
    assert class_names("synthetic", 3) == ["0", "1", "2"]
    one_hot = np.eye(3, dtype=np.float32)[[2, 0, 1]]
    assert class_indices(one_hot, 3).tolist() == [2, 0, 1]
    assert class_indices(np.array([0.5, 1.0]), 3) is None
    logits = np.array([[2.0, -1.0, 0.0]])
    assert probabilities(logits, 3).sum() == pytest.approx(1.0)
    assert probabilities(np.array([[0.8], [0.1]]), 2).argmax(axis=1).tolist() == [1, 0]
    assert probabilities(np.ones((2, 4)) / 4, 3) is None


def test_an_inconsistent_report_is_refused() -> None:
    report = noisy_report("digits", 200)
    data = json.loads(report.to_json())
    assert event_from_dict(data) == report
    for key, value in (
        ("matrix", [[1, 2], [3, 4]]),
        ("recall", [0.5]),
        ("confused_pairs", [{"true": 0, "predicted": 11, "count": 2}]),
        ("misclassified", [{"index": "7", "true": 0, "predicted": 1, "confidence": 0.9}]),
    ):
        with pytest.raises(EventFormatError):
            event_from_dict({**data, key: value})


def test_a_trial_trained_again_drops_its_old_report(tmp_path: Path) -> None:
    from tuilab.runtime.events import VariantResumed, VariantStarted
    from tuilab.runtime.store import RunStore

    store = RunStore(tmp_path)
    report = replace(noisy_report("digits", 200), trial="t")
    store.handle(VariantStarted("t", "t", 1, 0, 5, 3, 64))
    store.handle(report)
    written = tmp_path / "variants" / "t" / "confusion.json"
    assert event_from_dict(json.loads(written.read_text())) == report
    assert store.book.reports["t"] == report
    store.handle(VariantResumed("t", "t", 1, 0, 5, 2, 3, 64))  # a stopped trial goes on
    assert not written.exists() and "t" not in store.book.reports
    store.close()
