"""The training runtime on real (small) trainings: events, control, failures, repeats."""

from __future__ import annotations

import threading

import pytest

from tuilab.runtime.control import RunControl
from tuilab.runtime.events import (
    ControlApplied,
    EarlyStopped,
    EpochEnded,
    LearningRateChanged,
    RunFinished,
    RunStarted,
    VariantFailed,
    VariantFinished,
    VariantStarted,
    event_from_json,
)
from tuilab.runtime.runner import Runner
from tuilab.scenario import load_scenario

DIGITS = """
[scenario]
seed = 3
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [
  { type = "Dense", units = 16, activation = "relu" },
  { type = "Dense", units = 10, activation = "softmax" },
]
[fit]
epochs = 3
batch_size = 64
"""


def run_scenario(write_scenario, text, overrides=None, control=None, on_event=None):
    events = []

    def sink(event):
        events.append(event)
        if on_event:
            on_event(event)

    scenario = load_scenario(write_scenario(text), overrides)
    status = Runner(scenario, sink, control=control).run()
    return status, events


def of(events, kind):
    return [e for e in events if isinstance(e, kind)]


def test_events_arrive_in_order_and_serialise(write_scenario):
    text = DIGITS + "[variants.a]\n[variants.b]\nmodel.batchnorm = { momentum = 0.9 }\n"
    status, events = run_scenario(write_scenario, text)
    assert status == "finished"
    kinds = [e.kind for e in events if not e.transient]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    for trial in ("a", "b"):
        mine = [e for e in events if getattr(e, "trial", None) == trial and not e.transient]
        assert isinstance(mine[0], VariantStarted) and isinstance(mine[-1], VariantFinished)
        assert [e.epoch for e in mine if isinstance(e, EpochEnded)] == [1, 2, 3]
    started = of(events, VariantStarted)
    assert started[1].summary["non_trainable"] == 32 and started[1].batchnorm
    finished = of(events, VariantFinished)
    assert all(0.0 < f.test["accuracy"] <= 1.0 and f.status == "finished" for f in finished)
    for event in events:  # every event survives a JSON round trip
        assert event_from_json(event.to_json()) == event


def test_reporter_logs_equal_keras_history(write_scenario):
    """Train with the reporter directly and compare with the History Keras returns."""
    from tuilab.data import load_data
    from tuilab.data.pipeline import make_dataset
    from tuilab.model.builder import build_model
    from tuilab.runtime.reporter import make_reporter

    config = load_scenario(write_scenario(DIGITS)).variants["default"]
    data = load_data(config.data, config.compile.loss, 0)
    model = build_model(config, data.input_shape, data.classes)
    model.compile(optimizer="adam", loss=config.compile.loss, metrics=["accuracy"])
    events = []
    reporter = make_reporter(
        trial="t", sink=events.append, control=RunControl(), steps=18, batch_size=64
    )
    history = model.fit(  # same call shape as the runner: shuffled dataset, shuffle=False
        make_dataset(data.x_train, data.y_train, 64, shuffle=True, seed=1),
        validation_data=(data.x_val, data.y_val),
        epochs=3,
        callbacks=[reporter],
        verbose=0,
        shuffle=False,
    )
    epochs = of(events, EpochEnded)
    assert len(epochs) == 3
    for name, values in history.history.items():
        assert [e.logs[name] for e in epochs] == pytest.approx(values, rel=1e-6)


def test_reduce_lr_on_plateau_is_reported_with_old_and_new_rates(write_scenario):
    text = (
        DIGITS
        + """
[[callbacks]]
type = "ReduceLROnPlateau"
monitor = "loss"
patience = 0
min_delta = 10.0
factor = 0.5
"""
    )
    _, events = run_scenario(write_scenario, text)
    changes = of(events, LearningRateChanged)
    assert changes, "ReduceLROnPlateau never fired"
    assert changes[0].epoch == 2 and changes[0].reason == "ReduceLROnPlateau"
    assert changes[0].old == pytest.approx(1e-3) and changes[0].new == pytest.approx(5e-4)
    epoch3 = of(events, EpochEnded)[2]
    assert epoch3.learning_rate == pytest.approx(5e-4)  # the rate epoch 3 trained with


