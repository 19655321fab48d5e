"""Benchmark: tuilab against plain Keras `fit` on any Keras backend (TensorFlow, JAX, PyTorch).

Usage:
    python bench/backends.py training --backend jax|torch|tensorflow [--model mlp|cnn|cifar]
        [--batch-size N] [--epochs 5] [--limit N] [--rounds 2] [--mixed-precision off|on|both]
        [--app] [--matched] [--plain-feed numpy|pydataset] [--data FOLDER] [--synthetic]
        [--out FILE.jsonl] [--quick]
    python bench/backends.py callbacks --backend jax [--epochs 8] [--rounds 3]

`training` runs, in one fresh interpreter each with `KERAS_BACKEND` set, interleaved in rounds:

- `plain`: the notebook's script, `model.fit(x, y, batch_size, shuffle=True, verbose=0)` on
  numpy arrays (`--plain-feed pydataset`: tuilab's own feed off TensorFlow, `ArrayBatches`),
  the same model (tuilab's builder), data (tuilab's loader), optimizer and loss; one step per
  call, `jit_compile="auto"`;
- `matched` (with `--matched`): the same with `steps_per_execution` as tuilab resolves "auto";
- `headless`: `tuilab run --json --no-store`, samples/s from its `epoch_ended` events;
- `app` (with `--app`): the app in an 80x24 pseudo-terminal, drained as a terminal would, with
  a stored run (so the state keeper and the TensorBoard writer run too); `q` once finished.

Each side's figure is the median samples/s of epochs 2..N (epoch 1 traces and compiles); a
side's result is the median over the rounds. Where `nvidia-smi` exists, GPU 0 is sampled every
200 ms during each measurement and the utilisation and memory reported are the samples taken
between the end of epoch 1 and the end of the last epoch (else "n/a"). Off TensorFlow neither
side imports TensorFlow itself; where it is installed, Keras's own `set_random_seed` imports it
(to seed `tf.random`) on every backend, on both sides alike (`tensorflow_loaded` says so).

Data: Fashion-MNIST (mlp, cnn) and CIFAR-10 (cifar) are looked up as tuilab always does
(`$TUILAB_DATA`, the Keras cache, Debian's dataset packages); `--data FOLDER` sets
`TUILAB_DATA` for every side. `TUILAB_OFFLINE=1` is set, so nothing is downloaded.
`--synthetic` swaps in random data of the model's input shape (a CPU smoke run of `cifar`
where CIFAR-10 is absent). `--quick`: 3 epochs, 3,000 samples, 1 round.

Prints one JSON line per measurement and per configuration (also appended to `--out`), then a
Markdown table ready for bench/README.md.

`callbacks` (in `hook_costs.py`) times each of tuilab's training callbacks on the calling
thread inside a real stored run (`prepare_run` + `execute`, as the front ends do) of a tiny
digits MLP with one step per call, so steps take about a millisecond: the epoch-order setter,
the state keeper, the reporter (its per-batch check, its epoch end), and inside the reporter's
epoch end the layer probe, the state save and the TensorBoard writer's `handle`; plus the
writer thread's CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gpu_sampler import GpuSampler
from plain import SCENARIOS, SETTINGS, VARIANT
from pty_app import app_events

ROOT = Path(__file__).resolve().parent.parent
BATCH = {"mlp": 256, "cnn": 128, "cifar": 128}
SHAPE = {"mlp": [28, 28, 1], "cnn": [28, 28, 1], "cifar": [32, 32, 3]}


@dataclass(frozen=True)
class Setup:
    """One configuration: the same for every side."""

    backend: str = "jax"
    model: str = "mlp"
    epochs: int = 5
    batch_size: int = 256
    limit: int | None = None
    mixed_precision: bool = False
    synthetic: bool = False
    plain_feed: str = "numpy"


def overrides(setup: Setup) -> list[str]:
    """The `--set` overrides that make tuilab's scenario match `setup`."""
    items = [*SETTINGS[setup.model], f"fit.epochs={setup.epochs}"]
    items.append(f"fit.batch_size={setup.batch_size}")
    if setup.synthetic:
        samples = setup.limit or 5000
        shape = ",".join(str(n) for n in SHAPE[setup.model])
        items.append('data.dataset="synthetic"')
        items.append(
            f"data.synthetic={{shape=[{shape}],classes=10,samples={samples},"
            f"test_samples={max(samples // 5, 10)}}}"
        )
    elif setup.limit:
        items.append(f"data.limit={setup.limit}")
    if setup.mixed_precision:
        items.append("fit.mixed_precision=true")
    return items


