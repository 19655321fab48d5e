"""Load checks: listing 1,000 stored runs, and a 20-variant x 200-epoch run's memory and store.

Usage:
    python bench/load.py listing [--runs 1000]
    python bench/load.py long [--variants 20 --epochs 200]
    python bench/load.py long --plain [--epochs 600]   (the same model in a plain Keras script)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "runs" / "quick" / "20260101-120000"


def listing(count: int) -> dict:
    """Copy the fixture run `count` times; time `list_runs` and the app's picker."""
    from tuilab.app.app import create_app
    from tuilab.runtime.run_listing import list_runs

    with tempfile.TemporaryDirectory() as folder:
        runs = Path(folder) / "runs"
        for index in range(count):
            shutil.copytree(FIXTURE, runs / f"s{index % 10}" / f"20260101-{index:06d}")
        start = time.perf_counter()
        found = list_runs(runs)
        list_s = time.perf_counter() - start

        async def picker() -> float:
            begin = time.perf_counter()
            app = create_app(ROOT / "tests" / "fixtures" / "scenarios", runs)
            async with app.run_test(size=(80, 24)) as pilot:
                await pilot.pause()
                shown = app.screen.query_one("#run-list").option_count
            assert shown == count
            return time.perf_counter() - begin

        picker_s = asyncio.run(picker())
    return {
        "runs": len(found),
        "list_runs_s": round(list_s, 3),
        "picker_ready_s": round(picker_s, 3),
    }


def long_run(variants: int, epochs: int) -> dict:
    """A tiny model, many variants and epochs: peak memory over time and the store's size."""
    body = "\n".join(f"[variants.v{i:02d}]\nfit.batch_size = {32 + i}" for i in range(variants))
    text = f"""
[data]
dataset = "synthetic"
synthetic = {{ shape = [8], classes = 4, samples = 256, test_samples = 64 }}
validation_split = 0.25
[model]
layers = [{{ type = "Dense", units = 8, activation = "relu" }},
          {{ type = "BatchNormalization" }},
          {{ type = "Dense", units = 4, activation = "softmax" }}]
[fit]
epochs = {epochs}
[run]
save_model = false
{body}
"""
    with tempfile.TemporaryDirectory() as folder:
        scenario = Path(folder) / "long.toml"
        scenario.write_text(text)
        runs = Path(folder) / "runs"
        args = [sys.executable, "-m", "tuilab", "run", str(scenario), "--headless"]
        code, samples = _watch_memory([*args, "--runs-dir", str(runs)], runs, "**/history.csv")
        size = sum(f.stat().st_size for f in runs.rglob("*") if f.is_file())
    return {
        "variants": variants,
        "epochs": epochs,
        "exit": code,
        **_memory_figures(samples),
        "store_mb": round(size / 1e6, 2),
    }


PLAIN = """
import sys, numpy as np, keras
epochs, progress = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(0)
x, y = rng.normal(size=(256, 8)).astype("float32"), rng.integers(0, 4, 256)
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"),
                          keras.layers.BatchNormalization(),
                          keras.layers.Dense(4, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y, batch_size=32, epochs=epochs, validation_split=0.25, verbose=0,
          callbacks=[keras.callbacks.CSVLogger(progress)])
"""


def plain_long(epochs: int) -> dict:
    """The same tiny model trained by a plain Keras script: does Keras alone grow too?"""
    with tempfile.TemporaryDirectory() as folder:
        args = [sys.executable, "-c", PLAIN, str(epochs), f"{folder}/history.csv"]
        code, samples = _watch_memory(args, Path(folder), "history.csv")
    return {"plain_keras": True, "epochs": epochs, "exit": code, **_memory_figures(samples)}


def _watch_memory(
    args: list[str], folder: Path, pattern: str
) -> tuple[int, list[tuple[float, int, int]]]:
    """Run `args`, sampling each second its resident memory (kB) and the epochs finished.

    Epochs are the data lines of the CSV histories matching `pattern` under `folder`.
    """
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples: list[tuple[float, int, int]] = []

    def epochs_done() -> int:
        return sum(max(len(f.read_text().splitlines()) - 1, 0) for f in folder.glob(pattern))

    def sample() -> None:
        start = time.perf_counter()
        while process.poll() is None:
            status = Path(f"/proc/{process.pid}/status").read_text()
            rss = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS"))
            samples.append((time.perf_counter() - start, rss, epochs_done()))
            time.sleep(1.0)

    thread = threading.Thread(target=sample)
    thread.start()
    code = process.wait()
    thread.join()
    return code, samples


def _memory_figures(samples: list[tuple[float, int, int]]) -> dict:
    """Resident memory once the first epoch is done and at the end, and the growth between."""
    trained = [s for s in samples if s[2] >= 1]
    first, last = trained[0], trained[-1]
    growth = (last[1] - first[1]) / 1024
    return {
        "seconds": round(samples[-1][0], 1),
        "rss_mb_after_epoch": [first[2], round(first[1] / 1024, 1)],
        "rss_mb_at_epoch": [last[2], round(last[1] / 1024, 1)],
        "growth_mb_per_100_epochs": round(100 * growth / max(last[2] - first[2], 1), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["listing", "long"])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--variants", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--plain", action="store_true", help="long: a plain Keras script instead")
    args = parser.parse_args()
    if args.what == "listing":
        result = listing(args.runs)
    elif args.plain:
        result = plain_long(args.epochs)
    else:
        result = long_run(args.variants, args.epochs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
