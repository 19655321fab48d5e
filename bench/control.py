"""Benchmark: what the control channel (steering from other processes) costs a training run.

Usage:
    python bench/control.py [--rounds 3] [--epochs 40]

Trains the same digits MLP through `execute` (the wrapper every run goes through), stored, with
the channel polling the run's `control/` folder and without it (`steer=False`), each in a fresh
interpreter, the two sides interleaved in rounds; keeps each side's best round. Also times one
poll of an empty control folder. Prints one JSON line.
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

SCENARIO = """
[scenario]
name = "control-bench"
seed = 1
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [{{ type = "Dense", units = 64, activation = "relu" }},
          {{ type = "Dense", units = 10, activation = "softmax" }}]
[fit]
epochs = {epochs}
batch_size = 32
"""


def child(scenario: Path, runs: Path, steer: bool) -> dict:
    """One stored run through `execute`; samples/s of epochs 2..N (epoch 1 includes tracing)."""
    from tuilab.runtime.events import EpochEnded
    from tuilab.runtime.session import RunRequest, execute, prepare_run

    runner, store = prepare_run(RunRequest(scenario, runs_dir=runs))
    rates: list[float] = []

    def deliver(event: object) -> None:
        if isinstance(event, EpochEnded):
            rates.append(event.samples_per_second)

    outcome = execute(runner, store, deliver, steer=steer)
    channel_seen = (store.folder / "control").is_dir()
    return {
        "steer": steer,
        "status": outcome.status,
        "control_folder": channel_seen,
        "samples_per_s": statistics.fmean(rates[1:]),
    }


def measure(scenario: Path, runs: Path, steer: bool) -> dict:
    """`child` in a fresh interpreter."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TUILAB_OFFLINE": "1"}
    args = [sys.executable, __file__, "--child", str(scenario), str(runs), str(int(steer))]
    output = subprocess.run(args, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


def poll_cost(repeats: int = 20000) -> float:
    """Microseconds per poll of an empty control folder (what the channel's thread does)."""
    from tuilab.runtime.control import RunControl
    from tuilab.runtime.control_channel import ControlChannel

    with tempfile.TemporaryDirectory() as folder:
        channel = ControlChannel(Path(folder), RunControl())
        (Path(folder) / "control").mkdir(mode=0o700)
        started = time.perf_counter()
        for _ in range(repeats):
            channel.poll()
        return (time.perf_counter() - started) / repeats * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        scenario, runs, steer = args.child
        print(json.dumps(child(Path(scenario), Path(runs), steer == "1")))
        return
    runs: dict[str, list[float]] = {"with_channel": [], "without": []}
    with tempfile.TemporaryDirectory() as folder:
        scenario = Path(folder) / "control_bench.toml"
        scenario.write_text(SCENARIO.format(epochs=args.epochs))
        for _ in range(args.rounds):
            for side, steer in (("with_channel", True), ("without", False)):
                result = measure(scenario, Path(folder) / "runs", steer)
                assert result["status"] == "finished", result
                assert result["control_folder"] == steer, result
                runs[side].append(result["samples_per_s"])
    best = {side: max(rates) for side, rates in runs.items()}
    print(
        json.dumps(
            {
                "model": "digits MLP 64-10, batch 32",
                "epochs": args.epochs,
                "with_channel_samples_per_s": round(best["with_channel"]),
                "without_samples_per_s": round(best["without"]),
                "ratio": round(best["with_channel"] / best["without"], 3),
                "poll_empty_folder_us": round(poll_cost(), 1),
                "runs": {side: [round(x) for x in rates] for side, rates in runs.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
