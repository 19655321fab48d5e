"""Benchmark: input pipeline, XLA and steps per execution, for the MLP and the BatchNorm CNN.

Usage:
    python bench/pipeline.py [--model mlp|cnn] [--epochs 4] [--limit N] [--rounds 2]

Trains the same model on the same data with plain `model.fit(verbose=0)` in one fresh
interpreter per configuration: numpy arrays, tuilab's tf.data pipeline (shuffle, batch,
prefetch 2, autotune off), tf.data with cache and AUTOTUNE prefetch, each with `jit_compile`
off and on, then tuilab's pipeline with more steps per execution. Prints one JSON line per
configuration, then a summary line; bench/README.md collects them.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, replace

from plain import FEEDS, Setup, measure


def configurations(base: Setup) -> list[Setup]:
    """Every feed with XLA off and on, then tuilab's feed with 4 and 16 steps per execution."""
    setups = [replace(base, feed=feed, jit_compile=jit) for feed in FEEDS for jit in (False, True)]
    setups += [replace(base, feed="tfdata", steps_per_execution=n) for n in (4, 16)]
    return setups


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="training samples to use")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; best kept")
    args = parser.parse_args()
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
