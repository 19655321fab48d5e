"""TensorBoard log directories read as runs: `tuilab show`, `compare` and the app."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.runtime.events import EpochEnded
from tuilab.runtime.stored import load_run

STORED = ROOT / "tests" / "fixtures" / "runs" / "quick" / "20260101-120000"


@pytest.fixture(scope="module")
def keras_logdir(tmp_path_factory) -> tuple[Path, dict[str, list[float]]]:
    """A plain Keras fit (Functional model, no tuilab) logged by Keras's TensorBoard callback."""
    from sklearn.datasets import load_digits

    from tuilab.backend import import_keras

    keras = import_keras()
    x, y = load_digits(return_X_y=True)
    keras.utils.set_random_seed(1)
    inputs = keras.Input((64,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(hidden))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    logdir = tmp_path_factory.mktemp("tensorboard")
    history = model.fit(
        x / 16.0,
        y,
        epochs=3,
        validation_split=0.2,
        verbose=0,
        callbacks=[keras.callbacks.TensorBoard(str(logdir / "mlp"))],
    )
    return logdir, history.history


def test_a_keras_log_directory_reads_as_a_run_with_the_fits_values(keras_logdir) -> None:
    logdir, history = keras_logdir
    stored = load_run(logdir)
    assert list(stored.book.trials) == ["mlp"] and stored.book.trials["mlp"].epochs == 3
    epochs = [e for e in stored.events if isinstance(e, EpochEnded)]
    assert [e.epoch for e in epochs] == [1, 2, 3]
    for metric in ("loss", "accuracy", "val_loss", "val_accuracy"):
        read = [e.logs[metric] for e in epochs]
        assert all(
            math.isclose(a, b, rel_tol=1e-6) for a, b in zip(read, history[metric], strict=True)
        )
    assert stored.book.trials["mlp"].best["val_accuracy"] == pytest.approx(
        max(history["val_accuracy"]), rel=1e-6
    )


def test_show_and_compare_take_a_log_directory_beside_tuilab_runs(keras_logdir) -> None:
    logdir, history = keras_logdir
    shown = CliRunner().invoke(app, ["show", str(logdir)])
    assert shown.exit_code == 0, shown.output
    assert f"TensorBoard: {logdir.name}" in shown.output
    assert f"{max(history['val_accuracy']):.4g}" in shown.output
    runs = STORED.parent.parent
    compared = CliRunner().invoke(
        app, ["compare", str(logdir), "quick/20260101-120000", "--runs-dir", str(runs)]
    )
    assert compared.exit_code == 0, compared.output
    assert "mlp" in compared.output and "plain" in compared.output and "bn" in compared.output
    assert "accuracy" in compared.output  # the overlaid curves' chart


def test_a_corrupt_event_file_reads_as_an_empty_run(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "events.out.tfevents.1.host").write_bytes(b"\x00not a record" * 50)
    stored = load_run(tmp_path)
    assert stored.book.trials == {}
    assert CliRunner().invoke(app, ["show", str(tmp_path)]).exit_code == 0


async def test_the_app_opens_a_log_directory(keras_logdir) -> None:
    from tuilab.app.app import create_app

    logdir, history = keras_logdir
    app_ = create_app(ROOT / "scenarios", logdir.parent, stored_run=logdir)
    async with app_.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.5)
        state = app_.screen.state
        assert state.trials == ["mlp"]
        assert state.curves.curves["mlp"].epochs == [1, 2, 3]
        assert state.book.trials["mlp"].best["val_accuracy"] == pytest.approx(
            max(history["val_accuracy"]), rel=1e-6
        )
