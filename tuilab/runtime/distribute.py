"""Distribution from `[run] strategy`: TensorFlow's strategies (never a home-made scheduler).

On another Keras backend a trial trains on one device (`SingleDevice`); the TensorFlow-only
strategies are refused before training (`runtime.backends`).
"""

from __future__ import annotations

import contextlib
import json
import os
from functools import cache
from typing import Any

from tuilab.scenario.schema import RunConfig


@cache
def _multi_worker() -> Any:
    """One MultiWorkerMirroredStrategy per process, configured from `TF_CONFIG`.

    It must exist before TensorFlow initialises its context, so the run session creates it
    first (`prepare_strategies`) and every trial reuses it.
    """
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


def uses_multi_worker(configs: list[RunConfig]) -> bool:
    """True when any variant asks for multi_worker."""
    return any(c.strategy == "multi_worker" for c in configs)


class SingleDevice:
    """The one-device "strategy" of a backend without `tf.distribute`."""

    num_replicas_in_sync = 1

    def scope(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


def prepare_strategies(configs: list[RunConfig]) -> None:
    """Create the multi-worker strategy early, if one is asked for (TensorFlow only)."""
    from tuilab.backend import backend_name

    if backend_name() == "tensorflow" and uses_multi_worker(configs):
        _multi_worker()


def is_chief() -> bool:
    """False only for a non-chief worker of a `TF_CONFIG` cluster (it must not write the store)."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = config.get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    has_chief = bool(config.get("cluster", {}).get("chief"))
    return task.get("type") == "worker" and task.get("index", 0) == 0 and not has_chief


def make_strategy(run: RunConfig) -> Any:
    """The `tf.distribute` strategy a run asks for.

    "default" is the single-device strategy; "mirrored" mirrors over the box's GPUs (or the
    given devices); "multi_worker" reads its cluster from `TF_CONFIG`; "auto" picks mirrored
    when more than one GPU is visible.
    """
    from tuilab.backend import backend_name

    if backend_name() != "tensorflow":
        return SingleDevice()
    import tensorflow as tf

    kind = run.strategy
    if kind == "auto":
        many = len(tf.config.list_physical_devices("GPU")) > 1
        kind = "mirrored" if many or run.devices else "default"
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices=run.devices)
    if kind == "multi_worker":
        return _multi_worker()
    return tf.distribute.get_strategy()


def strategy_name(strategy: Any) -> str:
    """A short name: default, mirrored, multi_worker."""
    name = type(strategy).__name__
    return {
        "MirroredStrategy": "mirrored",
        "MultiWorkerMirroredStrategy": "multi_worker",
        "CollectiveAllReduceStrategy": "multi_worker",
        "_DefaultDistributionStrategy": "default",
        "SingleDevice": "default",
    }.get(name, name)
