"""`python bench/backends.py callbacks`: what each of tuilab's training callbacks costs.

Times each hook on the calling thread inside a real stored run (`prepare_run` + `execute`, as
the front ends do) of a tiny digits MLP with one step per call, so steps take about a
millisecond; see `backends.py` for the options.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from backends import ROOT, Setup, child_env, emit

CALLBACK_SCENARIO = """
[scenario]
name = "callback cost"
seed = 7
[data]
dataset = "digits"
normalize = "scale"
flatten = true
validation_split = 0.2
[model]
layers = [
  { type = "Dense", units = 64, activation = "relu" },
  { type = "BatchNormalization" },
  { type = "Dense", units = 10, activation = "softmax" },
]
[fit]
epochs = EPOCHS
batch_size = 16
steps_per_execution = 1
[run]
save_model = false
"""
HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
)


def callback_costs(epochs: int) -> dict[str, Any]:
    """Time every tuilab callback hook (and what the reporter calls) in one stored run."""
    from tuilab.backend import import_keras
    from tuilab.runtime import layer_stats, reporter, tensorboard_log, training_state
    from tuilab.runtime.events import EpochEnded
    from tuilab.runtime.session import RunRequest, execute, prepare_run

    keras = import_keras()
    spent: dict[str, list[tuple[int, float]]] = {}  # (epoch, seconds) per call
    now = {"epoch": -1}  # -1: before the first epoch (on_train_begin)

    def timed(name: str, method: Any, clock: Any = time.perf_counter) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            began = clock()
            try:
                return method(*args, **kwargs)
            finally:
                spent.setdefault(name, []).append((now["epoch"], clock() - began))

        return wrapper

    class Epoch(keras.callbacks.Callback):  # no batch hooks: Keras's dispatch is unchanged
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            now["epoch"] = epoch

    original_fit = keras.Model.fit

    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        for callback in kwargs.get("callbacks") or []:
            label = type(callback).__name__
            for hook in HOOKS:
                method = getattr(callback, hook)
                if not getattr(method, "_is_default", False):  # keep Keras's async choice
                    setattr(callback, hook, timed(f"{label}.{hook}", method))
        kwargs["callbacks"] = [Epoch(), *(kwargs.get("callbacks") or [])]
        return original_fit(self, *args, **kwargs)

    patches = [
        (keras.Model, "fit", fit),
        (layer_stats.LayerProbe, "measure", None),
        (training_state._StateKeeperMixin, "save", None),
        (tensorboard_log.TensorBoardLog, "handle", None),
        (reporter._ReporterMixin, "_apply_requests", None),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    labels = {
        "measure": "reporter: layer probe",
        "save": "reporter: state save",
        "handle": "reporter: TensorBoard handle",
        "_apply_requests": "reporter: steering",
    }
    for owner, name, replacement in patches:
        setattr(owner, name, replacement or timed(labels[name], getattr(owner, name)))
    saved.append((tensorboard_log.TensorBoardLog, "_write", tensorboard_log.TensorBoardLog._write))
    tensorboard_log.TensorBoardLog._write = timed(  # type: ignore[method-assign]
        "TensorBoard writer thread (CPU)", tensorboard_log.TensorBoardLog._write, time.thread_time
    )
    try:
        with tempfile.TemporaryDirectory() as folder:
            scenario = Path(folder) / "cost.toml"
            scenario.write_text(CALLBACK_SCENARIO.replace("EPOCHS", str(epochs)))
            runner, store = prepare_run(RunRequest(scenario, runs_dir=Path(folder) / "runs"))
            events: list[Any] = []
            outcome = execute(runner, store, events.append)
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)
    assert outcome.status == "finished", outcome
    ended = [e for e in events if isinstance(e, EpochEnded)]
    steady = [e.seconds for e in ended[1:]]
    epoch_s = statistics.median(steady)
    steps = round(ended[-1].samples_per_second * ended[-1].seconds / 16)
    result: dict[str, Any] = {
        "backend": keras.backend.backend(),
        "epochs": epochs,
        "steps_per_epoch": steps,
        "epoch_ms": round(epoch_s * 1e3, 2),
        "step_ms": round(epoch_s * 1e3 / steps, 3),
        "tensorflow_loaded": "tensorflow" in sys.modules,
        "hooks": {},
    }
    for name, calls in sorted(spent.items()):
        # per epoch: epochs 2..N only (epoch 1 and on_train_begin include compiling)
        steady_calls = [t for epoch, t in calls if epoch >= 1]
        per_epoch = sum(steady_calls) / max(len(ended) - 1, 1)
        times = [t for _, t in calls]
        result["hooks"][name] = {
            "calls": len(times),
            "median_us": round(statistics.median(times) * 1e6, 1),
            "steady_median_us": round(statistics.median(steady_calls) * 1e6, 1)
            if steady_calls
            else None,
            "first_ms": round(times[0] * 1e3, 2),
            "per_epoch_ms": round(per_epoch * 1e3, 3),
            "share_of_epoch": round(per_epoch / epoch_s, 4),
        }
    return result


def callbacks_main(args: argparse.Namespace) -> None:
    env = child_env(Setup(backend=args.backend))
    code = (
        f"import sys, json; sys.path.insert(0, {str(ROOT / 'bench')!r}); import hook_costs; "
        f"print(json.dumps(hook_costs.callback_costs({args.epochs})))"
    )
    results = []
    for index in range(args.rounds):
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise RuntimeError(done.stderr[-3000:])
        result = json.loads(done.stdout.splitlines()[-1]) | {"round": index}
        results.append(result)
        emit(result, args.out)
    names = sorted({name for r in results for name in r["hooks"]})
    summary: dict[str, Any] = {"summary": True, "backend": args.backend, "rounds": args.rounds}
    summary["step_ms"] = round(statistics.median(r["step_ms"] for r in results), 3)
    summary["epoch_ms"] = round(statistics.median(r["epoch_ms"] for r in results), 2)
    summary["steps_per_epoch"] = results[0]["steps_per_epoch"]
    summary["tensorflow_loaded"] = any(r["tensorflow_loaded"] for r in results)
    summary["hooks"] = {}
    for name in names:
        found = [r["hooks"][name] for r in results if name in r["hooks"]]
        summary["hooks"][name] = {
            key: statistics.median(f[key] for f in found)
            for key in ("calls", "steady_median_us", "first_ms", "per_epoch_ms", "share_of_epoch")
            if all(f[key] is not None for f in found)
        }
    emit(summary, args.out)
    lines = [
        f"per-callback cost, {args.backend}, step {summary['step_ms']} ms, "
        f"epoch {summary['epoch_ms']} ms (median of {args.rounds} runs)",
        "| callback hook | calls per run | first call (ms) | median per call, epochs 2..N (µs) "
        "| per epoch, epochs 2..N (ms) | share of epoch |",
        "|---|---|---|---|---|---|",
    ]
    for name, figures in summary["hooks"].items():
        lines.append(
            f"| {name} | {figures['calls']:g} | {figures['first_ms']:g} "
            f"| {figures.get('steady_median_us', '–')} | {figures['per_epoch_ms']:.3f} "
            f"| {100 * figures['share_of_epoch']:.2f}% |"
        )
    print("\n".join(lines))
