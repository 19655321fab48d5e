"""Callbacks: every Keras callback trains or is refused; paths stay in the trial folder;
learning-rate schedules given as tables."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT
from typer.testing import CliRunner

from tuilab.backend import import_keras
from tuilab.cli import app
from tuilab.model.allowlist import ALLOWED_CALLBACKS
from tuilab.model.builder import BuildError
from tuilab.model.callbacks import check_callbacks, make_callbacks

CORPUS = sorted((ROOT / "tests" / "corpus").glob("*.toml"))
TINY = """
[scenario]
seed = 1
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
limit = 300
[model]
layers = [{ type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = 1
batch_size = 64
"""
ONE_EACH = {  # variant -> (callback table, extra variant lines)
    "EarlyStopping": ('{ type = "EarlyStopping", patience = 1 }', ""),
    "ReduceLROnPlateau": ('{ type = "ReduceLROnPlateau", patience = 1 }', ""),
    "TerminateOnNaN": ('{ type = "TerminateOnNaN" }', ""),
    "SwapEMAWeights": (
        '{ type = "SwapEMAWeights", swap_on_epoch = true }',
        'compile.optimizer = { type = "Adam", use_ema = true }',
    ),
    "CSVLogger": ('{ type = "CSVLogger" }', ""),
    "ModelCheckpoint": ('{ type = "ModelCheckpoint", filepath = "best-{epoch:02d}.keras" }', ""),
    "BackupAndRestore": ('{ type = "BackupAndRestore" }', ""),
    "TensorBoard": ('{ type = "TensorBoard", histogram_freq = 1 }', ""),
}


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def keras_callback_classes() -> list[str]:
    """Every class of the real `keras.callbacks` namespace."""
    keras = import_keras()
    module = keras.callbacks
    return sorted(
        name
        for name in dir(module)
        if isinstance(getattr(module, name), type)
        and issubclass(getattr(module, name), keras.callbacks.Callback)
    )


def pinned_refusal(name: str) -> Path | None:
    """The corpus file that pins the refusal of callback `name`."""
    for path in CORPUS:
        text = path.read_text(encoding="utf-8", errors="replace")
        first = text.split("\n", 1)[0]
        if f'type = "{name}"' in text and f"callback '{name}' is not allowed" in first:
            return path
    return None


def test_every_keras_callback_trains_or_is_refused_with_a_pinned_message(write_scenario, tmp_path):
    names = keras_callback_classes()
    allowed = [n for n in names if n in ALLOWED_CALLBACKS]
    assert set(allowed) == set(ONE_EACH), "a newly allowed callback needs a training case here"
    for name in sorted(set(names) - ALLOWED_CALLBACKS):
        pin = pinned_refusal(name)
        assert pin is not None, f"keras.callbacks.{name} is neither trained nor pinned refused"
        result = invoke("validate", str(pin))
        expected = pin.read_text(encoding="utf-8").split("\n", 1)[0].removeprefix("# expect: ")
        assert result.exit_code == 2 and expected in result.output

    variants = "".join(
        f"\n[variants.{name}]\ncallbacks = [{table}]\n{extra}\n"
        for name, (table, extra) in ONE_EACH.items()
    )
    runs = tmp_path / "runs"
    path = write_scenario(TINY + variants, "every.toml")
    result = invoke("run", str(path), "--headless", "--json", "--runs-dir", str(runs))
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    finished = {e["trial"]: e["status"] for e in events if e["event"] == "variant_finished"}
    assert finished == dict.fromkeys(ONE_EACH, "finished"), result.output[-2000:]
    assert result.exit_code == 0

    trials = next((runs / "every").iterdir()) / "variants"
    history = (trials / "CSVLogger" / "keras-history.csv").read_text().splitlines()
    assert history[0].startswith("epoch") and len(history) == 2
    assert (trials / "ModelCheckpoint" / "best-01.keras").is_file()
    assert list((trials / "TensorBoard" / "keras-tensorboard" / "train").glob("events.out.*"))
    assert list((trials / "TensorBoard" / "keras-tensorboard" / "validation").glob("events.out.*"))
    assert not (trials / "BackupAndRestore" / "backup").exists()  # Keras removes it at the end


SCHEDULES = {
    "ExponentialDecay": "initial_learning_rate = 0.1, decay_steps = 2, decay_rate = 0.5",
    "PiecewiseConstantDecay": "boundaries = [1], values = [0.1, 0.01]",
    "PolynomialDecay": "initial_learning_rate = 0.1, decay_steps = 8, end_learning_rate = 0.001",
    "InverseTimeDecay": "initial_learning_rate = 0.1, decay_steps = 1, decay_rate = 1.0",
    "CosineDecay": "initial_learning_rate = 0.1, decay_steps = 8",
    "CosineDecayRestarts": "initial_learning_rate = 0.1, first_decay_steps = 8",
}


def test_learning_rate_schedules_as_tables_decrease_the_reported_rate(write_scenario):
    variants = "".join(
        f'\n[variants.{name}]\ncompile.optimizer = {{ type = "SGD", learning_rate = '
        f'{{ type = "{name}", {args} }} }}\n'
        for name, args in SCHEDULES.items()
    )
    text = TINY.replace("epochs = 1", "epochs = 2").replace("limit = 300", "limit = 200")
    path = write_scenario(text + variants, "schedules.toml")
    result = invoke("run", str(path), "--headless", "--json", "--no-store")
    assert result.exit_code == 0, result.output[-2000:]
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    for name in SCHEDULES:
        started = next(e for e in events if e["event"] == "variant_started" and e["trial"] == name)
        rates = [
            e["learning_rate"] for e in events if e["event"] == "epoch_ended" and e["trial"] == name
        ]
        assert started["learning_rate"] == pytest.approx(0.1)
        assert len(rates) == 2 and all(isinstance(r, float) for r in rates)
        assert rates[1] < rates[0] <= 0.1 + 1e-6, (name, rates)


@pytest.mark.parametrize(
    ("optimizer", "callbacks", "expected"),
    [
        (
            '{ type = "SGD", learning_rate = { type = "CosineDecay", initial_learning_rate = 0.1,'
            " decay_steps = 10 } }",
            '[[callbacks]]\ntype = "ReduceLROnPlateau"',
            "compile.optimizer.learning_rate: callbacks[0] ReduceLROnPlateau cannot change a "
            "learning rate that follows a schedule",
        ),
        (
            '{ type = "SGD", learning_rate = "ExponentialDecay" }',
            "",
            "compile.optimizer.learning_rate: learning_rate takes a number or a schedule table",
        ),
        (
            '{ type = "SGD", learning_rate = { class_name = "ExponentialDecay", '
            'module = "keras.optimizers.schedules", config = {} } }',
            "",
            "learning_rate takes a number or a { type = ... } table, not a Keras config",
        ),
        (
            '{ type = "SGD", learning_rate = { type = "ExponentialDecay", '
            'initial_learning_rate = 0.1, decay_steps = 10, decay_rate = 0.9, name = "a/b" } }',
            "",
            "compile.optimizer.learning_rate.name: name = 'a/b' looks like a file path",
        ),
        (
            '"lossscaleoptimizer"',
            "",
            "optimizer 'LossScaleOptimizer' is not allowed in a scenario",
        ),
    ],
)
def test_schedule_and_optimizer_refusals(write_scenario, optimizer, callbacks, expected):
    text = TINY + f"[compile]\noptimizer = {optimizer}\n{callbacks}\n"
    result = invoke("validate", str(write_scenario(text)))
    assert result.exit_code == 2 and expected in result.output, result.output


def test_paths_default_inside_the_trial_folder_and_verbose_only_where_it_exists(tmp_path):
    folder = tmp_path / "variants" / "a"
    callbacks = make_callbacks(
        [
            {"type": "CSVLogger"},
            {"type": "TensorBoard"},
            {"type": "BackupAndRestore"},
            {"type": "ModelCheckpoint", "filepath": "checkpoints/best.keras"},
            {"type": "EarlyStopping"},
        ],
        folder,
    )
    csv_logger, board, backup, checkpoint, early = callbacks
    root = folder.resolve()
    assert csv_logger.filename == str(root / "keras-history.csv")
    assert board.log_dir == str(root / "keras-tensorboard")
    assert backup.backup_dir == str(root / "backup")
    assert checkpoint.filepath == str(root / "checkpoints" / "best.keras")
    assert (root / "checkpoints").is_dir()
    assert checkpoint.verbose == 0 and early.verbose == 0  # BackupAndRestore has no verbose


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"type": "CSVLogger", "filename": "/tmp/x.csv"}, "is an absolute path"),
        ({"type": "CSVLogger", "filename": "~/x.csv"}, "points into a home folder"),
        ({"type": "CSVLogger", "filename": "a/../../x.csv"}, "climbs out with '..'"),
        ({"type": "CSVLogger", "filename": "file:///tmp/x.csv"}, "is a URL or a drive"),
        ({"type": "TensorBoard", "log_dir": "C:logs"}, "is a URL or a drive"),
        ({"type": "TensorBoard", "log_dir": "a\\..\\..\\b"}, "control characters or '\\'"),
        ({"type": "TensorBoard", "log_dir": "logs\n"}, "control characters"),
        ({"type": "CSVLogger", "filename": ""}, "should be a path inside the trial folder"),
        ({"type": "CSVLogger", "filename": "."}, "should name a file"),
        ({"type": "CSVLogger", "filename": 3}, "should be a path inside the trial folder"),
        ({"type": "CSVLogger", "filename": "model.keras"}, "tuilab writes its own model.keras"),
        (
            {"type": "ModelCheckpoint", "filepath": "checkpoint-epoch0001.keras"},
            "tuilab writes its own checkpoint-epoch0001.keras",
        ),
        ({"type": "ModelCheckpoint", "filepath": "{epoch:/>40}.keras"}, "placeholders are"),
        ({"type": "ModelCheckpoint", "filepath": "{epoch!r}.keras"}, "placeholders are"),
        ({"type": "ModelCheckpoint", "filepath": "{0}.keras"}, "placeholders are"),
        ({"type": "ModelCheckpoint", "filepath": "{epoch.real}.keras"}, "placeholders are"),
        ({"type": "ModelCheckpoint", "filepath": "{epoch"}, "filepath '{epoch'"),
        (
            {"type": "ModelCheckpoint", "filepath": "w.keras", "save_weights_only": True},
            "should end in .weights.h5 with save_weights_only",
        ),
        ({"type": "BackupAndRestore", "backup_dir": "./"}, "deletes its folder"),
        ({"type": "TensorBoard", "embeddings_metadata": {"d": "/etc/x"}}, "is not allowed"),
        ({"type": "EarlyStopping", "monitor": "/etc/passwd"}, "looks like a file path"),
    ],
)
def test_path_arguments_are_refused_at_validate_and_run_time(tmp_path, spec, expected):
    folder = tmp_path / "trial"
    for attempt in (lambda: check_callbacks([spec]), lambda: make_callbacks([spec], folder)):
        with pytest.raises(BuildError) as caught:
            attempt()
        assert expected in caught.value.message
        assert caught.value.key[:2] == ("callbacks", 0)
    assert not (tmp_path / "x.csv").exists()


def test_a_symbolic_link_out_of_the_trial_folder_is_refused_at_run_time(tmp_path):
    outside, folder = tmp_path / "outside", tmp_path / "run" / "variants" / "a"
    outside.mkdir()
    folder.mkdir(parents=True)
    (folder / "out").symlink_to(outside)
    spec = {"type": "CSVLogger", "filename": "out/stolen.csv"}
    assert check_callbacks([spec])  # the form is fine; only the real folder can tell
    with pytest.raises(BuildError, match="outside the trial folder"):
        make_callbacks([spec], folder)
    assert not list(outside.iterdir())
    linked = tmp_path / "linked-run"  # the run folder itself behind a link is fine
    linked.symlink_to(tmp_path / "run")
    (csv_logger,) = make_callbacks([{"type": "CSVLogger"}], linked / "variants" / "a")
    assert csv_logger.filename == str(folder.resolve() / "keras-history.csv")


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ([{"type": "CSVLogger"}, {"type": "CSVLogger"}], "callbacks[0] writes to"),
        (
            [
                {"type": "BackupAndRestore", "backup_dir": "logs"},
                {"type": "CSVLogger", "filename": "logs/h.csv"},
            ],
            "BackupAndRestore deletes its folder",
        ),
        (
            [
                {"type": "TensorBoard", "log_dir": "logs/tb"},
                {"type": "BackupAndRestore", "backup_dir": "logs"},
            ],
            "BackupAndRestore deletes its folder",
        ),
    ],
)
def test_callbacks_do_not_share_or_delete_each_others_paths(specs, expected):
    with pytest.raises(BuildError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        check_callbacks(specs)


def test_an_unstored_run_writes_into_a_temporary_folder_removed_at_the_end(
    write_scenario, tmp_path, monkeypatch
):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(tmp_path)
    callbacks = make_callbacks([{"type": "CSVLogger"}], None)
    (made,) = list(scratch.iterdir())
    assert callbacks[0].filename == str(made.resolve() / "keras-history.csv")
    callbacks[-1].on_train_end()
    assert not made.exists()

    text = TINY + '[[callbacks]]\ntype = "CSVLogger"\n[[callbacks]]\ntype = "TensorBoard"\n'
    result = invoke("run", str(write_scenario(text)), "--headless", "--no-store")
    assert result.exit_code == 0, result.output[-2000:]
    left = [p for p in scratch.iterdir() if not p.name.startswith("__autograph_generated_file")]
    assert not left  # AutoGraph's own cache of converted functions may stay (TensorFlow's)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scenario.toml", "scratch"]


def test_validate_writes_nothing(write_scenario, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tables = "".join(
        f"\n[[callbacks]]\n{line}\n"
        for line in (
            'type = "CSVLogger"',
            'type = "TensorBoard"',
            'type = "BackupAndRestore"',
            'type = "ModelCheckpoint"\nfilepath = "ck/best.keras"',
        )
    )
    path = write_scenario(TINY + tables)
    assert invoke("validate", str(path)).exit_code == 0
    assert [p.name for p in tmp_path.iterdir()] == ["scenario.toml"]
