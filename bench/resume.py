"""Benchmark: what resumable runs cost the training path (per-epoch state save, new pipeline).

Usage:
    python bench/resume.py [--rounds 3] [--epochs 4] [--digits-epochs 20] [--limit 2000]
                           [--saves 20] [--pipeline-epochs 4] [--repeats 15]
                           [--only save|direct|pipeline]

Three parts, each printing one JSON line per configuration, then a summary line:

save      `python -m tuilab run SCENARIO -v VARIANT --headless --json`, three ways, interleaved
          in rounds (fresh interpreters): `unstored` (`--no-store`: no run folder, no state),
          `stored` (a run folder; the trial's resume state saved at every epoch end) and
          `stored_nosave` (the same with `Runner._state_keeper` patched to None: the run store
          without the state save, which isolates the save from the rest of the store). Models:
          the embedded digits MLP (`digits_quick.toml`, variant `adam`, ~36 steps an epoch) and
          the BatchNorm CNN on Fashion-MNIST (`fashion_cnn_batchnorm.toml`, variant `adam`,
          first `--limit` images). Two rates per run, over epochs 3..N (epoch 1 includes
          tracing; the gap before epoch 2 includes the first save's one-time set-up, reported
          apart as `first_gap_ms`): `event` is the mean `samples_per_second` of the
          `epoch_ended` events, which the reporter measures *before* it saves the state, so it
          cannot show the save; `wall` is samples per epoch over the mean time between
          consecutive `epoch_ended` lines as they arrive on stdout (flushed per line), which
          includes everything done between epochs. `between_epochs_ms` is that time minus the
          epoch's own `seconds`: stored minus stored_nosave is the save as the run pays it.
direct    the save alone: the same model and callbacks built through tuilab's Runner, one short
          fit (optimizer slots, EarlyStopping's best weights), then `make_state_keeper(...)
          .save(epoch)` timed `--saves` times; the state's size on disk; `model.save_weights`
          alone (no fsync, no npz) for comparison.
pipeline  plain `model.fit` (tuilab's model, optimizer and steps per execution) on the same
          in-memory arrays, fed by `tuilab.data.pipeline.make_dataset(shuffle=True)` (`new`:
          a per-epoch seed read from a variable inside `Dataset.range(1).flat_map`) or by the
          pipeline before commit e250ab2 (`old`: `shuffle(buffer, seed,
          reshuffle_each_iteration=True)`), both batch + prefetch(2), autotune off. Then
          (`iterate`) each pipeline alone, no model: one epoch consumed by `Dataset.reduce`
          (a C++ loop), old and new alternating for `--repeats` epochs in one process; the
          median milliseconds per epoch show the pipeline's own per-epoch cost.

Every comparison keeps each side's best round (`runs` has every round); on this 2-core virtual
machine rounds of one side spread by 15-50% (bench/README.md, "Noise").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = {  # scenario, variant, fixed overrides
    "digits": (ROOT / "scenarios" / "digits_quick.toml", "adam", []),
    "cnn": (ROOT / "scenarios" / "fashion_cnn_batchnorm.toml", "adam", []),
    "mlp": (  # the seeds' 3x40 MLP on Fashion-MNIST (42,000 training images), as bench/plain.py
        ROOT / "scenarios" / "mnist_batchnorm.toml",
        "plain",
        ['data.dataset="fashion_mnist"', 'data.normalize="scale"'],
    ),
}
SIDES = ("unstored", "stored_nosave", "stored")
NO_STATE_SAVE = """
import sys
from tuilab.runtime.runner import Runner
Runner._state_keeper = lambda self, trial, state: None  # the run store, without the state save
sys.argv[0] = "tuilab"
from tuilab.cli import main
main()
"""


def overrides(model: str, epochs: int, limit: int | None) -> list[str]:
    items = [*MODELS[model][2], f"fit.epochs={epochs}"]
    return [*items, f"data.limit={limit}"] if limit else items


# -- part 1: the per-epoch state save through `tuilab run` -----------------------------------
def tuilab_run(side: str, model: str, settings: list[str], runs_dir: Path) -> dict:
    """One `tuilab run --headless --json`; epoch rates from its events and from arrival times."""
    scenario, variant, _ = MODELS[model]
    entry = ["-c", NO_STATE_SAVE] if side == "stored_nosave" else ["-m", "tuilab"]
    command = [sys.executable, *entry, "run", str(scenario), "-v", variant, "--headless", "--json"]
    for item in settings:
        command += ["--set", item]
    with tempfile.TemporaryDirectory(dir=runs_dir) as folder:
        command += ["--no-store"] if side == "unstored" else ["--runs-dir", folder]
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
            epochs: list[tuple[float, dict]] = []
            state_seen = False
            for line in process.stdout:
                arrived = time.perf_counter()
                if line.startswith('{"event":"epoch_ended"'):
                    epochs.append((arrived, json.loads(line)))
                    if len(epochs) == 2:  # epoch 1's state is saved before epoch 2 begins
                        state = Path(folder).glob("*/*/variants/*/resume/state.json")
                        state_seen = any(True for _ in state)
            if process.wait() != 0:
                errors.seek(0)
                tail = errors.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{side} {model} exited {process.returncode}:\n{tail}")
    if state_seen != (side == "stored"):
        raise RuntimeError(f"{side} {model}: resume state written: {state_seen}")
    if len(epochs) < 3:
        raise RuntimeError(f"{side} {model}: {len(epochs)} epochs, at least 3 needed")
    steady = [event for _, event in epochs[2:]]  # epochs 3..N
    samples = statistics.fmean(e["samples_per_second"] * e["seconds"] for e in steady)
    period = (epochs[-1][0] - epochs[1][0]) / len(steady)
    epoch_seconds = statistics.fmean(e["seconds"] for e in steady)
    first_gap = epochs[1][0] - epochs[0][0] - epochs[1][1]["seconds"]
    return {
        "event": statistics.fmean(e["samples_per_second"] for e in steady),
        "wall": samples / period,
        "epoch_s": epoch_seconds,
        "between_epochs_ms": (period - epoch_seconds) * 1000,
        "first_gap_ms": first_gap * 1000,
    }


def save_part(model: str, settings: list[str], rounds: int, runs_dir: Path) -> dict:
    runs: dict[str, list[dict]] = {side: [] for side in SIDES}
    for round_ in range(rounds):
        order = SIDES if round_ % 2 == 0 else SIDES[::-1]  # no side always runs first
        for side in order:
            runs[side].append(tuilab_run(side, model, settings, runs_dir))
    result: dict = {"part": "save", "model": model, "settings": settings, "rounds": rounds}
    for side, measured in runs.items():
        best = max(measured, key=lambda r: r["wall"])
        result[f"{side}_wall_samples_per_s"] = round(best["wall"])
        result[f"{side}_event_samples_per_s"] = round(max(r["event"] for r in measured))
        result[f"{side}_epoch_s"] = round(min(r["epoch_s"] for r in measured), 4)
        for gap in ("between_epochs_ms", "first_gap_ms"):
            result[f"{side}_{gap}"] = round(statistics.median(r[gap] for r in measured), 1)
    for kind in ("wall", "event"):
        stored = result[f"stored_{kind}_samples_per_s"]
        result[f"stored_vs_nosave_{kind}"] = round(
            stored / result[f"stored_nosave_{kind}_samples_per_s"], 3
        )
        result[f"stored_vs_unstored_{kind}"] = round(
            stored / result[f"unstored_{kind}_samples_per_s"], 3
        )
    result["runs_wall"] = {s: [round(r["wall"]) for r in m] for s, m in runs.items()}
    result["runs_event"] = {s: [round(r["event"]) for r in m] for s, m in runs.items()}
    result["runs_between_epochs_ms"] = {
        s: [round(r["between_epochs_ms"], 1) for r in m] for s, m in runs.items()
    }
    return result


# -- part 2: the save alone --------------------------------------------------------------------
def child_direct(model: str, settings: list[str], saves: int, runs_dir: str) -> dict:
    """Time `StateKeeper.save` on the model and callbacks tuilab's Runner builds."""
    from tuilab.runtime.runner import Runner, plan_trials
    from tuilab.runtime.training_state import make_state_keeper
    from tuilab.scenario import load_scenario

    scenario_path, variant, _ = MODELS[model]
    scenario = load_scenario(scenario_path, settings).select([variant])
    runner = Runner(scenario, sink=lambda event: None)
    (trial,) = plan_trials(scenario)
    data = runner._data_for(trial.config)
    network, _, _ = runner._prepare(trial, data)
    batch = trial.config.fit.batch_size
    few = slice(0, batch * 4)  # one short epoch: optimizer slots, EarlyStopping's best weights
    network.fit(
        data.x_train[few],
        data.y_train[few],
        batch_size=batch,
        validation_data=(data.x_val[few], data.y_val[few]),
        callbacks=runner._callbacks,
        verbose=0,
    )
    with tempfile.TemporaryDirectory(dir=runs_dir) as temporary:
        folder = Path(temporary) / "resume"
        keeper = make_state_keeper(trial=trial.name, folder=folder, callbacks=runner._callbacks)
        keeper.set_model(network)
        start = time.perf_counter()
        keeper.save(1)  # the first save of a process: h5py's set-up, the folder
        first = time.perf_counter() - start
        keeper.save(2)
        times = []
        for epoch in range(3, 3 + saves):
            start = time.perf_counter()
            keeper.save(epoch)
            times.append(time.perf_counter() - start)
        files = {path.name: path.stat().st_size for path in sorted(folder.iterdir())}
        plain = []
        for i in range(saves):
            start = time.perf_counter()
            network.save_weights(Path(temporary) / f"plain-{i % 2}.weights.h5")
            plain.append(time.perf_counter() - start)
    return {
        "part": "direct",
        "model": model,
        "parameters": int(network.count_params()),
        "optimizer": type(network.optimizer).__name__,
        "callbacks": [type(c).__name__ for c in runner._callbacks],
        "saves": saves,
        "first_save_ms": round(first * 1000, 2),
        "save_ms_median": round(statistics.median(times) * 1000, 2),
        "save_ms_min": round(min(times) * 1000, 2),
        "save_ms_max": round(max(times) * 1000, 2),
        "save_weights_only_ms_median": round(statistics.median(plain) * 1000, 2),
        "state_bytes": sum(files.values()),
        "files": files,
    }


