"""Benchmark: what the confusion report costs a trial (one `model.predict` on the test split).

Usage:
    python bench/confusion.py [--rounds 3]

For two scenarios, `digits` (an MLP on the 8x8 digits, 360 test samples) and `fashion` (a
small CNN on Fashion-MNIST, its whole 10,000-sample test split; needs a local copy), it trains
2 epochs through `prepare_run` + `execute` as the front ends do and reads the report's own
`seconds` (the predict pass, its first call traced, plus scikit-learn's metrics). Then, on the
saved model in a fresh Keras session, it times the test `evaluate` the runner already did
(first call), the report (first call, then warm) and scikit-learn's part alone.

Prints one JSON line per round and scenario, then the best round of each.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

SCENARIOS = {
    "digits": """
        [scenario]
        name = "bench digits"
        [data]
        dataset = "digits"
        normalize = "scale"
        flatten = true
        validation_split = 0.2
        [model]
        layers = [{ type = "Dense", units = 64, activation = "relu" },
                  { type = "Dense", units = 10, activation = "softmax" }]
        [fit]
        epochs = 2
        batch_size = 64
    """,
    "fashion": """
        [scenario]
        name = "bench fashion"
        [data]
        dataset = "fashion_mnist"
        normalize = "scale"
        limit = 10000
        validation_split = 0.1
        [model]
        layers = [{ type = "Conv2D", filters = 16, kernel_size = 3, activation = "relu" },
                  { type = "MaxPooling2D", pool_size = 2 },
                  { type = "Conv2D", filters = 32, kernel_size = 3, activation = "relu" },
                  { type = "MaxPooling2D", pool_size = 2 },
                  { type = "Flatten" },
                  { type = "Dense", units = 64, activation = "relu" },
                  { type = "Dense", units = 10, activation = "softmax" }]
        [fit]
        epochs = 2
        batch_size = 128
    """,
}


def timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = call()
    return time.perf_counter() - started, value


def measure(name: str, folder: Path) -> dict[str, Any]:
    """Train once, then time the report against the evaluate pass on the saved model."""
    import keras

    from tuilab.data import load_data
    from tuilab.data.class_names import class_names
    from tuilab.runtime.confusion import build_report, class_indices, classification_report
    from tuilab.runtime.events import ClassificationReport, Event
    from tuilab.runtime.session import RunRequest, execute, prepare_run

    path = folder / f"{name}.toml"
    path.write_text(textwrap.dedent(SCENARIOS[name]), encoding="utf-8")
    runner, store = prepare_run(RunRequest(path, runs_dir=folder / "runs"))
    events: list[Event] = []
    execute(runner, store, events.append)
    report = next(e for e in events if isinstance(e, ClassificationReport))
    config = runner.scenario.variants["default"]
    data = load_data(config.data, config.compile.loss, runner.scenario.meta.seed)
    labels = class_names(config.data.dataset, data.classes)
    batch = config.fit.batch_size
    keras.backend.clear_session()
    model = keras.models.load_model(store.folder / "variants" / "default" / "model.keras")
    evaluate, _ = timed(
        lambda: model.evaluate(data.x_test, data.y_test, batch_size=batch, verbose=0)
    )
    first, _ = timed(
        lambda: classification_report("t", model, data.x_test, data.y_test, labels, batch)
    )
    warm, _ = timed(
        lambda: classification_report("t", model, data.x_test, data.y_test, labels, batch)
    )
    probs = model.predict(data.x_test, batch_size=batch, verbose=0)
    y_true = class_indices(data.y_test, len(labels))
    metrics, _ = timed(lambda: build_report("t", labels, y_true, probs))
    return {
        "scenario": name,
        "test_samples": len(data.x_test),
        "in_run_report_s": round(report.seconds, 4),
        "evaluate_first_s": round(evaluate, 4),
        "report_first_s": round(first, 4),
        "report_warm_s": round(warm, 4),
        "sklearn_s": round(metrics, 4),
        "event_bytes": len(report.to_json()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=list(SCENARIOS))
    args = parser.parse_args()
    best: dict[str, dict[str, Any]] = {}
    for round_ in range(args.rounds):
        for name in args.only:
            with tempfile.TemporaryDirectory() as temporary:
                line = {"round": round_, **measure(name, Path(temporary))}
            print(json.dumps(line), flush=True)
            if name not in best or line["in_run_report_s"] < best[name]["in_run_report_s"]:
                best[name] = line
    for line in best.values():
        print(json.dumps({"best": True, **line}), flush=True)


if __name__ == "__main__":
    main()