# -- the plain side (runs in its own interpreter) ------------------------------------------
def plain_train(options: dict[str, Any], matched: bool = False) -> dict[str, Any]:
    """Samples/s of plain `model.fit(verbose=0)`, epochs 2..N; epoch ends as wall times."""
    setup = Setup(**options)
    from tuilab.backend import device_description, import_keras
    from tuilab.data import load_data
    from tuilab.data.pipeline import EpochOrder, make_dataset
    from tuilab.model.builder import build_model
    from tuilab.model.compile import make_loss, make_optimizer
    from tuilab.runtime.speed import steps_per_epoch, steps_per_execution
    from tuilab.scenario import load_scenario

    keras = import_keras()
    scenario = load_scenario(SCENARIOS[setup.model], overrides(setup))
    config = scenario.variants[VARIANT[setup.model]]
    data = load_data(config.data, config.compile.loss, scenario.meta.seed)
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_float16" if setup.mixed_precision else "float32")
    network = build_model(config, data.input_shape, data.classes)
    steps = steps_per_epoch(len(data.x_train), setup.batch_size)
    per_call = steps_per_execution("auto", steps, keras.backend.backend()) if matched else 1
    network.compile(
        optimizer=make_optimizer(config.compile.optimizer),
        loss=make_loss(config.compile.loss),
        metrics=["accuracy"],
        steps_per_execution=per_call,
    )
    times: list[float] = []
    ends: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)
            ends.append(time.time())

    callbacks: list[Any] = [Clock()]
    validation = (data.x_val, data.y_val) if data.x_val is not None else None
    if setup.plain_feed == "pydataset":
        order = EpochOrder()
        feed = make_dataset(data.x_train, data.y_train, setup.batch_size, shuffle=True, seed=0,
                            order=order)  # fmt: skip
        history = network.fit(feed, epochs=setup.epochs, validation_data=validation,
                              shuffle=False, callbacks=[order.callback(), *callbacks],
                              verbose=0)  # fmt: skip
    else:
        history = network.fit(data.x_train, data.y_train, batch_size=setup.batch_size,
                              epochs=setup.epochs, validation_data=validation, shuffle=True,
                              callbacks=callbacks, verbose=0)  # fmt: skip
    rates = [len(data.x_train) / t for t in times[1:]]
    device = device_description()
    return {
        "samples_per_s": round(statistics.median(rates)) if rates else None,
        "epoch_rates": [round(r) for r in rates],
        "first_epoch_s": round(times[0], 2),
        "window": [ends[0], ends[-1]],
        "val_accuracy": round(float(history.history.get("val_accuracy", [0.0])[-1]), 4),
        "steps_per_execution": per_call,
        "jit_compile": bool(network.jit_compile),
        "device": device,
        "tensorflow_loaded": "tensorflow" in sys.modules,
    }


# -- measuring each side ---------------------------------------------------------------------
def child_env(setup: Setup) -> dict[str, str]:
    env = {**os.environ, "KERAS_BACKEND": setup.backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.setdefault("TUILAB_OFFLINE", "1")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(ROOT)) if p)
    return env


def tuilab_args(setup: Setup) -> list[str]:
    args = [sys.executable, "-m", "tuilab", "run", str(SCENARIOS[setup.model])]
    args += ["-v", VARIANT[setup.model]]
    for item in overrides(setup):
        args += ["--set", item]
    return args


def _steady(events: list[dict[str, Any]]) -> list[float]:
    epochs = [e for e in events if e.get("event") == "epoch_ended"]
    return [float(e["samples_per_second"]) for e in epochs[1:]]


