"""Benchmark: what `tuilab.keras.TuilabCallback` costs a plain Keras fit.

Usage:
    python bench/callback.py [--rounds 5] [--epochs 6] [--models digits cnn] [--cnn-limit 6000]

A fresh interpreter per model; in it, rounds of the same fit (a fresh model from the same seed
each time) on three sides, each side first in turn: `without` (no callback but a timer),
`with` (`TuilabCallback` last, recording into a temporary run store) and `noop` (a callback
whose `on_train_batch_end` does nothing). Any callback with a per-batch hook, the recorder's
included, makes Keras call the batch hooks in step with training instead of on a helper
thread; `noop` shows that part of the cost apart from the recorder's own work.

The timer notes the clock at every `on_epoch_begin` and at `on_train_end`: an epoch's time runs
from its start to the next one's, so it includes the epoch-end work of every callback (the
recorder's events, history line and BatchNorm snapshot). Epoch 1 (tracing) is left out; each
round gives the median of epochs 2..N; `fit_s` is the whole `fit` call (with the recorder: its
run folder made and finished too; `start_s`/`end_s` time its `on_train_begin`/`on_train_end`
between a timer before it and one after it). Each side's epoch time is compared with
`without` of the same round (`epoch_ratio`), then the median and the spread (min..max) over the
rounds.

Models: `digits`, an MLP with BatchNorm on the 8x8 digits (1,437 training images, batch 32:
45 steps of well under a millisecond, the worst case for per-batch work) and `cnn`, two
convolutions with BatchNorm on the first `--cnn-limit` Fashion-MNIST images (Debian's
package), batch 64. Both with validation data, verbose=0. Prints one JSON line per fit, then
a summary line per model.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FASHION = Path("/usr/share/datasets/fashion-mnist")
SIDES = ("without", "with", "noop")


def digits() -> tuple[np.ndarray, np.ndarray, int]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.data / 16.0).astype("float32"), data.target, 32


def fashion(limit: int) -> tuple[np.ndarray, np.ndarray, int]:
    with gzip.open(FASHION / "train-images-idx3-ubyte.gz") as stream:
        images = np.frombuffer(stream.read()[16:], np.uint8).reshape(-1, 28, 28, 1)
    with gzip.open(FASHION / "train-labels-idx1-ubyte.gz") as stream:
        labels = np.frombuffer(stream.read()[8:], np.uint8)
    return (images[:limit] / 255.0).astype("float32"), labels[:limit].astype("int64"), 64


def build(keras, name: str):
    layers = keras.layers
    if name == "digits":
        body = [keras.Input((64,)), layers.Dense(64), layers.BatchNormalization()]
        body += [layers.Activation("relu"), layers.Dense(10, activation="softmax")]
    else:
        body = [keras.Input((28, 28, 1)), layers.Conv2D(16, 3), layers.BatchNormalization()]
        body += [layers.Activation("relu"), layers.MaxPooling2D(), layers.Conv2D(32, 3)]
        body += [layers.BatchNormalization(), layers.Activation("relu"), layers.MaxPooling2D()]
        body += [layers.Flatten(), layers.Dense(10, activation="softmax")]
    model = keras.Sequential(body)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def one_fit(keras, name: str, data, epochs: int, side: str, record: Path) -> dict:
    """One fit; its per-epoch seconds (epoch 1 dropped) and the whole fit's seconds."""
    x, y, batch = data
    split = int(len(x) * 0.8)
    marks: list[float] = []
    begins: list[float] = []
    ends: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            begins.append(time.perf_counter())

        def on_epoch_begin(self, epoch, logs=None):
            marks.append(time.perf_counter())

        def on_train_end(self, logs=None):
            marks.append(time.perf_counter())

    class After(keras.callbacks.Callback):  # placed after the recorder: its begin and end
        def on_train_begin(self, logs=None):
            ends.append(time.perf_counter())

        def on_train_end(self, logs=None):
            ends.append(time.perf_counter())

    class Noop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    callbacks: list = [Timer()]
    if side == "with":
        from tuilab.keras import TuilabCallback

        callbacks += [TuilabCallback(name, runs_dir=record), After()]
    elif side == "noop":
        callbacks.append(Noop())
    keras.utils.set_random_seed(0)
    model = build(keras, name)
    started = time.perf_counter()
    model.fit(
        x[:split],
        y[:split],
        validation_data=(x[split:], y[split:]),
        epochs=epochs,
        batch_size=batch,
        verbose=0,
        callbacks=callbacks,
    )
    fit_s = time.perf_counter() - started
    epoch_s = [b - a for a, b in itertools.pairwise(marks)][1:]
    result = {"epoch_s": statistics.median(epoch_s), "fit_s": fit_s, "epochs_s": epoch_s}
    if ends:  # the recorder's own start (run folder, first events) and end
        result |= {"start_s": ends[0] - begins[0], "end_s": ends[1] - marks[-1]}
    return result


def bench(name: str, rounds: int, epochs: int, limit: int) -> dict:
    import keras

    data = digits() if name == "digits" else fashion(limit)
    figures: dict[str, list[dict]] = {side: [] for side in SIDES}
    with tempfile.TemporaryDirectory() as folder:
        one_fit(keras, name, data, 2, "with", Path(folder))  # warm-up: imports, first tracing
        for index in range(rounds):
            for side in SIDES[index % 3 :] + SIDES[: index % 3]:  # each side first in turn
                result = one_fit(keras, name, data, epochs, side, Path(folder) / f"r{index}")
                figures[side].append(result)
                row = {"model": name, "round": index, "side": side}
                row |= {k: round(v, 4) for k, v in result.items() if k != "epochs_s"}
                print(json.dumps(row), flush=True)
    summary: dict = {"summary": True, "model": name, "rounds": rounds, "epochs": epochs}
    for side, results in figures.items():
        epoch = [r["epoch_s"] for r in results]
        fit = [r["fit_s"] for r in results]
        summary[side] = {
            "epoch_ms_median": round(1000 * statistics.median(epoch), 2),
            "epoch_ms_spread": [round(1000 * min(epoch), 2), round(1000 * max(epoch), 2)],
            "fit_s_median": round(statistics.median(fit), 3),
        }
    for key in ("start_s", "end_s"):
        values = [r[key] for r in figures["with"]]
        median_ms = round(1000 * statistics.median(values), 1)
        summary["with"][key.replace("_s", "_ms_median")] = median_ms
    for side in ("with", "noop"):  # per round against `without`, then the median
        paired = zip(figures[side], figures["without"], strict=True)
        pairs = [w["epoch_s"] / o["epoch_s"] for w, o in paired]
        summary[f"{side}_vs_without"] = {
            "epoch_ratio_median": round(statistics.median(pairs), 3),
            "epoch_ratio_spread": [round(min(pairs), 3), round(max(pairs), 3)],
            "fit_extra_s": round(
                summary[side]["fit_s_median"] - summary["without"]["fit_s_median"], 3
            ),
        }
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--models", nargs="+", default=["digits", "cnn"])
    parser.add_argument("--cnn-limit", type=int, default=6000)
    args = parser.parse_args()
    if len(args.models) > 1:  # a fresh interpreter per model
        for name in args.models:
            command = [sys.executable, __file__, "--models", name, "--rounds", str(args.rounds)]
            command += ["--epochs", str(args.epochs), "--cnn-limit", str(args.cnn_limit)]
            subprocess.run(command, check=True)
        return
    print(json.dumps(bench(args.models[0], args.rounds, args.epochs, args.cnn_limit)))


if __name__ == "__main__":
    main()
