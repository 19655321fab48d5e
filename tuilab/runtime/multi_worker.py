"""Make Keras 3's `fit` work under a real multi-worker `MultiWorkerMirroredStrategy`.

Keras 3 (up to at least 3.15 with TensorFlow 2.21) cannot train with a cluster of two or more
workers (tensorflow/tensorflow#72388): before the first step it MEAN-reduces the first data
batch across workers (labels included), and after every step it reduces each scalar metric
with `strategy.reduce("MEAN", value, axis=0)`, which fails on a 0-d tensor ("Invalid
reduction dimension 0"). The adaptation here keeps TensorFlow's strategy doing all the work
and changes only those two spots, on the model instance, so a saved model stays a plain
`Sequential`:

- the model's state (layers, loss, metrics, optimizer) is built up front from one local
  batch, so Keras skips its cross-worker reduction of the data;
- train and test steps return each log as a 1-element vector, which the same axis-0 MEAN
  reduction turns back into one scalar, averaged over the workers.

tests/test_distribute.py trains two real worker processes on 127.0.0.1 through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def in_cluster(strategy: Any) -> bool:
    """True when `strategy` is a multi-worker strategy with more than one task."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return False
    spec = resolver.cluster_spec()
    return sum(spec.num_tasks(job) for job in spec.jobs) > 1


def _as_vectors(step: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    """Wrap a train or test step so that each log it returns has shape (1,)."""
    import tensorflow as tf

    def vector_step(data: Any) -> dict[str, Any]:
        return {name: tf.reshape(value, [1]) for name, value in step(data).items()}

    return vector_step


def adapt_for_cluster(model: Any, strategy: Any, sample: tuple[Any, Any]) -> None:
    """Prepare a compiled `model` for `fit`/`evaluate` in a cluster; `sample` is a local batch."""
    with strategy.scope():
        model._symbolic_build(data_batch=(*sample, None))  # built here: no reduction of data
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    model.train_step = _as_vectors(model.train_step)
    model.test_step = _as_vectors(model.test_step)
