"""Training input: tf.data on TensorFlow, a `keras.utils.PyDataset` over arrays elsewhere.

The training order of an epoch is a function of the seed and the epoch number alone, never
of how many epochs this process has iterated: a run resumed at epoch k sees exactly the
batches the uninterrupted run saw at epoch k. `EpochOrder` holds the epoch number (read when
an epoch's iterator starts) and `EpochOrder.callback()` sets it at each epoch's beginning.

On TensorFlow the pipeline is tf.data (shuffle, batch, prefetch, autotune off: it stalls epoch
starts). On jax and torch it is `ArrayBatches`, a `PyDataset` that never imports TensorFlow: it
permutes the arrays with numpy's `default_rng(seed * SEED_STRIDE + epoch)` in `on_epoch_begin`.
Both keep the same batch size and epoch length (the last, partial batch included), but the
orders differ (numpy's generator is not TensorFlow's), so runs compare within one backend only.
Over several JAX devices (`replicas` > 1) the last batch is trimmed to a multiple of the
device count, as JAX shards every batch evenly.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from tuilab.backend import import_keras

if TYPE_CHECKING:
    import tensorflow as tf

SEED_STRIDE = 1_000_003
"""Epoch e of seed s shuffles with seed `s * SEED_STRIDE + e` (distinct for every pair)."""
TF_SEED_MODULUS = 2**31 - 1
"""TensorFlow reduces seeds modulo this (`random_seed._truncate_seed`)."""
ZERO_SEED_STAND_IN = 0x5EED
"""The graph seed tf.data's shuffle sees when TensorFlow's global seed reduces to 0 (scenario
seed 0 or 2**31 - 1).

TensorFlow's `get_seed` compares (graph seed, op seed) with (0, 0) in Python; with a graph
seed of 0 that compares the symbolic per-epoch seed, which raises, and every trial failed."""


def steps_per_epoch(samples: int, batch_size: int, replicas: int = 1) -> int:
    """Training steps in one epoch (the last batch may be partial).

    Over several JAX devices the last batch keeps a multiple of `replicas` samples; one with
    fewer is dropped (`ArrayBatches`).
    """
    rest = samples % batch_size // replicas * replicas
    return samples // batch_size + (1 if rest else 0)


def _on_tensorflow() -> bool:
    return import_keras().backend.backend() == "tensorflow"


class EpochOrder:
    """The epoch number the training pipeline shuffles for.

    `epoch` is a plain int on every backend; on TensorFlow `variable` mirrors it in a
    `tf.Variable` that the tf.data pipeline reads (None on other backends).
    """

    def __init__(self) -> None:
        self.epoch = 0
        self.variable: Any = None
        if _on_tensorflow():
            import tensorflow as tf

            self.variable = tf.Variable(0, dtype=tf.int64, trainable=False, name="tuilab_epoch")

    def set(self, epoch: int) -> None:
        """Make `epoch` the epoch the next iterator shuffles for."""
        self.epoch = int(epoch)
        if self.variable is not None:
            self.variable.assign(self.epoch)

    def callback(self) -> Any:
        """A Keras callback that sets the epoch before each epoch's iterator is made."""
        order = self

        class SetEpoch(import_keras().callbacks.Callback):
            def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                order.set(epoch)

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
    replicas: int = 1,
) -> Any:
    """The batched training or validation input over in-memory arrays (one epoch per pass).

    With `shuffle`, each epoch is shuffled with a seed made of `seed` and the epoch number in
    `order` (a fresh `EpochOrder` at epoch 0 when none is given). Pass it to `fit` with
    `shuffle=False`. Returns a `tf.data.Dataset` on TensorFlow, an `ArrayBatches` elsewhere
    (whose batches hold multiples of `replicas` samples).

    tf.data's autotune is disabled: with it, Keras's per-epoch iterators waited 15-23 s on
    the autotune thread at every epoch boundary (see shared/KERAS_NOTES.md).
    """
    if not _on_tensorflow():
        return _array_batches_class()(
            x,
            y,
            batch_size,
            shuffle=shuffle,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            order=order or EpochOrder(),
            replicas=replicas,
        )
    return _tf_dataset(x, y, batch_size, shuffle, seed, shuffle_buffer, order)


