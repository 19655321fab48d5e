"""Import TensorFlow/Keras lazily and quietly, once, with tuilab's process-wide settings."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from functools import cache
from typing import Any


@contextlib.contextmanager
def stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null (TensorFlow's C++ start-up chatter)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    sys.stderr.flush()
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


@cache
def import_keras() -> Any:
    """Import TensorFlow and Keras 3 once; returns the `keras` module.

    Keeps TensorFlow's C++ logs out of view, routes Keras's own prints (progress bars,
    ReduceLROnPlateau messages) to logging instead of a terminal tuilab may own, and turns
    GPU memory growth on so a lab shares its box.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with stderr_silenced():
        import keras
        import tensorflow as tf
    keras.config.disable_interactive_logging()
    tf.get_logger().setLevel("ERROR")
    for gpu in tf.config.list_physical_devices("GPU"):
        with contextlib.suppress(RuntimeError, ValueError):
            tf.config.experimental.set_memory_growth(gpu, True)
    return keras


def device_description() -> dict[str, Any]:
    """TensorFlow version and the devices it sees (GPU names when there are any)."""
    import_keras()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return {
        "tensorflow": tf.__version__,
        "keras": __import__("keras").__version__,
        "device": ", ".join(names) if names else "CPU",
        "gpus": names,
        "cpus": os.cpu_count() or 1,
    }


def learning_rate_of(optimizer: Any) -> float:
    """The optimizer's current learning rate as a float (also for mirrored variables)."""
    keras = import_keras()
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def follows_schedule(optimizer: Any) -> bool:
    """True when the optimizer's learning rate is a `LearningRateSchedule` (not settable)."""
    schedule = getattr(optimizer, "_learning_rate", None)
    return isinstance(schedule, import_keras().optimizers.schedules.LearningRateSchedule)