def run_plain(setup: Setup, matched: bool) -> dict[str, Any]:
    code = (
        f"import sys, json; sys.path.insert(0, {str(ROOT / 'bench')!r}); import backends; "
        f"print(json.dumps(backends.plain_train({asdict(setup)!r}, {matched!r})))"
    )
    with GpuSampler() as gpu, tempfile.TemporaryFile("w+") as errors:
        done = subprocess.run(
            [sys.executable, "-c", code], env=child_env(setup), stdout=subprocess.PIPE,
            stderr=errors, text=True, check=False,
        )  # fmt: skip
        if done.returncode:
            errors.seek(0)
            raise RuntimeError(f"plain side failed:\n{errors.read()[-3000:]}")
    result = json.loads(done.stdout.splitlines()[-1])
    return result | gpu.figures(result.pop("window"))


def run_headless(setup: Setup) -> dict[str, Any]:
    args = [*tuilab_args(setup), "--json", "--no-store"]
    events, ends = [], []
    with GpuSampler() as gpu, tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            args, env=child_env(setup), stdout=subprocess.PIPE, stderr=errors, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith("{"):
                event = json.loads(line)
                events.append(event)
                if event.get("event") == "epoch_ended":
                    ends.append(time.time())
        if process.wait():
            errors.seek(0)
            raise RuntimeError(f"tuilab run failed:\n{errors.read()[-3000:]}")
    rates = _steady(events)
    result: dict[str, Any] = {"samples_per_s": round(statistics.median(rates)) if rates else None}
    result["epoch_rates"] = [round(r) for r in rates]
    started = next((e for e in events if e.get("event") == "variant_started"), {})
    result["steps_per_execution"] = started.get("steps_per_execution")
    result["jit_compile"] = started.get("jit_compile")
    return result | gpu.figures([ends[0], ends[-1]] if ends else None)


def run_app(setup: Setup, size: tuple[int, int] = (80, 24)) -> dict[str, Any]:
    """The real app in a pseudo-terminal; figures from its stored run's events."""
    ends: list[float] = []
    last_poll = [0.0]  # the window ends when training did, not when the app quit
    with tempfile.TemporaryDirectory() as folder, GpuSampler() as gpu:
        runs = Path(folder)

        def note_epoch_ends() -> None:
            logs = list(runs.glob("*/*/events.jsonl"))
            seen = logs[0].read_text().count('"epoch_ended"') if logs else 0
            ends.extend([time.time()] * (seen - len(ends)))
            last_poll[0] = time.time()

        events = app_events(tuilab_args(setup), runs, child_env(setup), size, note_epoch_ends)
        rates = _steady(events)
        figures = gpu.figures([ends[0], last_poll[0]] if ends else None)
    result: dict[str, Any] = {"samples_per_s": round(statistics.median(rates)) if rates else None}
    result["epoch_rates"] = [round(r) for r in rates]
    return result | figures


def training(setup: Setup, sides: list[str], rounds: int, out: Path | None) -> dict[str, Any]:
    """Every side for `setup`, interleaved in rounds (each round starts with another side)."""
    measured: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for index in range(rounds):
        for side in sides[index % len(sides) :] + sides[: index % len(sides)]:
            if side == "plain":
                result = run_plain(setup, matched=False)
            elif side == "matched":
                result = run_plain(setup, matched=True)
            elif side == "headless":
                result = run_headless(setup)
            else:
                result = run_app(setup)
            result = {"side": side, "round": index, **asdict(setup), **result}
            measured[side].append(result)
            emit(result, out)
    first = measured["plain"][0]
    device = first["device"]
    summary: dict[str, Any] = {"summary": True, **asdict(setup), "rounds": rounds}
    summary |= {
        "date": dt.date.today().isoformat(),
        "device": device["device"],
        "cpus": device["cpus"],
        "backend_version": device["backend_version"],
        "keras": device["keras"],
        "python": platform.python_version(),
        "tensorflow_loaded_plain": first["tensorflow_loaded"],
    }
    for side, results in measured.items():
        rates = [r["samples_per_s"] for r in results if r["samples_per_s"]]
        summary[f"{side}_samples_per_s"] = round(statistics.median(rates)) if rates else None
        utils = [r["gpu_util_median"] for r in results if isinstance(r["gpu_util_median"], float)]
        summary[f"{side}_gpu_util"] = statistics.median(utils) if utils else "n/a"
        summary[f"{side}_rounds"] = rates
        summary[f"{side}_steps_per_execution"] = results[0].get("steps_per_execution")
        summary[f"{side}_jit_compile"] = results[0].get("jit_compile")
    for side in ("headless", "app", "matched"):
        if side in measured and summary["plain_samples_per_s"] and summary[f"{side}_samples_per_s"]:
            ratio = summary[f"{side}_samples_per_s"] / summary["plain_samples_per_s"]
            summary[f"{side}_vs_plain"] = round(ratio, 3)
    emit(summary, out)
    return summary


