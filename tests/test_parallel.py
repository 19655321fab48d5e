"""Parallel trials: `[run] parallel = N` trains trials in worker processes, same numbers.

The reference is a sequential run of the same scenario in this process; the parallel runs
spawn real worker processes (TensorFlow and all), so these tests take seconds each.
"""

from __future__ import annotations

import csv
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.errors import ScenarioError
from tuilab.runtime.control import RunControl
from tuilab.runtime.events import (
    ControlRefused,
    EpochEnded,
    Event,
    RunFinished,
    VariantFailed,
    VariantFinished,
    VariantStarted,
)
from tuilab.runtime.parallel import ParallelRunner
from tuilab.runtime.session import RunRequest, execute, prepare_run
from tuilab.runtime.stored import load_run
from tuilab.runtime.worker_slots import plan_slots

THREE_OPTIMIZERS = """
[scenario]
name = "three optimizers"
seed = 5
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{ type = "Dense", units = 24, activation = "relu" },
          { type = "Dropout", rate = 0.2 },
          { type = "Dense", units = 10, activation = "softmax" }]
[fit]
epochs = EPOCHS
batch_size = 64
[run]
parallel = PARALLEL
[[callbacks]]
type = "ReduceLROnPlateau"
monitor = "loss"
patience = 0
min_delta = 0.1
factor = 0.5
[variants.adam]
compile.optimizer = { type = "Adam", learning_rate = 0.01 }
[variants.sgd]
compile.optimizer = { type = "SGD", learning_rate = 0.1 }
[variants.bn]
model.batchnorm = { position = "after", momentum = 0.5 }
"""


def scenario_text(parallel: int, epochs: int = 4) -> str:
    return THREE_OPTIMIZERS.replace("PARALLEL", str(parallel)).replace("EPOCHS", str(epochs))


def train(request: RunRequest, control: RunControl | None = None, on_event=None):
    """Prepare and run; every event, the outcome and the store's folder."""
    events: list[Event] = []
    runner, store = prepare_run(request, control)

    def deliver(event: Event) -> None:
        events.append(event)
        if on_event is not None:
            on_event(event)

    outcome = execute(runner, store, deliver)
    return events, outcome, store.folder if store else None, runner


def history(folder: Path, trial: str) -> list[list[str]]:
    with open(folder / "variants" / trial / "history.csv", newline="") as stream:
        return list(csv.reader(stream))


def test_parallel_two_gives_the_same_history_and_test_metrics_as_sequential(
    tmp_path: Path, write_scenario
) -> None:
    sequential = write_scenario(scenario_text(1), "sequential.toml")
    parallel = write_scenario(scenario_text(2), "parallel.toml")
    _, first, one, runner_one = train(RunRequest(sequential, runs_dir=tmp_path / "runs"))
    events, second, two, runner_two = train(RunRequest(parallel, runs_dir=tmp_path / "runs"))
    assert not isinstance(runner_one, ParallelRunner)
    assert isinstance(runner_two, ParallelRunner)
    assert (first.status, second.status) == ("finished", "finished")
    for trial in ("adam", "sgd", "bn"):
        rows = history(two, trial)
        assert len(rows) == 5  # header and 4 epochs
        assert rows == history(one, trial), trial
        assert (two / "variants" / trial / "model.keras").is_file()
    stored_one, stored_two = load_run(one).book, load_run(two).book
    for trial in ("adam", "sgd", "bn"):
        assert stored_two.trials[trial].test == stored_one.trials[trial].test
        assert stored_two.trials[trial].test["accuracy"] > 0.5
    # two trials trained at once: the second started before the first finished
    order = [(type(e).__name__, e.trial) for e in events if isinstance(e, VariantStarted)]
    first_end = next(i for i, e in enumerate(events) if isinstance(e, VariantFinished))
    started_before = [i for i, e in enumerate(events) if isinstance(e, VariantStarted)]
    assert len(order) == 3 and sum(i < first_end for i in started_before) == 2
    assert sorted(p.name for p in (two / "workers").iterdir()) == ["worker-0.log", "worker-1.log"]


def test_the_command_line_parallel_option_overrides_the_scenario(
    tmp_path: Path, write_scenario
) -> None:
    path = write_scenario(scenario_text(1, epochs=2))
    runs = tmp_path / "runs"
    result = CliRunner().invoke(
        app, ["run", str(path), "--headless", "--parallel", "3", "--runs-dir", str(runs)]
    )
    assert result.exit_code == 0, result.output
    folder = next((runs / path.stem).iterdir())
    assert len(list((folder / "workers").iterdir())) == 3
    assert load_run(folder).book.status == "finished"
    bad = CliRunner().invoke(app, ["run", str(path), "--headless", "--parallel", "0"])
    assert bad.exit_code == 2


