"""Distribution from `[run] strategy`: the backend's own (never a home-made scheduler).

On TensorFlow: `tf.distribute` strategies. On JAX, "mirrored" (and "auto" with several GPUs)
is Keras's `keras.distribution.DataParallel` over the local devices: the same synchronous data
parallelism (each global batch split over the devices, one all-reduced gradient). JAX needs
every sharded batch to split evenly, so a training epoch's last partial batch is trimmed to
a multiple of the device count (at most devices - 1 samples an epoch, different ones each
epoch) while validation, test evaluation and predictions run on the whole data undistributed
(exact, on replicated weights). PyTorch trains on one device (`SingleDevice`); what a backend
lacks is refused before training (`runtime.backends`).
"""

from __future__ import annotations

import contextlib
import json
import os
from functools import cache
from typing import Any

from tuilab.errors import TuilabError
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


class KerasDataParallel:
    """JAX's data parallelism for one trial: `keras.distribution.DataParallel` over `devices`.

    Build and compile in `scope()`; `fit` in `training()` with `callbacks()` among its
    callbacks (validation then runs undistributed); everything else runs undistributed.
    """

    def __init__(self, devices: list[str]) -> None:
        from keras import distribution

        self.devices = devices
        self.distribution = distribution.DataParallel(devices=devices)
        self.num_replicas_in_sync = len(devices)

    def scope(self) -> contextlib.AbstractContextManager[None]:
        return self.distribution.scope()

    def training(self) -> contextlib.AbstractContextManager[None]:
        return self.distribution.scope()

    def callbacks(self) -> list[Any]:
        """A callback that lifts the distribution while `fit` validates (uneven batches)."""
        from keras import callbacks, distribution

        parallel = self.distribution

        class UndistributedValidation(callbacks.Callback):
            def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
                distribution.set_distribution(None)

            def on_test_end(self, logs: dict[str, Any] | None = None) -> None:
                distribution.set_distribution(parallel)

        return [UndistributedValidation()]


def training_scope(strategy: Any) -> contextlib.AbstractContextManager[None]:
    """Where `fit` runs: the JAX data distribution, else nothing (tf.distribute needs none)."""
    if isinstance(strategy, KerasDataParallel):
        return strategy.training()
    return contextlib.nullcontext()


def even_split(strategy: Any) -> int:
    """How many devices each training batch must split evenly over (1 but for JAX's)."""
    return strategy.num_replicas_in_sync if isinstance(strategy, KerasDataParallel) else 1


def fit_callbacks(strategy: Any) -> list[Any]:
    """The callbacks a strategy needs in `fit` (JAX data parallelism: undistributed validation)."""
    return strategy.callbacks() if isinstance(strategy, KerasDataParallel) else []


@contextlib.contextmanager
def undistributed() -> Any:
    """Run a prediction inside `fit` (a confusion on request) on the whole batch, undistributed."""
    from tuilab.backend import backend_name

    if backend_name() != "jax":
        yield
        return
    from keras import distribution

    active = distribution.distribution()
    distribution.set_distribution(None)
    try:
        yield
    finally:
        distribution.set_distribution(active)


def jax_devices(run: RunConfig) -> list[str] | None:
    """The JAX devices a run spreads over (None: one device).

    "mirrored": the `devices` given (TensorFlow spellings such as "/gpu:0" accepted), else
    every device of the default platform; "auto": every GPU when there are several.

    Raises:
        TuilabError: a device that does not exist.
    """
    from keras import distribution

    available = distribution.list_devices()
    if run.strategy == "auto" and not run.devices:
        gpus = [d for d in available if d.startswith("gpu:")]
        return gpus if len(gpus) > 1 else None
    if run.strategy not in ("auto", "mirrored"):
        return None
    if not run.devices:
        return available
    wanted = [_jax_device_name(d) for d in run.devices]
    missing = [d for d, name in zip(run.devices, wanted, strict=True) if name not in available]
    if missing:
        raise TuilabError(
            f"no such device: {', '.join(missing)} (this JAX has {', '.join(available)})"
        )
    return wanted


def _jax_device_name(device: str) -> str:
    """ "/device:GPU:1", "/gpu:1", "GPU:1" -> "gpu:1" (Keras's JAX device names)."""
    parts = device.strip().lower().split(":")
    index = parts.pop() if parts[-1].isdigit() and len(parts) > 1 else "0"
    return f"{parts[-1].split('/')[-1]}:{index}"


def check_batch_split(batch_size: int, strategy: Any) -> None:
    """JAX shards each batch over the devices: the batch size must split evenly.

    Raises:
        TuilabError: it does not.
    """
    if isinstance(strategy, KerasDataParallel) and batch_size % strategy.num_replicas_in_sync:
        count = strategy.num_replicas_in_sync
        raise TuilabError(
            f"batch_size {batch_size} does not split evenly over {count} devices "
            f"({', '.join(strategy.devices)}): use a multiple of {count}"
        )


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
    """The strategy a run asks for on this backend.

    "default" is the single-device strategy; "mirrored" mirrors over the box's GPUs (or the
    given devices); "multi_worker" reads its cluster from `TF_CONFIG`; "auto" picks mirrored
    when more than one GPU is visible. On JAX "mirrored" is `KerasDataParallel`.

    Raises:
        TuilabError: a JAX device that does not exist.
    """
    from tuilab.backend import backend_name

    if backend_name() == "jax":
        devices = jax_devices(run)
        return KerasDataParallel(devices) if devices else SingleDevice()
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


def script_strategy(model: Any) -> tuple[str, int]:
    """The distribution a user's script trains `model` with, and its replica count: the model's
    `tf.distribute` strategy, or on JAX the `keras.distribution` the script set."""
    strategy = getattr(model, "distribute_strategy", None)
    if strategy is not None:
        return strategy_name(strategy), int(getattr(strategy, "num_replicas_in_sync", 1))
    from tuilab.backend import backend_name

    if backend_name() == "jax":
        from keras import distribution

        active = distribution.distribution()
        if active is not None:
            name = {"DataParallel": "data_parallel", "ModelParallel": "model_parallel"}
            kind = type(active).__name__
            mesh = active.device_mesh
            replicas = dict(zip(mesh.axis_names, mesh.shape, strict=True))[active.batch_dim_name]
            return name.get(kind, kind), int(replicas)
    return "default", 1


def strategy_name(strategy: Any) -> str:
    """A short name: default, mirrored, multi_worker."""
    name = type(strategy).__name__
    return {
        "MirroredStrategy": "mirrored",
        "MultiWorkerMirroredStrategy": "multi_worker",
        "CollectiveAllReduceStrategy": "multi_worker",
        "_DefaultDistributionStrategy": "default",
        "SingleDevice": "default",
        "KerasDataParallel": "data_parallel",
    }.get(name, name)
