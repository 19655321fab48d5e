"""Benchmark: wall time of a 4-trial sweep, sequential vs `--parallel 2` (and more).

Usage:
    python bench/parallel.py [--rounds 3] [--parallel 1 2] [--epochs 4 30]
                             [--scenario scenarios/digits_sweep.toml] [--set KEY=VALUE ...]

Each round runs `tuilab run SCENARIO --headless --json --parallel N --set fit.epochs=E` in a
fresh interpreter for every (E, N), interleaved, and records the command's wall time (start-up,
validation and data loading included: what a user waits for) and the time from `run_started`
to `run_finished` as the JSON events arrive (the training part: with N > 1 it includes
spawning the workers, each importing TensorFlow and loading the data). It prints one JSON
line per run and a summary line per (E, N) with the best and median of the rounds; every run
is also checked to have finished with the same test accuracy per trial as the others.
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


def one_run(scenario: Path, epochs: int, parallel: int, extra: list[str]) -> dict:
    """Train once; wall time, training time and each trial's test accuracy."""
    with tempfile.TemporaryDirectory() as runs:
        command = [sys.executable, "-m", "tuilab", "run", str(scenario), "--headless", "--json"]
        command += ["--parallel", str(parallel), "--runs-dir", runs]
        command += ["--set", f"fit.epochs={epochs}"]
        for item in extra:
            command += ["--set", item]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        marks: dict[str, float] = {}
        accuracy: dict[str, float] = {}
        status = ""
        assert process.stdout is not None
        for line in process.stdout:
            event = json.loads(line)
            kind = event["event"]
            if kind in ("run_started", "run_finished"):
                marks[kind] = time.perf_counter()
            if kind == "variant_finished":
                accuracy[event["trial"]] = round(event["test"].get("accuracy", 0.0), 6)
            if kind == "run_finished":
                status = event["status"]
        process.wait()
        wall = time.perf_counter() - started
    return {
        "epochs": epochs,
        "parallel": parallel,
        "status": status,
        "wall_s": round(wall, 2),
        "training_s": round(marks["run_finished"] - marks["run_started"], 2),
        "test_accuracy": accuracy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, nargs="+", default=[4, 30])
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "digits_sweep.toml")
    parser.add_argument("--set", dest="extra", action="append", default=[])
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    runs: dict[tuple[int, int], list[dict]] = {}
    for _ in range(args.rounds):
        for epochs in args.epochs:
            for parallel in args.parallel:
                result = one_run(args.scenario, epochs, parallel, args.extra)
                print(json.dumps(result), flush=True)
                runs.setdefault((epochs, parallel), []).append(result)
    for epochs in args.epochs:
        reference = runs[(epochs, args.parallel[0])][0]["test_accuracy"]
        for parallel in args.parallel:
            done = runs[(epochs, parallel)]
            same = all(r["test_accuracy"] == reference for r in done)
            walls = [r["wall_s"] for r in done]
            trainings = [r["training_s"] for r in done]
            summary = {
                "summary": True,
                "epochs": epochs,
                "parallel": parallel,
                "trials": len(reference),
                "wall_best_s": min(walls),
                "wall_median_s": statistics.median(walls),
                "training_best_s": min(trainings),
                "training_median_s": statistics.median(trainings),
                "same_test_accuracy_as_parallel_" + str(args.parallel[0]): same,
                "cpus": len(os.sched_getaffinity(0)),
            }
            print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