def _tf_dataset(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    shuffle: bool,
    seed: int,
    shuffle_buffer: int | None,
    order: EpochOrder | None,
) -> tf.data.Dataset:
    """The tf.data pipeline (unchanged: TensorFlow runs keep their exact batch orders)."""
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        buffer = min(shuffle_buffer or len(x), len(x))
        epoch = (order or EpochOrder()).variable
        base = dataset

        def one_epoch(_: tf.Tensor) -> tf.data.Dataset:
            graph_seed = tf.compat.v1.get_default_graph().seed  # this traced function's graph
            if graph_seed is not None and graph_seed % TF_SEED_MODULUS == 0:
                tf.compat.v1.set_random_seed(ZERO_SEED_STAND_IN)
            epoch_seed = tf.constant(seed, tf.int64) * SEED_STRIDE + epoch.read_value()
            return base.shuffle(buffer, seed=epoch_seed, reshuffle_each_iteration=False)

        dataset = tf.data.Dataset.range(1).flat_map(one_epoch)
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(x)))
    dataset = dataset.batch(batch_size).prefetch(2)
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def epoch_permutation(n: int, seed: int, epoch: int, buffer: int | None = None) -> np.ndarray:
    """The sample order of `epoch` for `seed` off TensorFlow (indices into the arrays).

    A full shuffle when `buffer` is None or at least `n`. A smaller `buffer` emulates
    tf.data's windowed shuffle: a buffer holds the next `buffer` samples in input order,
    each output is drawn uniformly from it and its slot refilled with the next input sample,
    and the buffer drains at the end. Same semantics as `Dataset.shuffle(buffer)` (a sample
    moves at most about `buffer` places earlier), not the same order.
    """
    rng = np.random.default_rng(seed * SEED_STRIDE + epoch)
    if buffer is None or buffer >= n:
        return rng.permutation(n)
    sizes = np.minimum(buffer, n - np.arange(n))  # the buffer's fill at each draw
    draws = (rng.random(n) * sizes).astype(np.int64).tolist()
    window = list(range(buffer))
    following = buffer
    out = []
    for slot in draws:
        out.append(window[slot])
        if following < n:
            window[slot] = following
            following += 1
        else:
            window[slot] = window[-1]
            window.pop()
    return np.asarray(out, dtype=np.int64)


@cache
def _array_batches_class() -> type:
    """`ArrayBatches`, made on first use (it subclasses Keras's PyDataset)."""
    keras = import_keras()

    class ArrayBatches(keras.utils.PyDataset):
        """Batches of in-memory arrays in a (seed, epoch)-determined order; no TensorFlow.

        One worker, no multiprocessing: batches are sliced lazily, in order, on the training
        thread. The permutation is made in `on_epoch_begin`, which Keras calls after the
        callbacks' `on_epoch_begin` (so after `EpochOrder` is set).
        """

        def __init__(
            self,
            x: np.ndarray,
            y: np.ndarray,
            batch_size: int,
            *,
            shuffle: bool,
            seed: int,
            shuffle_buffer: int | None,
            order: EpochOrder,
            replicas: int = 1,
        ) -> None:
            super().__init__(workers=1, use_multiprocessing=False)
            if len(x) != len(y):
                raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
            self.x, self.y = x, y
            self.batch_size = int(batch_size)
            self.replicas = int(replicas)
            self.shuffle, self.seed, self.shuffle_buffer = shuffle, seed, shuffle_buffer
            self.order = order
            self.indices: np.ndarray | None = None
            self._epoch: int | None = None
            self.on_epoch_begin()

        def __len__(self) -> int:
            return steps_per_epoch(len(self.x), self.batch_size, self.replicas)

        def on_epoch_begin(self) -> None:
            """Compute this epoch's order (once per epoch number)."""
            if self.shuffle and self._epoch != self.order.epoch:
                self._epoch = self.order.epoch
                self.indices = epoch_permutation(
                    len(self.x), self.seed, self._epoch, self.shuffle_buffer
                )

        def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
            if not 0 <= index < len(self):
                raise IndexError(f"batch {index} of {len(self)}")
            start = index * self.batch_size
            stop = min(start + self.batch_size, len(self.x))
            stop -= (stop - start) % self.replicas  # JAX shards a batch evenly over devices
            if self.indices is None:
                return self.x[start:stop], self.y[start:stop]
            chosen = self.indices[start:stop]
            return self.x[chosen], self.y[chosen]

    return ArrayBatches
