"""tf.data pipelines: shuffle, batch, prefetch, with autotune off (it stalls epoch starts).

The training order of an epoch is a function of the seed and the epoch number alone, never
of how many epochs this process has iterated: a run resumed at epoch k sees exactly the
batches the uninterrupted run saw at epoch k. `EpochOrder` holds the epoch number (a
variable the pipeline reads when an epoch's iterator starts) and `EpochOrder.callback()`
sets it at each epoch's beginning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tuilab.backend import import_keras

if TYPE_CHECKING:
    import tensorflow as tf

SEED_STRIDE = 1_000_003
"""Epoch e of seed s shuffles with seed `s * SEED_STRIDE + e` (distinct for every pair)."""


class EpochOrder:
    """The epoch number the training pipeline shuffles for (a TensorFlow variable)."""

    def __init__(self) -> None:
        import tensorflow as tf

        self.variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="tuilab_epoch")

    def callback(self) -> Any:
        """A Keras callback that sets the epoch before each epoch's iterator is made."""
        variable = self.variable

        class SetEpoch(import_keras().callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                variable.assign(epoch)

        return SetEpoch()


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    shuffle_buffer: int | None = None,
    order: EpochOrder | None = None,
) -> tf.data.Dataset:
    """A batched, prefetched dataset over in-memory arrays (one epoch per iteration).

    With `shuffle`, each epoch is shuffled with a seed made of `seed` and the epoch number in
    `order` (a fresh `EpochOrder` at epoch 0 when none is given).

    tf.data's autotune is disabled: with it, Keras's per-epoch iterators waited 15-23 s on
    the autotune thread at every epoch boundary (see shared/KERAS_NOTES.md).
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        buffer = min(shuffle_buffer or len(x), len(x))
        epoch = (order or EpochOrder()).variable
        base = dataset

        def one_epoch(_: tf.Tensor) -> tf.data.Dataset:
            epoch_seed = tf.constant(seed, tf.int64) * SEED_STRIDE + epoch.read_value()
            return base.shuffle(buffer, seed=epoch_seed, reshuffle_each_iteration=False)

        dataset = tf.data.Dataset.range(1).flat_map(one_epoch)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(x)))
    dataset = dataset.batch(batch_size).prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
