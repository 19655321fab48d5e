"""Profile: where the time of a headless tuilab run goes (py-spy, sampling every thread).

Usage:
    pip install -e ".[bench]"   # py-spy
    python bench/hotspots.py [--model mlp|cnn] [--epochs 3] [--limit N] [--keep FILE]

Records `tuilab run --headless --no-store` with py-spy (every thread, idle time excluded),
then sorts the samples: inside `model.fit`, those in tuilab's callbacks (the reporter: its
per-batch check and epoch events), in tracing, and in Keras and TensorFlow; outside it, Rich
output and the rest (imports, data, evaluation, saving). Prints one JSON line of percentages.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from overhead import tuilab_args
from plain import Setup


def classify(stack: str) -> str:
    """The group of one collapsed stack (frames outermost first, separated by ';')."""
    frames = stack.split(";")
    fit = next((i for i, f in enumerate(frames) if ".fit (keras/" in f), None)
    if fit is not None:  # inside model.fit: what does fit call?
        inner = frames[fit + 1 :]
        if any("tuilab/" in f for f in inner):
            return "fit: tuilab callbacks"
        if any("tracing_compilation" in f for f in inner):
            return "fit: tracing"
        return "fit: keras and tensorflow"
    output = ("rich/", "plotext/", "tuilab/headless/render", "tuilab/headless/charts")
    if any(marker in f for f in frames for marker in output):
        return "output (Rich)"
    return "start-up, data, evaluation, saving"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["mlp", "cnn"], default="cnn")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None, help="also write py-spy's raw output")
    args = parser.parse_args()
    setup = Setup(model=args.model, epochs=args.epochs, limit=args.limit)
    with tempfile.TemporaryDirectory() as folder:
        raw = args.keep or Path(folder) / "profile.txt"
        command = ["py-spy", "record", "--format", "raw", "--threads", "--rate", "50"]
        command += ["-o", str(raw), "--", *tuilab_args(setup), "--headless", "--no-store"]
        env = {"TF_CPP_MIN_LOG_LEVEL": "3", **os.environ}
        subprocess.run(command, check=True, capture_output=True, env=env)
        counts: Counter[str] = Counter()
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            counts[classify(stack)] += int(count)
    total = sum(counts.values())
    shares = {group: round(100 * n / total, 2) for group, n in counts.most_common()}
    in_fit = sum(n for group, n in counts.items() if group.startswith("fit:"))
    callbacks = counts["fit: tuilab callbacks"]
    result = {"model": args.model, "samples": total, "percent": shares}
    result["tuilab_callbacks_percent_of_fit"] = round(100 * callbacks / max(in_fit, 1), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
