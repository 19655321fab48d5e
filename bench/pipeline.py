"""Benchmark: input pipeline, XLA and steps per execution, for the MLP and the BatchNorm CNN.

Usage:
    python bench/pipeline.py [--model mlp|cnn] [--epochs 4] [--limit N] [--rounds 2]
    python bench/pipeline.py --backend jax|torch [--model mlp|cnn] [--epochs N] [--rounds 3]

Trains the same model on the same data with plain `model.fit(verbose=0)` in one fresh
interpreter per configuration: numpy arrays, tuilab's tf.data pipeline (shuffle, batch,
prefetch 2, autotune off), tf.data with cache and AUTOTUNE prefetch, each with `jit_compile`
off and on, then tuilab's pipeline with more steps per execution. Prints one JSON line per
configuration, then a summary line; bench/README.md collects them.

With `--backend jax|torch` (KERAS_BACKEND, TensorFlow never imported): raw numpy
`fit(x, y, shuffle=True)` against tuilab's `ArrayBatches` PyDataset (`make_dataset`), for the
digits MLP (64-32-10 on the 1,437 training digits, batch 32) or a small CNN on the first 6,000
Fashion-MNIST training images (batch 64); steps/s of epochs 2..N, median of `--rounds` fresh
interpreters, interleaved.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

from plain import FEEDS, Setup, measure


def configurations(base: Setup) -> list[Setup]:
    """Every feed with XLA off and on, then tuilab's feed with 4 and 16 steps per execution."""
    setups = [replace(base, feed=feed, jit_compile=jit) for feed in FEEDS for jit in (False, True)]
    setups += [replace(base, feed="tfdata", steps_per_execution=n) for n in (4, 16)]
    return setups


def backend_train(model: str, feed: str, epochs: int) -> dict:
    """Steps/s of `model.fit` fed by `feed` (numpy | pydataset) on the current backend."""
    import time

    from tuilab.backend import import_keras
    from tuilab.data import load_data
    from tuilab.data.pipeline import EpochOrder, make_dataset
    from tuilab.scenario.schema import DataConfig

    keras = import_keras()
    loss = "sparse_categorical_crossentropy"
    layers = keras.layers
    if model == "mlp":
        data = load_data(DataConfig(dataset="digits", normalize="scale", flatten=True), loss, 0)
        batch = 32
        body = [layers.Dense(64, activation="relu"), layers.Dense(32, activation="relu")]
    else:
        config = DataConfig(dataset="fashion_mnist", normalize="scale", limit=6000)
        data = load_data(config, loss, 0)
        batch = 64
        body = [
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
        ]
    keras.utils.set_random_seed(0)
    network = keras.Sequential(
        [keras.Input(data.input_shape), *body, layers.Dense(data.classes, activation="softmax")]
    )
    network.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    steps = -(-len(data.x_train) // batch)
    if feed == "numpy":
        history = network.fit(
            data.x_train, data.y_train, batch_size=batch, epochs=epochs, shuffle=True,
            callbacks=[Clock()], verbose=0,
        )  # fmt: skip
    else:
        order = EpochOrder()
        dataset = make_dataset(data.x_train, data.y_train, batch, shuffle=True, seed=0, order=order)
        history = network.fit(
            dataset, epochs=epochs, shuffle=False, callbacks=[order.callback(), Clock()], verbose=0
        )
    return {
        "steps_per_s": round(steps / statistics.fmean(times[1:]), 1),
        "first_epoch_s": round(times[0], 2),
        "loss": round(float(history.history["loss"][-1]), 4),
        "tensorflow_loaded": "tensorflow" in sys.modules,
    }


def backend_main(args: argparse.Namespace) -> None:
    """numpy vs PyDataset on `args.backend`, one fresh interpreter per measurement."""
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "KERAS_BACKEND": args.backend}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(root)) if p)
    rounds: dict[str, list[dict]] = {"numpy": [], "pydataset": []}
    for _ in range(args.rounds):
        for feed, measured in rounds.items():
            code = (
                f"import sys, json; sys.path.insert(0, {str(root / 'bench')!r}); import pipeline; "
                f"print(json.dumps(pipeline.backend_train({args.model!r}, {feed!r}, "
                f"{args.epochs})))"
            )
            done = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
            )
            measured.append(json.loads(done.stdout.splitlines()[-1]))
    medians = {}
    for feed, measured in rounds.items():
        medians[feed] = statistics.median(m["steps_per_s"] for m in measured)
        figures = {"backend": args.backend, "model": args.model, "feed": feed}
        figures |= {"steps_per_s": medians[feed], "rounds": measured}
        print(json.dumps(figures), flush=True)
    ratio = round(medians["pydataset"] / medians["numpy"], 3)
    print(json.dumps({"backend": args.backend, "model": args.model, "pydataset_vs_numpy": ratio}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="training samples to use")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; best kept")
    parser.add_argument(
        "--backend", choices=["jax", "torch"], default=None, help="numpy vs PyDataset off TF"
    )
    args = parser.parse_args()
    if args.backend:
        backend_main(args)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    base = Setup(model=args.model, epochs=args.epochs, limit=args.limit)
    setups = configurations(base)
    rounds: list[list[dict]] = [[] for _ in setups]
    for _ in range(args.rounds):  # interleaved, so that a slow spell hits every setup alike
        for index, setup in enumerate(setups):
            rounds[index].append(measure(setup))
    results = []
    for setup, measured in zip(setups, rounds, strict=True):
        figures = asdict(setup) | max(measured, key=lambda m: m["samples_per_s"])
        figures["rounds"] = [m["samples_per_s"] for m in measured]
        print(json.dumps(figures), flush=True)
        results.append(figures)
    numpy_rate = results[0]["samples_per_s"]
    fastest = max(results, key=lambda r: r["samples_per_s"])
    summary = {
        "model": args.model,
        "fastest": {k: fastest[k] for k in ("feed", "jit_compile", "steps_per_execution")},
        "speedup_over_numpy": round(fastest["samples_per_s"] / numpy_rate, 3),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
