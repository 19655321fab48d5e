"""tf.data pipelines: shuffle, batch, prefetch, with autotune off (it stalls epoch starts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf


def make_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    shuffle_buffer: int | None = None,
) -> tf.data.Dataset:
    """A batched, prefetched dataset over in-memory arrays.

    tf.data's autotune is disabled: with it, Keras's per-epoch iterators waited 15-23 s on
    the autotune thread at every epoch boundary (see shared/KERAS_NOTES.md).
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        buffer = min(shuffle_buffer or len(x), len(x))
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size).prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
