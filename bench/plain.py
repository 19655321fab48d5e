"""The plain-Keras side of the benchmarks: a notebook-style script with switchable speed options.

Each measurement runs in its own interpreter (see `measure`), so that TensorFlow state, XLA
caches and memory from one configuration never leak into the next.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "mlp": ROOT / "scenarios" / "mnist_batchnorm.toml",
    "cnn": ROOT / "scenarios" / "fashion_cnn_batchnorm.toml",
    "cifar": ROOT / "scenarios" / "cifar_bn.toml",  # CIFAR-10 from the Keras cache (a GPU box)
}
SETTINGS = {  # same data for every side: Fashion-MNIST from Debian's package
    "mlp": ['data.dataset="fashion_mnist"', 'data.normalize="scale"'],
    "cnn": [],
    "cifar": [],
}
VARIANT = {"mlp": "plain", "cnn": "adam", "cifar": "default"}
FEEDS = ("numpy", "tfdata", "tfdata_cache")


@dataclass(frozen=True)
class Setup:
    """One way of training the same model on the same data."""

    model: str = "mlp"
    epochs: int = 5
    feed: str = "numpy"  # numpy | tfdata (tuilab's pipeline) | tfdata_cache (cache + AUTOTUNE)
    jit_compile: bool = False
    steps_per_execution: int | str = 1  # or "auto": as tuilab resolves it
    limit: int | None = None  # training samples, to keep slow models short
    extra: tuple[str, ...] = ()  # more `--set` overrides, e.g. fit.mixed_precision=true


def settings(setup: Setup) -> list[str]:
    """The `--set` overrides that make tuilab's scenario match `setup`."""
    items = [*SETTINGS[setup.model], f"fit.epochs={setup.epochs}"]
    if setup.limit:
        items.append(f"data.limit={setup.limit}")
    return [*items, *setup.extra]


def _dataset(x, y, batch_size: int, feed: str, seed: int):
    """The training input for `feed`: arrays, or one of two tf.data pipelines."""
    if feed == "numpy":
        return x, y
    import tensorflow as tf

    from tuilab.data.pipeline import make_dataset

    if feed == "tfdata":
        return make_dataset(x, y, batch_size, shuffle=True, seed=seed), None
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(len(x), seed=seed)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE), None


def train(setup: Setup) -> dict:
    """Samples/s of plain `model.fit(verbose=0)` for `setup`, epochs 2..N (1 is tracing)."""
    import keras

    from tuilab.data import load_data
    from tuilab.model.builder import build_model
    from tuilab.runtime.speed import steps_per_epoch, steps_per_execution
    from tuilab.scenario import load_scenario

    scenario = load_scenario(SCENARIOS[setup.model], settings(setup))
    config = scenario.variants[VARIANT[setup.model]]
    data = load_data(config.data, config.compile.loss, 0)
    keras.utils.set_random_seed(0)
    if config.fit.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    network = build_model(config, data.input_shape, data.classes)
    steps = steps_per_epoch(len(data.x_train), config.fit.batch_size)
    network.compile(
        optimizer="adam",
        loss=config.compile.loss,
        metrics=["accuracy"],
        jit_compile=setup.jit_compile,
        steps_per_execution=steps_per_execution(setup.steps_per_execution, steps),
    )
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    x, y = _dataset(data.x_train, data.y_train, config.fit.batch_size, setup.feed, 0)
    history = network.fit(
        x,
        y,
        batch_size=None if y is None else config.fit.batch_size,
        epochs=setup.epochs,
        validation_data=(data.x_val, data.y_val),
        callbacks=[Clock()],
        verbose=0,
    )
    return {
        "samples_per_s": round(len(data.x_train) / statistics.fmean(times[1:])),
        "first_epoch_s": round(times[0], 2),
        "val_accuracy": round(history.history["val_accuracy"][-1], 4),
    }


def measure(setup: Setup) -> dict:
    """`train(setup)` in a fresh interpreter; its figures as a dict."""
    code = (
        f"import sys, json; sys.path.insert(0, {str(ROOT / 'bench')!r}); import plain; "
        f"print(json.dumps(plain.train(plain.Setup(**{asdict(setup)!r}))))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output.splitlines()[-1])
