"""Inside the model: every trainable layer's weight and gradient norm per epoch, stored as
events and `layers.jsonl`, flagged when vanishing or exploding, shown by `tuilab show`."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.presentation.layer_health import health, layer_flags, layer_series, sparkline
from tuilab.runtime.events import EpochEnded, Event, event_from_json
from tuilab.runtime.layer_events import LayerStats
from tuilab.runtime.session import RunRequest, execute, prepare_run

ROOT = Path(__file__).resolve().parent.parent
OLD_RUN = ROOT / "tests" / "fixtures" / "runs"
DIGITS = """
[scenario]
name = "inside the model"
seed = 4
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 32, activation = "relu" },
          { type = "Dropout", rate = 0.2 },
          { type = "Dense", units = 10, activation = "softmax" }]
batchnorm = { position = "after" }
[fit]
epochs = 3
batch_size = 64
[variants.adam]
compile.optimizer = { type = "Adam", learning_rate = 0.01 }
"""
DEEP = ", ".join(
    [
        '{ type = "Dense", units = 32, activation = "sigmoid", kernel_initializer = '
        '{ type = "RandomNormal", stddev = 0.05 } }'
    ]
    * 9
)
VANISHING = f"""
[scenario]
name = "vanishing"
seed = 4
[data]
dataset = "digits"
normalize = "scale"
flatten = true
[model]
layers = [{DEEP}, {{ type = "Dense", units = 10, activation = "softmax" }}]
[fit]
epochs = 2
batch_size = 64
[compile]
optimizer = {{ type = "SGD", learning_rate = 0.0001 }}
"""


def train(folder: Path, text: str) -> tuple[Path, list[Event]]:
    path = folder / "scenario.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    runner, store = prepare_run(RunRequest(path, runs_dir=folder / "runs"))
    events: list[Event] = []
    execute(runner, store, events.append)
    return store.folder, events


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Event]]:
    return train(tmp_path_factory.mktemp("layers"), DIGITS)


@pytest.fixture(scope="module")
def vanishing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Event]]:
    return train(tmp_path_factory.mktemp("vanishing"), VANISHING)


def test_every_trainable_layer_has_norms_at_every_epoch(digits) -> None:
    import keras

    folder, events = digits
    stats = [e for e in events if isinstance(e, LayerStats)]
    assert [e.epoch for e in stats] == [0, 1, 2, 3]
    model = keras.models.load_model(folder / "variants" / "adam" / "model.keras")
    trainable = [layer.name for layer in model.layers if layer.trainable_weights]
    assert len(trainable) >= 3  # two Dense and a BatchNormalization
    for event in stats:
        assert list(event.layers) == trainable
        for norms in event.layers.values():
            assert norms["gradient_norm"] is not None and norms["gradient_norm"] > 0.0
            assert math.isfinite(norms["gradient_norm"])
    # each epoch's stats come after its EpochEnded
    order = [(type(e).__name__, e.epoch) for e in events if isinstance(e, EpochEnded | LayerStats)]
    assert order.index(("EpochEnded", 2)) < order.index(("LayerStats", 2))
    last = stats[-1]
    for layer in model.layers:
        if not layer.trainable_weights:
            continue
        values = [np.asarray(w.numpy(), dtype=np.float64) for w in layer.trainable_weights]
        expected = math.sqrt(sum(float(np.sum(v * v)) for v in values))
        norms = last.layers[layer.name]
        assert norms["weight_norm"] == pytest.approx(expected, rel=1e-6)
        assert norms["weights"] == sum(v.size for v in values)
    assert health(stats) == {name: [] for name in trainable}


def test_layers_jsonl_matches_the_events(digits) -> None:
    folder, events = digits
    lines = (folder / "variants" / "adam" / "layers.jsonl").read_text().splitlines()
    stats = [e for e in events if isinstance(e, LayerStats)]
    assert [json.loads(line) for line in lines] == [
        {"epoch": e.epoch, "layers": e.layers} for e in stats
    ]
    stored = [
        event_from_json(line)
        for line in (folder / "events.jsonl").read_text().splitlines()
        if '"layer_stats"' in line
    ]
    assert stored == stats


def test_a_deep_sigmoid_stack_is_flagged_vanishing_early_not_last(vanishing) -> None:
    _, events = vanishing
    series = layer_series(events)[next(iter(layer_series(events)))]
    last = series[-1].layers
    names = list(last)
    assert len(names) == 10
    first_grad, last_grad = last[names[0]]["gradient_norm"], last[names[-1]]["gradient_norm"]
    assert first_grad is not None and last_grad is not None
    assert first_grad < 1e-6 * last_grad  # orders of magnitude apart
    flags = health(series)
    assert "vanishing" in flags[names[0]] and "vanishing" in flags[names[1]]
    assert flags[names[-1]] == []


def test_flags_by_rule() -> None:
    def norms(w: float | None, g: float | None) -> dict:
        return {"weight_norm": w, "gradient_norm": g, "weights": 1}

    assert layer_flags([norms(1.0, 0.1)]) == []
    assert layer_flags([norms(1.0, 1e-8)]) == ["vanishing"]
    assert layer_flags([norms(1.0, 5e3)]) == ["exploding"]
    assert layer_flags([norms(1.0, None)]) == ["non-finite"]
    assert layer_flags([norms(1.0, 1.0), norms(1.0, 0.1), norms(1.0, 1e-5)]) == ["vanishing"]
    assert sparkline([1.0, 10.0, 100.0]) == "▁▅█"
    assert sparkline([1.0, None]) == "▅!"  # one value: mid-height
    assert len(sparkline([float(i + 1) for i in range(100)])) == 16


def test_show_prints_the_layer_table_whole_at_80_columns(digits, vanishing) -> None:
    for folder, _ in (digits, vanishing):
        result = CliRunner().invoke(
            app,
            [
                "show",
                f"{folder.parent.name}/{folder.name}",
                "--runs-dir",
                str(folder.parent.parent),
            ],
            env={"COLUMNS": "80"},
        )
        assert result.exit_code == 0, result.output
        assert "Weight norm" in result.output and "Grad norm" in result.output
        assert "…" not in result.output
        table = result.output[result.output.index(": layers, epochs") :]
        table = table[: table.index("flagged") if "flagged" in table else table.index("norms:")]
        assert max(len(line) for line in table.splitlines()) <= 80
    assert "vanishing" in result.output


def test_a_run_stored_before_layer_stats_shows_as_before() -> None:
    result = CliRunner().invoke(
        app, ["show", "quick/20260101-120000", "--runs-dir", str(OLD_RUN)], env={"COLUMNS": "80"}
    )
    assert result.exit_code == 0, result.output
    assert "Results" in result.output and "Grad norm" not in result.output


def test_a_resumed_trial_keeps_its_layer_lines_up_to_the_saved_epoch(tmp_path: Path) -> None:
    from tuilab.runtime.events import RunResumed, VariantResumed, VariantStarted
    from tuilab.runtime.store import RunStore

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "run.json").write_text(
        json.dumps({"scenario": "s", "stem": "s", "variants": ["a"], "status": "running"})
    )

    def stats(epoch: int, gradient: float) -> LayerStats:
        return LayerStats(
            "a", epoch, {"d": {"weight_norm": 1.0, "gradient_norm": gradient, "weights": 2}}
        )

    store = RunStore(folder)
    for event in (VariantStarted("a", "a", 1, 1, 5, 10, 32), *(stats(e, 1.0) for e in range(4))):
        store.handle(event)
    store.close()
    store = RunStore.reopen(folder)
    for event in (
        RunResumed("s", ["a"]),
        VariantResumed("a", "a", 1, 1, 5, 2, 10, 32, 0.01),
        stats(3, 0.5),
    ):
        store.handle(event)
    store.mark_ended("stopped")
    lines = [
        json.loads(line) for line in (folder / "variants/a/layers.jsonl").read_text().splitlines()
    ]
    assert [(line["epoch"], line["layers"]["d"]["gradient_norm"]) for line in lines] == [
        (0, 1.0),
        (1, 1.0),
        (2, 1.0),
        (3, 0.5),
    ]