# -- part 3: the training pipeline, old and new ------------------------------------------------
def old_dataset(x, y, batch_size: int, seed: int):
    """tuilab's pipeline before commit e250ab2: one shuffle reshuffled each iteration."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    dataset = dataset.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def child_pipeline(model: str, feed: str, epochs: int) -> dict:
    """Samples/s of plain `model.fit` fed by the old or the new pipeline, epochs 2..N."""
    import keras

    from tuilab.data import load_data
    from tuilab.data.pipeline import EpochOrder, make_dataset
    from tuilab.model.builder import build_model
    from tuilab.model.compile import check_metrics, make_loss, make_optimizer
    from tuilab.runtime.speed import steps_per_epoch, steps_per_execution
    from tuilab.scenario import load_scenario

    scenario_path, variant, _ = MODELS[model]
    scenario = load_scenario(scenario_path, overrides(model, epochs, None))
    config = scenario.variants[variant]
    seed = scenario.meta.seed
    data = load_data(config.data, config.compile.loss, seed)
    keras.utils.set_random_seed(seed)
    network = build_model(config, data.input_shape, data.classes)
    batch = config.fit.batch_size
    steps = steps_per_epoch(len(data.x_train), batch)
    network.compile(
        optimizer=make_optimizer(config.compile.optimizer),
        loss=make_loss(config.compile.loss),
        metrics=check_metrics(config.compile.metrics),
        steps_per_execution=steps_per_execution(config.fit.steps_per_execution, steps),
    )
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    callbacks: list = [Clock()]
    if feed == "new":
        order = EpochOrder()
        callbacks.insert(0, order.callback())
        train = make_dataset(
            data.x_train, data.y_train, batch, shuffle=True, seed=seed, order=order
        )
    else:
        train = old_dataset(data.x_train, data.y_train, batch, seed)
    validation = make_dataset(data.x_val, data.y_val, batch, shuffle=False, seed=seed)
    network.fit(
        train,
        validation_data=validation,
        epochs=epochs,
        callbacks=callbacks,
        shuffle=False,
        verbose=0,
    )
    return {
        "samples_per_s": len(data.x_train) / statistics.fmean(times[1:]),
        "epoch_s": statistics.fmean(times[1:]),
        "first_epoch_s": times[0],
        "steps_per_execution": int(network.steps_per_execution),
    }


def child_iterate(model: str, repeats: int) -> dict:
    """Milliseconds to run through one epoch of each pipeline alone (no model), interleaved."""
    import numpy as np

    from tuilab.data import load_data
    from tuilab.data.pipeline import EpochOrder, make_dataset
    from tuilab.scenario import load_scenario

    scenario_path, variant, _ = MODELS[model]
    scenario = load_scenario(scenario_path, overrides(model, 1, None))
    config = scenario.variants[variant]
    seed = scenario.meta.seed
    data = load_data(config.data, config.compile.loss, seed)
    batch = config.fit.batch_size
    order = EpochOrder()
    feeds = {
        "old": old_dataset(data.x_train, data.y_train, batch, seed),
        "new": make_dataset(
            data.x_train, data.y_train, batch, shuffle=True, seed=seed, order=order
        ),
    }
    times: dict[str, list[float]] = {"old": [], "new": []}
    for epoch in range(repeats + 2):
        for feed in ("old", "new") if epoch % 2 == 0 else ("new", "old"):
            order.variable.assign(epoch)  # as `EpochOrder.callback()` does (unused by "old")
            start = time.perf_counter()
            batches = feeds[feed].reduce(np.int64(0), lambda count, _: count + 1)  # in C++
            elapsed = time.perf_counter() - start
            if int(batches) != -(-len(data.x_train) // batch):
                raise RuntimeError(f"{feed}: {int(batches)} batches")
            if epoch >= 2:  # two warm-up epochs: tracing the reduce function
                times[feed].append(elapsed)
    result: dict = {"part": "iterate", "model": model, "samples": len(data.x_train)}
    result["repeats"] = repeats
    for feed, measured in times.items():
        result[f"{feed}_epoch_ms_median"] = round(statistics.median(measured) * 1000, 2)
        result[f"{feed}_epoch_ms_min"] = round(min(measured) * 1000, 2)
    result["new_minus_old_ms"] = round(
        result["new_epoch_ms_median"] - result["old_epoch_ms_median"], 2
    )
    return result


def in_child(part: str, **kwargs) -> dict:
    """Run `child_<part>(**kwargs)` in a fresh interpreter; its dict."""
    command = [sys.executable, __file__, "--child", json.dumps({"part": part, **kwargs})]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{part} {kwargs} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def pipeline_part(model: str, epochs: int, rounds: int) -> dict:
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for round_ in range(rounds):
        for feed in ("old", "new") if round_ % 2 == 0 else ("new", "old"):
            runs[feed].append(in_child("pipeline", model=model, feed=feed, epochs=epochs))
    result: dict = {"part": "pipeline", "model": model, "epochs": epochs, "rounds": rounds}
    result["steps_per_execution"] = runs["new"][0]["steps_per_execution"]
    for feed, measured in runs.items():
        result[f"{feed}_samples_per_s"] = round(max(r["samples_per_s"] for r in measured))
        result[f"{feed}_median_samples_per_s"] = round(
            statistics.median(r["samples_per_s"] for r in measured)
        )
        result[f"{feed}_first_epoch_s"] = round(min(r["first_epoch_s"] for r in measured), 2)
    result["new_vs_old"] = round(result["new_samples_per_s"] / result["old_samples_per_s"], 3)
    result["new_vs_old_median"] = round(
        result["new_median_samples_per_s"] / result["old_median_samples_per_s"], 3
    )
    result["runs"] = {f: [round(r["samples_per_s"]) for r in m] for f, m in runs.items()}
    return result


def spread(values: list[float]) -> float:
    """(max - min) / max of one side's rounds."""
    return round((max(values) - min(values)) / max(values), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4, help="CNN epochs (3..N measured)")
    parser.add_argument("--digits-epochs", type=int, default=20)
    parser.add_argument("--limit", type=int, default=2000, help="Fashion-MNIST images, CNN")
    parser.add_argument("--saves", type=int, default=20, help="timed saves, direct part")
    parser.add_argument("--pipeline-epochs", type=int, default=4, help="MLP epochs, pipeline")
    parser.add_argument("--repeats", type=int, default=15, help="epochs iterated, pipeline")
    parser.add_argument("--only", choices=["save", "direct", "pipeline"], default=None)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        child = {"direct": child_direct, "pipeline": child_pipeline, "iterate": child_iterate}[
            spec.pop("part")
        ]
        print(json.dumps(child(**spec)))
        return
    started = time.perf_counter()
    settings = {
        "digits": overrides("digits", args.digits_epochs, None),
        "cnn": overrides("cnn", args.epochs, args.limit),
    }
    runs_dir = Path(tempfile.mkdtemp(prefix="tuilab-bench-resume-"))  # a disk folder: fsync is real
    lines: list[dict] = []

    clock = [time.perf_counter()]

    def emit(line: dict) -> None:
        now = time.perf_counter()
        line["seconds"] = round(now - clock[0], 1)  # this line's part took
        clock[0] = now
        lines.append(line)
        print(json.dumps(line), flush=True)

    try:
        for model in ("digits", "cnn"):
            if args.only in (None, "direct"):
                emit(
                    in_child(
                        "direct",
                        model=model,
                        settings=settings[model],
                        saves=args.saves,
                        runs_dir=str(runs_dir),
                    )
                )
        for model in ("digits", "cnn"):
            if args.only in (None, "save"):
                emit(save_part(model, settings[model], args.rounds, runs_dir))
        for model in ("mlp", "digits"):
            if args.only in (None, "pipeline"):
                epochs = args.pipeline_epochs if model == "mlp" else args.digits_epochs
                emit(pipeline_part(model, epochs, args.rounds))
                emit(in_child("iterate", model=model, repeats=args.repeats))
    finally:
        for path in sorted(runs_dir.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
        runs_dir.rmdir()
    summary: dict = {"summary": True, "seconds": round(time.perf_counter() - started)}
    direct = {line["model"]: line for line in lines if line["part"] == "direct"}
    for line in lines:
        model = line["model"]
        if line["part"] == "direct":
            summary[f"{model}_save_ms"] = line["save_ms_median"]
            summary[f"{model}_first_save_ms"] = line["first_save_ms"]
            summary[f"{model}_state_bytes"] = line["state_bytes"]
        if line["part"] == "save":
            epoch_s = line["unstored_epoch_s"]
            summary[f"{model}_epoch_s"] = epoch_s
            summary[f"{model}_wall_samples_per_s"] = {
                side: line[f"{side}_wall_samples_per_s"] for side in SIDES
            }
            summary[f"{model}_save_in_run_ms"] = round(
                line["stored_between_epochs_ms"] - line["stored_nosave_between_epochs_ms"], 1
            )
            for ratio in ("vs_nosave_wall", "vs_unstored_wall", "vs_unstored_event"):
                summary[f"{model}_stored_{ratio}"] = line[f"stored_{ratio}"]
            summary[f"{model}_spread_wall"] = {
                side: spread(rates) for side, rates in line["runs_wall"].items()
            }
            if model in direct:
                share = direct[model]["save_ms_median"] / 1000 / epoch_s
                summary[f"{model}_save_share_of_epoch"] = round(share, 4)
        if line["part"] == "iterate":
            summary[f"{model}_iterate_epoch_ms"] = {
                feed: line[f"{feed}_epoch_ms_median"] for feed in ("old", "new")
            }
        if line["part"] == "pipeline":
            summary[f"{model}_pipeline_samples_per_s"] = {
                feed: line[f"{feed}_samples_per_s"] for feed in ("old", "new")
            }
            summary[f"{model}_pipeline_new_vs_old"] = line["new_vs_old"]
            summary[f"{model}_pipeline_new_vs_old_median"] = line["new_vs_old_median"]
            summary[f"{model}_pipeline_spread"] = {
                feed: spread(rates) for feed, rates in line["runs"].items()
            }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