def test_steering_reaches_one_trial_or_every_trial(tmp_path: Path, write_scenario) -> None:
    path = write_scenario(scenario_text(2, epochs=400))
    control = RunControl()
    started: set[str] = set()
    asked: list[str] = []

    def steer(event: Event) -> None:
        if isinstance(event, VariantStarted):
            started.add(event.trial)
        if isinstance(event, EpochEnded) and {"adam", "sgd"} <= started and not asked:
            asked.append("one")
            control.scale_learning_rate(0.5, trial="sgd")
            control.stop(trial="adam")  # adam alone: sgd goes on, bn starts in its place
            control.checkpoint(trial="nobody")
        elif isinstance(event, EpochEnded) and event.trial == "bn" and asked == ["one"]:
            asked.append("all")
            control.stop()  # the whole run

    events, outcome, folder, _ = train(RunRequest(path, runs_dir=tmp_path / "runs"), control, steer)
    assert outcome.status == "stopped"
    ends = {e.trial: e for e in events if isinstance(e, VariantFinished)}
    assert set(ends) == {"adam", "sgd", "bn"}
    assert all(e.status == "stopped" for e in ends.values())
    assert ends["adam"].epochs < ends["sgd"].epochs  # sgd went on after adam stopped
    rates = [e for e in events if type(e).__name__ == "LearningRateChanged" and e.reason == "user"]
    assert [(e.trial, round(e.new / e.old, 6)) for e in rates] == [("sgd", 0.5)]
    refused = [e for e in events if isinstance(e, ControlRefused)]
    assert [(e.trial, "not training" in e.reason) for e in refused] == [("nobody", True)]
    assert isinstance(events[-1], RunFinished) and events[-1].status == "stopped"
    assert load_run(folder).book.status == "stopped"


def test_a_killed_worker_fails_its_trial_and_the_others_finish(
    tmp_path: Path, write_scenario
) -> None:
    path = write_scenario(scenario_text(2, epochs=6))
    runner, store = prepare_run(RunRequest(path, runs_dir=tmp_path / "runs"))
    events: list[Event] = []
    killed: list[int] = []

    def kill_adam_worker(event: Event) -> None:
        events.append(event)
        if isinstance(event, EpochEnded) and event.trial == "adam" and not killed:
            killed.append(runner.worker_pids()["adam"])
            os.kill(killed[0], signal.SIGKILL)

    outcome = execute(runner, store, kill_adam_worker)
    assert killed
    failed = [e for e in events if isinstance(e, VariantFailed)]
    assert [e.trial for e in failed] == ["adam"]
    assert "killed by SIGKILL" in failed[0].reason and failed[0].epochs >= 1
    finished = {e.trial for e in events if isinstance(e, VariantFinished)}
    assert finished == {"sgd", "bn"}  # bn trained on the worker that was left
    assert outcome.status == "failed"
    book = load_run(store.folder).book
    assert book.trials["adam"].status == "failed" and book.trials["bn"].status == "finished"


def test_parallel_settings_are_checked_before_anything_trains(
    tmp_path: Path, write_scenario
) -> None:
    differing = scenario_text(2).replace("[variants.sgd]", "[variants.sgd]\nrun.parallel = 3")
    with pytest.raises(ScenarioError, match="differ in \\[run\\] parallel"):
        prepare_run(RunRequest(write_scenario(differing), runs_dir=tmp_path / "runs"))
    mirrored = scenario_text(2).replace("parallel = 2", 'parallel = 2\nstrategy = "mirrored"')
    with pytest.raises(ScenarioError, match="one device each"):
        prepare_run(RunRequest(write_scenario(mirrored), runs_dir=tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


def test_slots_share_cores_on_a_cpu_box_and_give_each_worker_one_gpu() -> None:
    cores = len(os.sched_getaffinity(0))
    cpu = plan_slots(2, gpus=[])
    assert [(s.gpu, s.threads) for s in cpu] == [("", max(1, cores // 2))] * 2
    gpus = plan_slots(3, gpus=["4", "6"])
    assert [(s.index, s.gpu, s.threads) for s in gpus] == [(0, "4", 0), (1, "6", 0), (2, "4", 0)]


def test_stop_trial_from_another_process_names_an_unknown_trial(
    tmp_path: Path, write_scenario
) -> None:
    path = write_scenario(scenario_text(2, epochs=400))
    runs = tmp_path / "runs"
    control = RunControl()
    answers: list = []

    def from_outside(event: Event) -> None:
        if isinstance(event, EpochEnded) and event.trial == "sgd" and not answers:
            answers.append("asked")

            def ask() -> None:
                folder = next((runs / path.stem).iterdir())
                answers.append(
                    CliRunner().invoke(
                        app, ["stop", folder.name, "--trial", "nope", "--runs-dir", str(runs)]
                    )
                )
                answers.append(
                    CliRunner().invoke(
                        app, ["stop", folder.name, "--trial", "sgd", "--runs-dir", str(runs)]
                    )
                )
                time.sleep(2)
                control.stop()

            threading.Thread(target=ask, daemon=True).start()

    events, _, _, _ = train(RunRequest(path, runs_dir=runs), control, from_outside)
    unknown, known = answers[1], answers[2]
    assert unknown.exit_code == 2 and "has no trial 'nope'" in unknown.output
    assert "adam, sgd, bn" in unknown.output
    assert known.exit_code == 0 and "stop to sgd of" in known.output
    stops = [e for e in events if type(e).__name__ == "ControlApplied" and e.action == "stop"]
    assert stops[0].trial == "sgd"
