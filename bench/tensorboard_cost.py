"""Benchmark: what writing TensorBoard event files costs the training.

Usage:
    python bench/tensorboard_cost.py events [--epochs 40] [--rounds 5]
    python bench/tensorboard_cost.py run [--rounds 3] [--only digits_quick bn_cnn]

`events` feeds made-up event streams to `TensorBoardLog`, shaped like two real trials:
`digits_quick` (`scenarios/digits_quick.toml`'s adam_bn: 4 metrics, the learning rate, 2
BatchNorm layers of 64 and 32 channels) and `bn_cnn` (`scenarios/fashion_cnn_batchnorm.toml`:
6 BatchNorm layers of 20, 20, 40, 40, 32 and 32 channels, 24 histograms an epoch). Per epoch
it times `handle` on the calling thread (what the training thread pays), the writer thread's
work (`_write` of the epoch's events, run synchronously here), and the same summaries made by
`tf.summary.scalar` and `tf.summary.histogram` instead (the obvious way, not taken).

`run` trains real runs in this process through `prepare_run` + `execute`, as the front ends
do, with the writer on and off (replaced by one that drops every event), interleaved, and
compares the epochs' own seconds (epochs 2..N, from the events; also as the ratio within each
round's on/off pair, less exposed to the machine's load drifting) and the wall time of
`execute`; with the writer on it also adds up the CPU time its thread spent writing.
Scenarios: `scenarios/digits_quick.toml` (3 MLP trials, up to 15 epochs) and `bn_cnn`, a
small BatchNorm CNN on the 8x8 digits defined below (3 BatchNorm layers, 12 epochs).

Each prints one JSON line per measurement and a summary line; bench/README.md collects them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tuilab.runtime import tensorboard_log
from tuilab.runtime.events import BatchNormSnapshot, EpochEnded, Event, VariantStarted

ROOT = Path(__file__).resolve().parent.parent

STREAMS = {"digits_quick": [64, 32], "bn_cnn": [20, 20, 40, 40, 32, 32]}
METRICS = ("loss", "accuracy", "val_loss", "val_accuracy")
BN_CNN = """
[scenario]
name = "bn cnn bench"
seed = 7
[data]
dataset = "digits"
normalize = "scale"
flatten = false
validation_split = 0.2
[model]
batchnorm = { position = "before" }
layers = [
  { type = "Conv2D", filters = 20, kernel_size = 3, padding = "same" },
  { type = "LeakyReLU" },
  { type = "Conv2D", filters = 40, kernel_size = 3, padding = "same" },
  { type = "LeakyReLU" },
  { type = "MaxPooling2D" },
  { type = "Flatten" },
  { type = "Dense", units = 32 },
  { type = "LeakyReLU" },
  { type = "Dense", units = 10, activation = "softmax" },
]
[fit]
epochs = 12
batch_size = 32
[run]
save_model = false
"""


def layers(channels: list[int], epoch: int) -> dict[str, dict[str, list[float]]]:
    """BatchNorm weights as a snapshot carries them: 4 lists per layer."""
    import numpy as np

    rng = np.random.default_rng(epoch)
    return {
        f"batch_normalization_{i}": {
            name: rng.normal(1.0, 0.1, size).tolist()
            for name in ("gamma", "beta", "moving_mean", "moving_variance")
        }
        for i, size in enumerate(channels)
    }


def stream(name: str, epochs: int) -> tuple[VariantStarted, list[list[Event]]]:
    """A trial's start and, per epoch, its `EpochEnded` and `BatchNormSnapshot`."""
    channels = STREAMS[name]
    started = VariantStarted(name, name, 1, 7, epochs, 30, 32, batchnorm=layers(channels, 0))
    per_epoch: list[list[Event]] = []
    for epoch in range(1, epochs + 1):
        logs = {m: 1.0 / (epoch + i) for i, m in enumerate(METRICS)}
        per_epoch.append(
            [
                EpochEnded(name, epoch, logs, 0.001, 0.05),
                BatchNormSnapshot(name, epoch, layers(channels, epoch)),
            ]
        )
    return started, per_epoch


