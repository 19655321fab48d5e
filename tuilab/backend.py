"""Pick the Keras backend, import Keras lazily and quietly, once, with process-wide settings."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from functools import cache
from typing import Any

from tuilab.errors import TuilabError


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


BACKENDS = ("tensorflow", "jax", "torch")
"""The Keras backends tuilab trains on; TensorFlow is the default and the most complete."""
INSTALL_HINTS = {
    "tensorflow": "pip install tensorflow",
    "jax": "pip install 'tuilab[jax]' (jax and jaxlib; see the README for CUDA builds)",
    "torch": "pip install 'tuilab[torch]' (torch; see the README for CPU or CUDA builds)",
}
BACKEND_LABELS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
_MODULES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}


class BackendError(TuilabError):
    """The Keras backend asked for is unknown, not installed, or not the one already running."""


def _keras_json_backend() -> str | None:
    """The backend named in Keras's own config file (`$KERAS_HOME/keras.json`), if any."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as file:
            value = json.load(file).get("backend")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def requested_backend() -> str:
    """The backend Keras will use in this process: the running one once Keras is imported,
    else `KERAS_BACKEND`, else Keras's config file, else TensorFlow (as Keras itself decides)."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return str(keras.backend.backend())
    return os.environ.get("KERAS_BACKEND") or _keras_json_backend() or "tensorflow"


def backend_installed(name: str) -> bool:
    """True when the backend's packages can be imported here (checked without importing)."""
    return all(importlib.util.find_spec(module) is not None for module in _MODULES.get(name, ()))


def select_backend(name: str | None) -> str:
    """Make `name` (None: the process's `requested_backend`) the Keras backend of this process.

    Keras fixes its backend when it is first imported, so this must come before; asking again
    for the backend already running is fine.

    Raises:
        BackendError: an unknown name, a backend that is not installed, or Keras already
            running on another backend in this process.
    """
    name = name or requested_backend()
    if name not in BACKENDS:
        raise BackendError(f"unknown Keras backend {name!r}: use one of {', '.join(BACKENDS)}")
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        running = keras.backend.backend()
        if running != name:
            raise BackendError(
                f"this process already runs Keras on {running}; the scenario asks for {name}: "
                f"start tuilab again with KERAS_BACKEND={name}"
            )
        return name
    if not backend_installed(name):
        others = [b for b in BACKENDS if b != name and backend_installed(b)]
        instead = f"; installed here: {', '.join(others)} (KERAS_BACKEND=...)" if others else ""
        raise BackendError(
            f"the Keras backend {name} is not installed: {INSTALL_HINTS[name]}{instead}"
        )
    os.environ["KERAS_BACKEND"] = name
    return name


@cache
def import_keras() -> Any:
    """Import Keras 3 once, on the selected backend; returns the `keras` module.

    Keeps the backend's start-up chatter out of view, routes Keras's own prints (progress
    bars, ReduceLROnPlateau messages) to logging instead of a terminal tuilab may own, and lets
    a lab share its GPUs (TensorFlow's memory growth, JAX without preallocation). TensorFlow is
    imported only when it is the backend.

    Raises:
        BackendError: the backend is unknown or not installed.
    """
    name = select_backend(None)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if name == "jax":
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    with stderr_silenced():
        import keras

        if name == "tensorflow":
            import tensorflow as tf
    keras.config.disable_interactive_logging()
    if name != "tensorflow":
        _keras_without_tensorflow()
    if name == "tensorflow":
        tf.get_logger().setLevel("ERROR")
        for gpu in tf.config.list_physical_devices("GPU"):
            with contextlib.suppress(RuntimeError, ValueError):
                tf.config.experimental.set_memory_growth(gpu, True)
    return keras


def import_keras_quietly(backend: str | None = None) -> bool:
    """Import Keras now, on `backend`, through `import_keras` (its start-up chatter silenced),
    before code that imports it plainly: the checks of optimizer and metric tables look Keras
    classes up with `__import__("keras")`, which would print TensorFlow's C++ start-up lines.

    Returns:
        True when Keras is imported; False when it cannot be on `backend` (unknown, not
        installed, Keras already running another one), left for the caller's checks to report.
    """
    if "keras" in sys.modules:
        return True
    try:
        select_backend(backend)
        import_keras()
    except BackendError:
        return False
    return True


def _keras_without_tensorflow() -> None:
    """Tell Keras that TensorFlow is absent, so that it does not import an installed one
    off TensorFlow: Keras probes `tf.available` (importing TensorFlow, seconds and memory)
    when it saves a model or seeds its generators, for `tf.data` inputs tuilab never uses there.
    Its lazy module holds that answer; a Keras without it is left alone."""
    from keras.src.utils import module_utils

    for name in ("tensorflow", "gfile"):  # the gfile one is `tensorflow.io.gfile`
        lazy = getattr(module_utils, name, None)
        if getattr(lazy, "module", "") is None and hasattr(lazy, "_available"):
            lazy._available = False


def seed_everything(seed: int) -> None:
    """`keras.utils.set_random_seed` without its TensorFlow import off TensorFlow: Python,
    NumPy, Keras's global seed generator and, on PyTorch, torch's own generator."""
    keras = import_keras()
    if keras.backend.backend() == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    import random

    import numpy as np
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    global_state.set_global_attribute("global_random_seed", seed)
    global_state.set_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if keras.backend.backend() == "torch":
        import torch

        torch.manual_seed(seed)


def backend_name() -> str:
    """The running Keras backend (imports Keras)."""
    return str(import_keras().backend.backend())


def compiler_name(backend: str) -> str:
    """What Keras's `jit_compile=True` compiles with on `backend`."""
    return "torch.compile" if backend == "torch" else "XLA"


def _gpu_names(name: str) -> list[str]:
    if name == "tensorflow":
        import tensorflow as tf

        return [
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")
        ]
    if name == "jax":
        import jax

        return [d.device_kind for d in jax.devices() if d.platform == "gpu"]
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return [torch.cuda.get_device_name(i) for i in range(count)]


def device_description() -> dict[str, Any]:
    """The backend, its version and the devices it sees (GPU names when there are any)."""
    keras = import_keras()
    name = keras.backend.backend()
    module = __import__(name)
    names = _gpu_names(name)
    found: dict[str, Any] = {
        "backend": name,
        "backend_version": str(getattr(module, "__version__", "?")),
        "keras": keras.__version__,
        "device": ", ".join(names) if names else "CPU",
        "gpus": names,
        "cpus": os.cpu_count() or 1,
    }
    if name == "tensorflow":
        found["tensorflow"] = found["backend_version"]
    return found


def backend_text(device: dict[str, Any]) -> str:
    """`TensorFlow 2.21.0`, `JAX 0.10.2`: a stored run's backend (older runs: TensorFlow)."""
    name = str(device.get("backend", "tensorflow"))
    version = device.get("backend_version", device.get("tensorflow", "?"))
    return f"{BACKEND_LABELS.get(name, name)} {version}"


def learning_rate_of(optimizer: Any) -> float:
    """The optimizer's current learning rate as a float (also for mirrored variables)."""
    keras = import_keras()
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def follows_schedule(optimizer: Any) -> bool:
    """True when the optimizer's learning rate is a `LearningRateSchedule` (not settable)."""
    schedule = getattr(optimizer, "_learning_rate", None)
    return isinstance(schedule, import_keras().optimizers.schedules.LearningRateSchedule)