def test_early_stopping_is_reported(write_scenario):
    text = (
        DIGITS.replace("epochs = 3", "epochs = 10")
        + """
[[callbacks]]
type = "EarlyStopping"
monitor = "loss"
patience = 1
min_delta = 10.0
"""
    )
    status, events = run_scenario(write_scenario, text)
    stops = of(events, EarlyStopped)
    assert status == "finished" and len(stops) == 1
    assert (stops[0].epoch, stops[0].best_epoch, stops[0].monitor) == (2, 1, "loss")
    assert of(events, VariantFinished)[0].epochs == 2


def test_a_diverging_variant_fails_and_the_others_finish(write_scenario):
    text = (
        DIGITS
        + """
[variants.diverges]
model.layers = [{ type = "Dense", units = 32, activation = "relu" }, { type = "Dense", units = 10 }]
compile.optimizer = { type = "SGD", learning_rate = 1e12 }
compile.loss = { type = "SparseCategoricalCrossentropy", from_logits = true }
[variants.diverges_batched]
model.layers = [{ type = "Dense", units = 32, activation = "relu" }, { type = "Dense", units = 10 }]
compile.optimizer = { type = "SGD", learning_rate = 1e12 }
compile.loss = { type = "SparseCategoricalCrossentropy", from_logits = true }
fit.steps_per_execution = 4
[variants.fine]
"""
    )
    status, events = run_scenario(write_scenario, text)
    assert status == "failed"
    failed = of(events, VariantFailed)
    assert [f.trial for f in failed] == ["diverges", "diverges_batched"]
    assert all("loss became nan at epoch 1 batch" in f.reason for f in failed)
    assert [f.trial for f in of(events, VariantFinished)] == ["fine"]


def test_stop_on_request_from_another_thread(write_scenario):
    text = DIGITS.replace("epochs = 3", "epochs = 200") + "[variants.a]\n[variants.b]\n"
    control = RunControl()
    first_epoch = threading.Event()
    stopper = threading.Thread(target=lambda: first_epoch.wait(60) and control.stop())
    stopper.start()
    status, events = run_scenario(
        write_scenario,
        text,
        control=control,
        on_event=lambda e: isinstance(e, EpochEnded) and first_epoch.set(),
    )
    stopper.join()
    assert status == "stopped"
    finished = of(events, VariantFinished)
    assert [f.trial for f in finished] == ["a"] and finished[0].status == "stopped"
    assert finished[0].epochs < 200
    assert not any(isinstance(e, VariantStarted) and e.trial == "b" for e in events)
    assert isinstance(events[-1], RunFinished) and events[-1].status == "stopped"


def test_scale_lr_checkpoint_and_stop_after_epoch(write_scenario, tmp_path):
    text = DIGITS.replace("epochs = 3", "epochs = 20")
    control = RunControl()

    def steer(event):
        if isinstance(event, EpochEnded) and event.epoch == 1:
            control.scale_learning_rate(0.5)
            control.checkpoint()
            control.stop_after_epoch()

    events = []

    def sink(event):
        events.append(event)
        steer(event)

    scenario = load_scenario(write_scenario(text))
    Runner(scenario, sink, control=control, artifacts=tmp_path).run()
    change = of(events, LearningRateChanged)[0]
    assert change.reason == "user" and change.new == pytest.approx(change.old * 0.5)
    actions = {e.action: e for e in of(events, ControlApplied)}
    assert set(actions) == {"checkpoint", "stop_after_epoch"}
    assert (tmp_path / "variants" / "default").is_dir()
    from pathlib import Path

    assert Path(actions["checkpoint"].detail).is_file()
    # requested while epoch 1 was ending: honoured at that epoch's end, then evaluated on test
    finished = of(events, VariantFinished)[0]
    assert finished.status == "stopped" and finished.epochs == 1 and "accuracy" in finished.test
    assert finished.learning_rate == pytest.approx(change.new)