def naive_write(writer: Any, epoch: list[Event]) -> None:
    """The same epoch with `tf.summary.scalar` and `tf.summary.histogram` (for comparison)."""
    import tensorflow as tf

    ended, snapshot = epoch
    assert isinstance(ended, EpochEnded) and isinstance(snapshot, BatchNormSnapshot)
    with writer.as_default(step=ended.epoch):
        for key, value in ended.logs.items():
            tf.summary.scalar(f"epoch_{key}", value)
        tf.summary.scalar("epoch_learning_rate", ended.learning_rate)
        for layer, weights in snapshot.layers.items():
            for weight, values in weights.items():
                tf.summary.histogram(f"batchnorm/{layer}/{weight}", values)
    writer.flush()


def ms(seconds: list[float]) -> dict[str, float]:
    """Median and spread (min, max) in milliseconds."""
    return {
        "median": round(statistics.median(seconds) * 1e3, 3),
        "min": round(min(seconds) * 1e3, 3),
        "max": round(max(seconds) * 1e3, 3),
    }


def bench_events(epochs: int, rounds: int) -> None:
    """Per-epoch cost of the writer: on the training thread, on its own, and the naive way."""
    from tuilab.backend import import_keras

    import_keras()
    import tensorflow as tf

    for name in STREAMS:
        handle, write, naive = [], [], []
        for _ in range(rounds):
            started, per_epoch = stream(name, epochs)
            with tempfile.TemporaryDirectory() as folder:
                queued = tensorboard_log.TensorBoardLog(Path(folder))
                queued.handle(started)
                for epoch in per_epoch:
                    began = time.perf_counter()
                    for event in epoch:
                        queued.handle(event)
                    handle.append(time.perf_counter() - began)
                queued.close()
                assert not queued.problem, queued.problem

                direct = tensorboard_log.TensorBoardLog(Path(folder) / "direct")
                direct.close()  # its thread stopped: `_write` runs here, timed alone
                direct._write(started)
                for epoch in per_epoch:
                    began = time.perf_counter()
                    for event in epoch:
                        direct._write(event)
                    write.append(time.perf_counter() - began)
                direct._close_writers(None)

                writer = tf.summary.create_file_writer(str(Path(folder) / "naive"))
                for epoch in per_epoch:
                    began = time.perf_counter()
                    naive_write(writer, epoch)
                    naive.append(time.perf_counter() - began)
                writer.close()
        histograms = 4 * len(STREAMS[name])
        print(
            json.dumps(
                {
                    "stream": name,
                    "epochs": epochs * rounds,
                    "histograms_per_epoch": histograms,
                    "handle_ms": ms(handle),
                    "write_ms": ms(write),
                    "tf_summary_ms": ms(naive),
                }
            ),
            flush=True,
        )


class NoTensorBoard:
    """The writer switched off: takes every event, writes nothing."""

    def __init__(self, folder: Path) -> None:
        self.problem = ""

    def handle(self, event: Event) -> None:
        pass

    def close(self, timeout: float = 0.0) -> None:
        pass


class TimedTensorBoard(tensorboard_log.TensorBoardLog):
    """The real writer, adding up the CPU time its thread spends writing."""

    busy = 0.0

    def _write(self, event: Event) -> None:
        began = time.thread_time()
        try:
            super()._write(event)
        finally:
            TimedTensorBoard.busy += time.thread_time() - began


