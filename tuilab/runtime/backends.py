"""Which Keras backend a scenario trains on, and what tuilab can do on each.

The backend is the process's (`KERAS_BACKEND`, Keras's config file, else TensorFlow) unless the
scenario names one in `[run] backend`; a resumed run keeps the backend it started on. Keras
fixes its backend when first imported, so the choice is made before anything imports Keras.
Features a backend lacks are refused by `validate` with the reason, before training: JAX
spreads a trial over one host's devices with `keras.distribution` (`runtime.distribute`) but has
no TF_CONFIG cluster; PyTorch trains one device.
"""

from __future__ import annotations

from typing import Any

from tuilab.backend import BACKEND_LABELS, requested_backend, select_backend
from tuilab.errors import Problem, ScenarioError
from tuilab.scenario.loader import Scenario


def scenario_backend(scenario: Scenario, stored: str | None = None) -> str:
    """The backend `scenario` trains on: its `[run] backend` (one for the whole run), else the
    backend a resumed run started on (`stored`), else the process's.

    Raises:
        ScenarioError: variants name different backends.
    """
    runs = [getattr(v, "run", None) for v in scenario.variants.values()]  # a playground: none
    asked = {run.backend for run in runs if run is not None and run.backend}
    if len(asked) > 1:
        raise ScenarioError(
            scenario.path,
            [
                Problem(
                    f"variants ask for different Keras backends ({', '.join(sorted(asked))})",
                    "run.backend",
                    hint="one process trains on one backend: set it in the top-level [run] table",
                )
            ],
        )
    return asked.pop() if asked else stored or requested_backend()


def use_scenario_backend(scenario: Scenario, stored: str | None = None) -> str:
    """Select the scenario's backend for this process (before Keras is imported).

    Raises:
        ScenarioError: variants disagree.
        BackendError: the backend is not installed, or Keras already runs on another one.
    """
    return select_backend(scenario_backend(scenario, stored))


def backend_problems(scenario: Scenario, backend: str) -> list[Problem]:
    """What the scenario asks that `backend` cannot do (nothing on TensorFlow)."""
    if backend == "tensorflow" or scenario.kind == "descent":
        return []
    label = BACKEND_LABELS.get(backend, backend)
    problems: list[Problem] = []

    def refuse(variant: str, key: tuple[str, ...], message: str, hint: str) -> None:
        problem = scenario.problem(variant, key, message, hint)
        if problem not in problems:
            problems.append(problem)

    for name, config in scenario.variants.items():
        run = config.run
        if run.strategy == "multi_worker":
            refuse(
                name,
                ("run", "strategy"),
                f"strategy 'multi_worker' is TensorFlow's tf.distribute (TF_CONFIG clusters); "
                f"{label} has no such strategy in tuilab",
                'use strategy = "mirrored" on JAX (one host\'s devices), or the tensorflow backend'
                if backend == "jax"
                else "use the tensorflow backend",
            )
        elif backend != "jax" and (run.strategy == "mirrored" or run.devices):
            what = "strategy 'mirrored'" if run.strategy == "mirrored" else "a devices list"
            refuse(
                name,
                ("run", "devices" if run.devices else "strategy"),
                f"{what} spreads a trial over devices; tuilab trains one device on {label}",
                "use the jax backend (keras.distribution) or the tensorflow backend",
            )
        steps = config.fit.steps_per_execution
        if backend == "torch" and steps != "auto" and steps > 1:
            refuse(
                name,
                ("fit", "steps_per_execution"),
                "Keras on PyTorch runs one step per call",
                'set steps_per_execution = 1 or "auto"',
            )
        for index, callback in enumerate(config.callbacks):
            if callback.get("type") == "TensorBoard":
                refuse(
                    name,
                    ("callbacks", str(index)),
                    "Keras's TensorBoard callback needs TensorFlow",
                    "remove it: tuilab writes TensorBoard logs itself in "
                    "variants/<trial>/tensorboard/ on every backend",
                )
    return problems


def stored_backend(events: list[Any]) -> str | None:
    """The backend a stored run started on (older runs: TensorFlow), from its first event."""
    for event in events:
        device = getattr(event, "device", None)
        if isinstance(device, dict):
            return str(device.get("backend", "tensorflow"))
    return None
