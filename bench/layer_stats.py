"""Benchmark: what the per-layer weight and gradient norms cost a trial, per epoch.

Usage:
    python bench/layer_stats.py [--rounds 3] [--only digits fashion]

For two scenarios, `digits` (an MLP on the 8x8 digits, batch 64) and `fashion` (the
fashion_cnn_batchnorm.toml CNN, 6 BatchNorm layers, on 6,000 Fashion-MNIST images, batch 50;
needs a local copy), it trains through `prepare_run` + `execute` as the front ends do, once
with the layer probe and once without (`LayerProbe.first_batch` patched to None). With the
probe it times every `LayerProbe.measure` call (epoch 0 is the first, before training).

Prints one JSON line per round and scenario, then the best round of each (lowest probe cost).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench")]
"""This checkout's tuilab first (not bench/, which holds no packages)."""
DIGITS = """
    [scenario]
    name = "bench digits"
    [data]
    dataset = "digits"
    normalize = "scale"
    flatten = true
    validation_split = 0.2
    [model]
    layers = [{ type = "Dense", units = 64, activation = "relu" },
              { type = "Dense", units = 64, activation = "relu" },
              { type = "Dense", units = 10, activation = "softmax" }]
    [fit]
    epochs = 6
    batch_size = 64
"""


def fashion_text() -> str:
    """fashion_cnn_batchnorm.toml, variant adam only, 6,000 images, 4 epochs."""
    text = (ROOT / "scenarios" / "fashion_cnn_batchnorm.toml").read_text(encoding="utf-8")
    text = text.replace("[data]\n", "[data]\nlimit = 6000\n", 1)
    text = text.replace("epochs = 20", "epochs = 4", 1)
    return text.split("[variants.rmsprop]")[0] + '[compile]\noptimizer = "adam"\n'


def run(text: str, folder: Path, probe: bool) -> dict[str, Any]:
    from tuilab.runtime import layer_stats
    from tuilab.runtime.events import EpochEnded, Event
    from tuilab.runtime.layer_events import LayerStats
    from tuilab.runtime.session import RunRequest, execute, prepare_run

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "scenario.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    costs: list[float] = []
    original_measure = layer_stats.LayerProbe.measure
    original_first = layer_stats.LayerProbe.__dict__["first_batch"]

    def measure(self: Any, trial: str, epoch: int, model: Any) -> Any:
        started = time.perf_counter()
        event = original_measure(self, trial, epoch, model)
        costs.append(time.perf_counter() - started)
        return event

    layer_stats.LayerProbe.measure = measure  # type: ignore[method-assign]
    if not probe:
        layer_stats.LayerProbe.first_batch = classmethod(lambda cls, x, y, size: None)  # type: ignore[method-assign,assignment]
    try:
        runner, store = prepare_run(RunRequest(path, runs_dir=folder / "runs"))
        events: list[Event] = []
        started = time.perf_counter()
        execute(runner, store, events.append)
        run_s = time.perf_counter() - started
    finally:
        layer_stats.LayerProbe.measure = original_measure  # type: ignore[method-assign]
        layer_stats.LayerProbe.first_batch = original_first  # type: ignore[method-assign]
    epochs = [e.seconds for e in events if isinstance(e, EpochEnded)]
    stats = [e for e in events if isinstance(e, LayerStats)]
    return {
        "run_s": round(run_s, 3),
        "epoch_ms_median": round(1000 * statistics.median(epochs), 1),
        "probe_first_ms": round(1000 * costs[0], 1) if costs else None,
        "probe_ms_median": round(1000 * statistics.median(costs[1:]), 1) if costs[1:] else None,
        "layers": len(stats[-1].layers) if stats else 0,
        "event_bytes": len(stats[-1].to_json()) if stats else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=["digits", "fashion"])
    args = parser.parse_args()
    texts = {"digits": DIGITS, "fashion": fashion_text()}
    best: dict[str, dict[str, Any]] = {}
    for round_ in range(args.rounds):
        for name in args.only:
            with tempfile.TemporaryDirectory() as temporary:
                with_probe = run(texts[name], Path(temporary) / "with", probe=True)
                without = run(texts[name], Path(temporary) / "without", probe=False)
            line = {
                "round": round_,
                "scenario": name,
                "with": with_probe,
                "without": without,
                "probe_share_of_epoch": round(
                    with_probe["probe_ms_median"] / with_probe["epoch_ms_median"], 4
                ),
            }
            print(json.dumps(line), flush=True)
            if (
                name not in best
                or line["probe_share_of_epoch"] < best[name]["probe_share_of_epoch"]
            ):
                best[name] = line
    for line in best.values():
        print(json.dumps({"best": True, **line}), flush=True)


if __name__ == "__main__":
    main()