def one_run(scenario: Path, writer: bool) -> dict[str, Any]:
    """Train once in this process; epochs 2..N's own seconds and `execute`'s wall time."""
    from tuilab.runtime.session import RunRequest, execute, prepare_run

    real = tensorboard_log.TensorBoardLog
    TimedTensorBoard.busy = 0.0
    tensorboard_log.TensorBoardLog = (  # type: ignore[misc]
        TimedTensorBoard if writer else NoTensorBoard
    )
    try:
        with tempfile.TemporaryDirectory() as runs:
            runner, store = prepare_run(RunRequest(scenario, runs_dir=Path(runs)))
            events: list[Event] = []
            began = time.perf_counter()
            outcome = execute(runner, store, events.append)
            wall = time.perf_counter() - began
            written = list(Path(runs).rglob("events.out.tfevents.*"))
    finally:
        tensorboard_log.TensorBoardLog = real  # type: ignore[misc]
    assert outcome.status == "finished", outcome
    assert bool(written) == writer
    epochs = [e for e in events if isinstance(e, EpochEnded) and e.epoch > 1]
    return {
        "writer": writer,
        "wall_s": wall,
        "epoch_s": [e.seconds for e in epochs],
        "writer_busy_s": TimedTensorBoard.busy,
        "epochs": len([e for e in events if isinstance(e, EpochEnded)]),
    }


def bench_run(rounds: int, only: list[str]) -> None:
    """Real runs with the writer on and off, interleaved."""
    scenarios = {"digits_quick": ROOT / "scenarios" / "digits_quick.toml"}
    with tempfile.TemporaryDirectory() as folder:
        cnn = Path(folder) / "bn_cnn.toml"
        cnn.write_text(BN_CNN, encoding="utf-8")
        scenarios["bn_cnn"] = cnn
        for name in only:
            one_run(scenarios[name], True)  # warm-up: graph caches, data
            results: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
            paired: list[float] = []
            for round_index in range(rounds):
                pair = {}
                for writer in (False, True) if round_index % 2 else (True, False):
                    result = one_run(scenarios[name], writer)
                    results[writer].append(result)
                    pair[writer] = statistics.median(result["epoch_s"])
                    line = {
                        "scenario": name,
                        "writer": writer,
                        "wall_s": round(result["wall_s"], 3),
                        "epoch_ms": round(pair[writer] * 1e3, 2),
                        "epochs": result["epochs"],
                    }
                    if writer:
                        line["writer_busy_ms"] = round(result["writer_busy_s"] * 1e3, 1)
                    print(json.dumps(line), flush=True)
                paired.append(pair[True] / pair[False])
            summary: dict[str, Any] = {"summary": True, "scenario": name, "rounds": rounds}
            summary["paired_epoch_on_vs_off"] = {
                "median": round(statistics.median(paired), 3),
                "min": round(min(paired), 3),
                "max": round(max(paired), 3),
            }
            busy = [r["writer_busy_s"] / r["epochs"] for r in results[True]]
            summary["writer_busy_ms_per_epoch"] = ms(busy)
            for writer, label in ((False, "off"), (True, "on")):
                epochs = [s for r in results[writer] for s in r["epoch_s"]]
                walls = [r["wall_s"] for r in results[writer]]
                summary[f"epoch_ms_{label}"] = ms(epochs)
                summary[f"wall_s_{label}"] = {
                    "median": round(statistics.median(walls), 3),
                    "min": round(min(walls), 3),
                    "max": round(max(walls), 3),
                }
            summary["epoch_on_vs_off"] = round(
                summary["epoch_ms_on"]["median"] / summary["epoch_ms_off"]["median"], 3
            )
            summary["wall_on_vs_off"] = round(
                summary["wall_s_on"]["median"] / summary["wall_s_off"]["median"], 3
            )
            print(json.dumps(summary), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    events = sub.add_parser("events")
    events.add_argument("--epochs", type=int, default=40)
    events.add_argument("--rounds", type=int, default=5)
    run = sub.add_parser("run")
    run.add_argument("--rounds", type=int, default=3)
    run.add_argument("--only", nargs="+", default=["digits_quick", "bn_cnn"])
    args = parser.parse_args()
    if args.what == "events":
        bench_events(args.epochs, args.rounds)
    else:
        bench_run(args.rounds, args.only)


if __name__ == "__main__":
    main()
