"""Benchmark: does watching a run from other processes cost the training anything?

Usage:
    python bench/attach.py [--model mlp|cnn] [--epochs 8] [--rounds 3] [--limit N]

Interleaved rounds, best of each side, steady epochs 2..N, one JSON line:
    keras_matched   plain Keras with tuilab's settings (tf.data, steps per execution)
    unstored        `tuilab run --json --no-store` (no files, no heartbeat)
    stored          `tuilab run --headless` writing its run folder and heartbeat
    attached        the same followed by `--viewers`: `app` (a real `tuilab attach` in a
                    pseudo-terminal), `follower` (a bare `EventFollower` polling every 0.25 s),
                    or `both` (the default)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pty
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from overhead import _steady_rate, tuilab_args, tuilab_headless
from plain import Setup, measure

FOLLOWER = """
import sys, time
from pathlib import Path
from tuilab.runtime.follow import EventFollower
from tuilab.runtime.run_folder import RunFolder
follower = EventFollower(RunFolder(Path(sys.argv[1])))
while not follower.ended:
    follower.poll()
    time.sleep(0.25)
"""


def _wait_for_run(runs: Path, process: subprocess.Popen) -> Path:
    while True:
        found = list(runs.glob("*/*/events.jsonl"))
        if found:
            return found[0].parent
        if process.poll() is not None:
            raise RuntimeError(f"the run exited with {process.returncode}")
        time.sleep(0.05)


def stored(setup: Setup, viewers: str = "") -> float:
    """Samples/s of a stored headless run, followed by `viewers`: "", "follower", "app", "both"."""
    with tempfile.TemporaryDirectory() as folder:
        runs = Path(folder)
        command = [*tuilab_args(setup), "--headless", "--runs-dir", str(runs)]
        run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        watchers: list[subprocess.Popen] = []
        leader = None
        path = _wait_for_run(runs, run) if viewers else None
        if viewers in ("app", "both"):
            leader, terminal = pty.openpty()
            env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
            attach = [sys.executable, "-m", "tuilab", "attach", str(path), "--runs-dir", folder]
            watchers.append(
                subprocess.Popen(attach, stdin=terminal, stdout=terminal, stderr=terminal, env=env)
            )
            os.close(terminal)
            os.set_blocking(leader, False)
        if viewers in ("follower", "both"):
            watchers.append(subprocess.Popen([sys.executable, "-c", FOLLOWER, str(path)]))
        while run.poll() is None:
            if leader is not None:
                with contextlib.suppress(OSError):
                    os.read(leader, 1 << 16)  # drain the viewer's terminal, as a real one would
            time.sleep(0.05)
        for watcher in watchers:
            watcher.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                watcher.wait(timeout=10)
        if leader is not None:
            os.close(leader)
        (log,) = runs.glob("*/*/events.jsonl")
        return _steady_rate([json.loads(x) for x in log.read_text().splitlines()])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mlp", choices=["mlp", "cnn"])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--viewers", default="both", choices=["follower", "app", "both"])
    args = parser.parse_args()
    setup = Setup(model=args.model, epochs=args.epochs, limit=args.limit)
    matched = replace(setup, feed="tfdata", steps_per_execution="auto")
    runs: dict[str, list[float]] = {
        "keras_matched": [],
        "unstored": [],
        "stored": [],
        "attached": [],
    }
    for _ in range(args.rounds):
        runs["keras_matched"].append(measure(matched)["samples_per_s"])
        runs["unstored"].append(tuilab_headless(setup))
        runs["stored"].append(stored(setup))
        runs["attached"].append(stored(setup, args.viewers))
    best = {side: max(rates) for side, rates in runs.items()}
    result: dict = {"model": setup.model, "epochs": setup.epochs, "rounds": args.rounds}
    result["viewers"] = args.viewers
    result |= {f"{side}_samples_per_s": round(rate) for side, rate in best.items()}
    for side in ("unstored", "stored", "attached"):
        result[f"{side}_ratio_matched"] = round(best[side] / best["keras_matched"], 3)
    result["attached_vs_stored"] = round(best["attached"] / best["stored"], 3)
    result["runs"] = {side: [round(x) for x in rates] for side, rates in runs.items()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
