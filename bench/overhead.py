"""Benchmark: tuilab against plain Keras on the same work, start-up, and UI responsiveness.

Usage:
    python bench/overhead.py training [--epochs 6] [--model mlp|cnn|cifar] [--app] [--limit N]
                                       [--rounds 2] [--set KEY=VALUE ...]
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
from dataclasses import replace
from pathlib import Path

from plain import SCENARIOS, VARIANT, Setup, measure, settings
from pty_app import app_events

ROOT = Path(__file__).resolve().parent.parent


def tuilab_args(setup: Setup) -> list[str]:
    """`tuilab run` for the same model, data and epochs as the plain script."""
    args = [sys.executable, "-m", "tuilab", "run", str(SCENARIOS[setup.model])]
    args += ["-v", VARIANT[setup.model]]
    for item in settings(setup):
        args += ["--set", item]
    return args


def _steady_rate(events: list[dict]) -> float:
    """Mean samples/s of epochs 2..N from `epoch_ended` events (epoch 1 includes tracing)."""
    epochs = [e for e in events if e.get("event") == "epoch_ended"]
    return statistics.fmean(e["samples_per_second"] for e in epochs[1:])


def tuilab_headless(setup: Setup) -> float:
    """Samples/s of `tuilab run --json --no-store` (epoch times from its own events)."""
    args = [*tuilab_args(setup), "--json", "--no-store"]
    output = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return _steady_rate([json.loads(x) for x in output.splitlines() if x.startswith("{")])


def tuilab_app(setup: Setup, size: tuple[int, int] = (80, 24)) -> float:
    """Samples/s of the real app training in a pseudo-terminal, read from its stored run."""
    with tempfile.TemporaryDirectory() as folder:
        events = app_events(tuilab_args(setup), Path(folder), dict(os.environ), size)
    return _steady_rate(events)


def training(setup: Setup, app: bool = False, rounds: int = 2) -> dict:
    """Interleave plain Keras, headless tuilab (and the app), so load hits all alike."""
    matched = replace(setup, feed="tfdata", steps_per_execution="auto")
    runs: dict[str, list[float]] = {"keras": [], "keras_matched": [], "headless": [], "app": []}
    for _ in range(rounds):
        runs["keras"].append(measure(setup)["samples_per_s"])
        runs["keras_matched"].append(measure(matched)["samples_per_s"])
        runs["headless"].append(tuilab_headless(setup))
        if app:
            runs["app"].append(tuilab_app(setup))
    best = {side: max(rates) for side, rates in runs.items() if rates}
    result: dict = {"model": setup.model, "epochs": setup.epochs, "limit": setup.limit}
    result["settings"] = list(setup.extra)
    result |= {f"{side}_samples_per_s": round(rate) for side, rate in best.items()}
    for side in ("headless", "app"):
        if side in best:  # against the notebook's script, and against Keras with tuilab's settings
            result[f"{side}_ratio"] = round(best[side] / best["keras"], 3)
            result[f"{side}_ratio_matched"] = round(best[side] / best["keras_matched"], 3)
    result["runs"] = {side: [round(x) for x in rates] for side, rates in runs.items() if rates}
    return result


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
    parser.add_argument("--set", action="append", default=[], help="training: more overrides")
    parser.add_argument("--size", default="80x24")
    parser.add_argument("--app", action="store_true", help="also train in the app, in a pty")
    parser.add_argument("--limit", type=int, default=None, help="training: samples to load")
    parser.add_argument("--rounds", type=int, default=2, help="training: interleaved rounds")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if args.what == "training":
        setup = Setup(args.model, args.epochs, limit=args.limit, extra=tuple(args.set))
        result = training(setup, args.app, args.rounds)
    elif args.what == "startup":
        result = startup()
    else:
        width, height = (int(v) for v in args.size.split("x"))
        result = asyncio.run(_responsiveness((width, height)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
