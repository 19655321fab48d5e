"""How many trials train at once, and what each worker process gets: a GPU or a share of cores.

`[run] parallel` and `[run] executor` describe the whole run, so every variant must agree on
them (a sweep's trials always do). On a box with GPUs each worker sees one GPU of its own
(`CUDA_VISIBLE_DEVICES`), round-robin when there are more workers than GPUs; on CPUs the
cores are shared out (TensorFlow's intra-op threads). The coordinating process hides the GPUs
from its own TensorFlow, so validation there does not take memory the workers need.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

from tuilab.errors import Problem, ScenarioError
from tuilab.scenario.loader import Scenario


@dataclass(frozen=True)
class Execution:
    """How a run trains its trials: `parallel` at once, on `executor` ("local" or "ray")."""

    parallel: int = 1
    executor: str = "local"

    @property
    def in_workers(self) -> bool:
        """True when trials train in worker processes rather than in this one."""
        return self.parallel > 1 or self.executor != "local"


@dataclass(frozen=True)
class Slot:
    """One worker process's share of the machine.

    Attributes:
        index: The worker's number, from 0.
        gpu: The CUDA device id it alone sees, or "" for none (CPU only).
        threads: TensorFlow intra-op threads (0: TensorFlow decides, as on a GPU).
    """

    index: int
    gpu: str
    threads: int


def execution_of(
    scenario: Scenario, parallel: int | None = None, executor: str | None = None
) -> Execution:
    """The run's execution: the scenario's `[run]` settings, then the command line's.

    Raises:
        ScenarioError: variants disagree on `parallel` or `executor`, or an override is < 1.
    """
    settings = {(v.run.parallel, v.run.executor) for v in scenario.variants.values()}
    if len(settings) > 1:
        raise ScenarioError(
            scenario.path,
            [
                Problem(
                    "variants differ in [run] parallel or executor",
                    "run.parallel",
                    hint="they describe the whole run: set them in the top-level [run] table",
                )
            ],
        )
    wanted, where = next(iter(settings))
    if parallel is not None:
        if parallel < 1:
            raise ScenarioError(scenario.path, [Problem("must be 1 or more", "--parallel")])
        wanted = parallel
    count = (len(visible_gpus()) or 1) if wanted == "auto" else int(wanted)
    execution = Execution(count, executor or where)
    if execution.in_workers:
        _check_one_device_each(scenario)
    return execution


def _check_one_device_each(scenario: Scenario) -> None:
    """Trials in workers train on one device each: no strategy spanning devices or machines."""
    if os.environ.get("TF_CONFIG"):
        raise ScenarioError(
            scenario.path,
            [Problem("parallel trials cannot run as a TF_CONFIG cluster worker", "run.parallel")],
        )
    for name, variant in scenario.variants.items():
        run = variant.run
        if run.strategy in ("mirrored", "multi_worker") or run.devices:
            why = f"strategy {run.strategy!r}" if not run.devices else "a devices list"
            raise ScenarioError(
                scenario.path,
                [
                    Problem(
                        f"{name}: parallel trials train on one device each, not with {why}",
                        "run.parallel",
                        hint="set parallel = 1 to spread one trial over devices",
                    )
                ],
            )


def visible_gpus() -> list[str]:
    """CUDA ids of the GPUs this process may use (empty on a CPU-only box or build)."""
    from tuilab.backend import backend_name

    name = backend_name()
    if name == "tensorflow":
        import tensorflow as tf

        found = len(tf.config.list_physical_devices("GPU"))
    elif name == "jax":
        import jax

        found = sum(1 for device in jax.devices() if device.platform == "gpu")
    else:
        import torch

        found = torch.cuda.device_count() if torch.cuda.is_available() else 0
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [i.strip() for i in listed.split(",") if i.strip()] if listed else []
    return ids[:found] if ids else [str(i) for i in range(found)]


def plan_slots(workers: int, gpus: list[str] | None = None) -> list[Slot]:
    """One slot per worker: a GPU each when there are GPUs, else an equal share of cores."""
    gpus = visible_gpus() if gpus is None else gpus
    if gpus:
        return [Slot(i, gpus[i % len(gpus)], 0) for i in range(workers)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = max(1, (cores or 1) // workers)
    return [Slot(i, "", threads) for i in range(workers)]


def hide_gpus_here() -> None:
    """Keep this (coordinating) process's backend off the GPUs, when it is not too late."""
    from tuilab.backend import backend_name

    if backend_name() != "tensorflow":
        return  # JAX and PyTorch take a GPU only to compute on it; this process never does
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # too late after an earlier run in this app
        tf.config.set_visible_devices([], "GPU")


def configure_worker(slot: Slot) -> None:
    """In a fresh worker process, before its backend starts: see only its GPU, use its cores
    (TensorFlow and PyTorch; JAX's CPU thread pool is its own)."""
    from tuilab.backend import import_keras, requested_backend

    os.environ["CUDA_VISIBLE_DEVICES"] = slot.gpu  # "" hides every GPU
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if slot.threads:
        os.environ["OMP_NUM_THREADS"] = str(slot.threads)
    name = requested_backend()  # the coordinator's: workers inherit KERAS_BACKEND
    if name != "tensorflow":
        import_keras()  # JAX without preallocation: workers may share a GPU
        if name == "torch" and slot.threads:
            import torch

            torch.set_num_threads(slot.threads)
        return
    import tensorflow as tf

    if slot.threads:
        tf.config.threading.set_intra_op_parallelism_threads(slot.threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, slot.threads))
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)  # workers may share a GPU
