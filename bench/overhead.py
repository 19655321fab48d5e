"""Benchmark: tuilab against plain Keras on the same work, start-up, and UI responsiveness.

Usage:
    python bench/overhead.py training [--epochs 6] [--model mlp|cnn]
    python bench/overhead.py startup
    python bench/overhead.py responsiveness [--size 80x24]

Each prints one JSON line of figures; bench/README.md collects them. Steady-state throughput
uses epochs 2..N (the first epoch includes tracing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = {
    "mlp": ROOT / "scenarios" / "mnist_batchnorm.toml",
    "cnn": ROOT / "scenarios" / "fashion_cnn_batchnorm.toml",
}
SETTINGS = {  # same data for both sides: Fashion-MNIST from Debian's package
    "mlp": ['data.dataset="fashion_mnist"', 'data.normalize="scale"'],
    "cnn": [],
}
VARIANT = {"mlp": "plain", "cnn": "adam"}


def plain_keras(model: str, epochs: int) -> float:
    """Samples/s of a plain Keras script: the same model and data, model.fit(verbose=0)."""
    import keras

    from tuilab.data import load_data
    from tuilab.model.builder import build_model
    from tuilab.scenario import load_scenario

    scenario = load_scenario(SCENARIOS[model], [*SETTINGS[model], f"fit.epochs={epochs}"])
    config = scenario.variants[VARIANT[model]]
    data = load_data(config.data, config.compile.loss, 0)
    keras.utils.set_random_seed(0)
    network = build_model(config, data.input_shape, data.classes)
    network.compile(optimizer="adam", loss=config.compile.loss, metrics=["accuracy"])
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    network.fit(
        data.x_train,
        data.y_train,
        batch_size=config.fit.batch_size,
        epochs=epochs,
        validation_data=(data.x_val, data.y_val),
        callbacks=[Clock()],
        verbose=0,
    )
    return len(data.x_train) / statistics.fmean(times[1:])


def tuilab_headless(model: str, epochs: int) -> float:
    """Samples/s of `tuilab run --json` (epoch times from its own events)."""
    args = [
        sys.executable,
        "-m",
        "tuilab",
        "run",
        str(SCENARIOS[model]),
        "--json",
        "--no-store",
        "-v",
        VARIANT[model],
        "--set",
        f"fit.epochs={epochs}",
    ]
    for item in SETTINGS[model]:
        args += ["--set", item]
    output = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    epochs_ = [json.loads(x) for x in output.splitlines() if '"epoch_ended"' in x]
    return statistics.fmean(e["samples_per_second"] for e in epochs_[1:])


def training(model: str, epochs: int) -> dict:
    """Interleave plain Keras and tuilab twice each, so background load hits both alike."""
    keras_runs, tuilab_runs = [], []
    for _ in range(2):
        code = (
            f"import sys; sys.path.insert(0, {str(ROOT / 'bench')!r}); import overhead; "
            f"print(overhead.plain_keras({model!r}, {epochs}))"
        )
        keras_runs.append(
            float(
                subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True
                ).stdout.split()[-1]
            )
        )
        tuilab_runs.append(tuilab_headless(model, epochs))
    keras_rate, tuilab_rate = max(keras_runs), max(tuilab_runs)
    return {
        "model": model,
        "epochs": epochs,
        "keras_samples_per_s": round(keras_rate),
        "tuilab_samples_per_s": round(tuilab_rate),
        "ratio": round(tuilab_rate / keras_rate, 3),
        "runs": {
            "keras": [round(x) for x in keras_runs],
            "tuilab": [round(x) for x in tuilab_runs],
        },
    }


def startup() -> dict:
    """`tuilab --help`, the app's first frame, and the time to a first training step."""

    def best_of(args: list[str], runs: int = 5) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(args, capture_output=True, check=True)
            times.append(time.perf_counter() - start)
        return min(times)

    help_s = best_of([sys.executable, "-m", "tuilab", "--help"])
    code = (
        "import asyncio, time; t = time.perf_counter()\n"
        "from pathlib import Path\nfrom tuilab.app.app import create_app\n"
        "async def main():\n"
        f"    app = create_app(Path({str(ROOT / 'scenarios')!r}), Path('runs'))\n"
        "    async with app.run_test(size=(80, 24)) as pilot:\n"
        "        await pilot.pause()\n"
        "        print(time.perf_counter() - t)\n"
        "asyncio.run(main())"
    )
    frame = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout.split()[-1]
        )
        for _ in range(3)
    ]
    start = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tuilab",
            "run",
            str(ROOT / "scenarios" / "digits_quick.toml"),
            "--json",
            "--no-store",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    first_step = None
    for line in process.stdout:
        if '"batch_progress"' in line or '"epoch_ended"' in line:
            first_step = time.perf_counter() - start
            break
    process.kill()
    process.wait()
    return {
        "help_s": round(help_s, 3),
        "first_frame_s": round(min(frame), 3),
        "first_training_step_s": round(first_step or -1, 2),
    }


async def _responsiveness(size: tuple[int, int]) -> dict:
    from textual import events

    from tuilab.app.app import create_app
    from tuilab.app.screens.dashboard import DashboardScreen

    with tempfile.TemporaryDirectory() as folder:
        scenarios = Path(folder) / "scenarios"
        scenarios.mkdir()
        text = (ROOT / "scenarios" / "digits_quick.toml").read_text()
        (scenarios / "s.toml").write_text(text.replace("epochs = 15", "epochs = 400"))
        app = create_app(scenarios, Path(folder) / "runs")
        latencies, frames = [], 0
        async with app.run_test(size=size) as pilot:
            await pilot.press("enter")
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            while not any(c.epochs for c in screen.state.curves.curves.values()):
                await pilot.pause(0.1)
            plot = screen.query_one("#curves-plot")
            original = plot.draw

            def counting_draw(*args, **kwargs):
                nonlocal frames
                frames += 1
                return original(*args, **kwargs)

            plot.draw = counting_draw
            start = time.perf_counter()
            for index in range(40):
                key = "m" if index % 2 else "g"
                drawn = frames
                before = time.perf_counter()
                app.post_message(events.Key(key, None))  # as a terminal would deliver it
                while frames == drawn:  # until the curves widget has redrawn for this key
                    await asyncio.sleep(0.002)
                latencies.append(time.perf_counter() - before)
                await asyncio.sleep(0.1)
            elapsed = time.perf_counter() - start
            screen.control.stop()
            while screen.running:
                await pilot.pause(0.1)
    latencies.sort()
    return {
        "size": f"{size[0]}x{size[1]}",
        "key_p50_ms": round(latencies[19] * 1000, 1),
        "key_p95_ms": round(latencies[37] * 1000, 1),
        "curve_redraws_per_s": round(frames / elapsed, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["training", "startup", "responsiveness"])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--model", choices=list(SCENARIOS), default="mlp")
    parser.add_argument("--size", default="80x24")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.what == "training":
        result = training(args.model, args.epochs)
    elif args.what == "startup":
        result = startup()
    else:
        width, height = (int(v) for v in args.size.split("x"))
        result = asyncio.run(_responsiveness((width, height)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