def test_repeats_train_each_variant_with_several_seeds(write_scenario):
    from tuilab.runtime.results import ResultsBook

    text = DIGITS.replace("epochs = 3", "epochs = 1") + "[run]\nrepeats = 2\n"
    _, events = run_scenario(write_scenario, text)
    started = of(events, VariantStarted)
    assert [(s.trial, s.seed) for s in started] == [("default.r1", 3), ("default.r2", 4)]
    assert of(events, RunStarted)[0].repeats == 2
    book = ResultsBook()
    for event in events:
        book.handle(event)
    accuracy = book.variants()["default"]["test"]["accuracy"]
    assert accuracy["n"] == 2 and accuracy["std"] >= 0.0
    values = [f.test["accuracy"] for f in of(events, VariantFinished)]
    assert accuracy["mean"] == pytest.approx(sum(values) / 2)


@pytest.mark.parametrize("seed", [0, 2**31 - 1])
def test_the_seeds_tensorflow_reduces_to_zero_train_and_repeat_themselves(write_scenario, seed):
    """They failed every trial on TensorFlow (tf.data's shuffle compared a symbolic seed)."""
    text = DIGITS.replace("seed = 3", f"seed = {seed}").replace("epochs = 3", "epochs = 2")
    losses = []
    for _ in range(2):
        _, events = run_scenario(write_scenario, text)
        assert [f.status for f in of(events, VariantFinished)] == ["finished"]
        losses.append([e.logs["loss"] for e in of(events, EpochEnded)])
    assert len(losses[0]) == 2 and losses[0][1] < losses[0][0]
    assert losses[0] == losses[1]  # the same seed, the same batches


def test_mixed_precision_keeps_the_output_in_float32(write_scenario, tmp_path):
    import keras

    text = DIGITS.replace("epochs = 3", "epochs = 1") + "mixed_precision = true\n"
    scenario = load_scenario(write_scenario(text))
    assert scenario.variants["default"].fit.mixed_precision
    events = []
    Runner(scenario, events.append, artifacts=tmp_path).run()
    assert of(events, VariantFinished)[0].status == "finished"
    assert keras.mixed_precision.global_policy().name == "float32"  # reset after the run
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.models.load_model(tmp_path / "variants" / "default" / "model.keras")
        assert model.layers[0].compute_dtype == "float16"
        assert model.layers[-1].compute_dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_steps_per_execution_auto_runs_several_steps_per_call_with_the_same_result(
    write_scenario,
):
    text = DIGITS + "[variants.auto]\n[variants.one]\nfit.steps_per_execution = 1\n"
    status, events = run_scenario(write_scenario, text, ["fit.batch_size=4", "fit.epochs=2"])
    assert status == "finished"
    started = {e.trial: e for e in of(events, VariantStarted)}
    assert started["auto"].steps_per_epoch == 288  # 1,149 training images in batches of 4
    assert (started["auto"].steps_per_execution, started["one"].steps_per_execution) == (5, 1)
    losses = {
        trial: [e.logs["loss"] for e in of(events, EpochEnded) if e.trial == trial]
        for trial in started
    }
    assert losses["auto"] == pytest.approx(losses["one"], rel=1e-3)  # same seed, same steps


@pytest.mark.parametrize(
    ("setting", "steps", "expected"),
    [("auto", 18, 1), ("auto", 288, 5), ("auto", 840, 16), ("auto", 100_000, 16), (7, 18, 7)],
)
def test_auto_steps_per_execution_keeps_fifty_calls_per_epoch(setting, steps, expected):
    from tuilab.runtime.speed import steps_per_execution

    assert steps_per_execution(setting, steps) == expected


def test_halving_a_scheduled_learning_rate_is_refused_not_a_crash(write_scenario):
    """A schedule's rate cannot be assigned: the request is answered, the trial goes on, and
    the schedule's own changes are reported as such."""
    text = DIGITS + (
        '[compile]\noptimizer = { type = "SGD", learning_rate = { type = "ExponentialDecay", '
        "initial_learning_rate = 0.1, decay_steps = 5, decay_rate = 0.5 } }\n"
    )
    control = RunControl()
    control.scale_learning_rate(0.5)  # read after the first batch
    status, events = run_scenario(write_scenario, text, control=control)
    assert status == "finished"
    refused = [e for e in of(events, ControlApplied) if e.action == "scale_lr"]
    assert [e.detail for e in refused] == ["not applied: the learning rate follows a schedule"]
    changes = of(events, LearningRateChanged)
    assert changes and {c.reason for c in changes} == {"schedule"}
