"""TensorFlow distribution strategies from `[run] strategy` (never a home-made scheduler)."""

from __future__ import annotations

from typing import Any

from tuilab.scenario.schema import RunConfig


def make_strategy(run: RunConfig) -> Any:
    """The `tf.distribute` strategy a run asks for.

    "default" is the single-device strategy; "mirrored" mirrors over the box's GPUs (or the
    given devices); "multi_worker" reads its cluster from `TF_CONFIG`; "auto" picks mirrored
    when more than one GPU is visible.
    """
    from tuilab.runtime.tf_setup import import_keras

    import_keras()
    import tensorflow as tf

    kind = run.strategy
    if kind == "auto":
        many = len(tf.config.list_logical_devices("GPU")) > 1
        kind = "mirrored" if many or run.devices else "default"
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices=run.devices)
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def strategy_name(strategy: Any) -> str:
    """A short name: default, mirrored, multi_worker."""
    name = type(strategy).__name__
    return {
        "MirroredStrategy": "mirrored",
        "MultiWorkerMirroredStrategy": "multi_worker",
        "_DefaultDistributionStrategy": "default",
    }.get(name, name)