def emit(line: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(line)
    print(text, flush=True)
    if out is not None:
        with out.open("a", encoding="utf-8") as file:
            file.write(text + "\n")


def table(summaries: list[dict[str, Any]]) -> str:
    """The Markdown table for bench/README.md's GPU section."""
    head = (
        "| date | device | backend | Keras | model | batch | mixed precision | plain samples/s "
        "| tuilab samples/s | app samples/s | tuilab / plain | app / plain "
        "| GPU util % (plain / tuilab / app) |\n|" + "---|" * 13
    )
    rows = [head]
    for s in summaries:
        label = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}[s["backend"]]

        def cell(key: str, s: dict[str, Any] = s) -> str:
            value = s.get(key)
            return f"{value:,}" if isinstance(value, int) else str(value or "–")

        utils = " / ".join(str(s.get(f"{x}_gpu_util", "–")) for x in ("plain", "headless", "app"))
        data = s["model"] + (" (synthetic)" if s["synthetic"] else "")
        rows.append(
            f"| {s['date']} | {s['device']} ({s['cpus']} CPUs) | {label} {s['backend_version']} "
            f"| {s['keras']} | {data} | {s['batch_size']} "
            f"| {'on' if s['mixed_precision'] else 'off'} | {cell('plain_samples_per_s')} "
            f"| {cell('headless_samples_per_s')} | {cell('app_samples_per_s')} "
            f"| {cell('headless_vs_plain')} | {cell('app_vs_plain')} | {utils} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    train = sub.add_parser("training")
    cost = sub.add_parser("callbacks")
    for each in (train, cost):
        each.add_argument("--backend", choices=["tensorflow", "jax", "torch"], default="jax")
        each.add_argument("--out", type=Path, default=None, help="also append JSON lines here")
    train.add_argument("--model", nargs="+", choices=list(SCENARIOS), default=["mlp"])
    train.add_argument("--batch-size", type=int, default=None, help="default: mlp 256, else 128")
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--limit", type=int, default=None, help="training samples to load")
    train.add_argument("--rounds", type=int, default=2)
    train.add_argument("--mixed-precision", choices=["off", "on", "both"], default="off")
    train.add_argument("--app", action="store_true", help="also train in the app, in a pty")
    train.add_argument("--matched", action="store_true", help="also plain Keras, tuilab's spe")
    train.add_argument("--plain-feed", choices=["numpy", "pydataset"], default="numpy")
    train.add_argument("--data", type=Path, default=None, help="folder of copied datasets")
    train.add_argument("--synthetic", action="store_true", help="random data of the same shape")
    train.add_argument("--quick", action="store_true", help="3 epochs, 3,000 samples, 1 round")
    cost.add_argument("--epochs", type=int, default=8)
    cost.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.what == "callbacks":
        from hook_costs import callbacks_main

        callbacks_main(args)
        return
    if args.data:
        os.environ["TUILAB_DATA"] = str(args.data.expanduser().resolve())
    if args.quick:
        args.epochs, args.limit, args.rounds = 3, args.limit or 3000, 1
    sides = ["plain", *(["matched"] if args.matched else []), "headless"]
    sides += ["app"] if args.app else []
    precisions = {"off": [False], "on": [True], "both": [False, True]}[args.mixed_precision]
    summaries = []
    for model in args.model:
        for mixed in precisions:
            setup = Setup(
                args.backend, model, args.epochs, args.batch_size or BATCH[model], args.limit,
                mixed, args.synthetic, args.plain_feed,
            )  # fmt: skip
            summaries.append(training(setup, sides, args.rounds, args.out))
    print()
    print(table(summaries))


if __name__ == "__main__":
    main()
