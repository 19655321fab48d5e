"""Check a whole scenario without training: every variant built, every problem reported at once.

Training scenarios are checked by `model.check.check_variant`, playground scenarios by building
their optimizer; this module sits above both so neither imports the other.
"""

from __future__ import annotations

import sys
from typing import Any

from tuilab.backend import backend_installed, requested_backend, select_backend
from tuilab.descent.run import make_descent_optimizer
from tuilab.errors import Problem, ScenarioError
from tuilab.model.builder import BuildError
from tuilab.model.check import check_variant
from tuilab.runtime.backends import backend_problems, scenario_backend
from tuilab.scenario.descent import DescentConfig
from tuilab.scenario.loader import Scenario


def check_descent(config: DescentConfig) -> list[BuildError]:
    """A playground variant's optimizer must be "gd" or a Keras optimizer with valid arguments."""
    try:
        make_descent_optimizer(config)
    except BuildError as exc:
        detail = exc.key[2:] if isinstance(config.optimizer, dict) else ()
        return [BuildError(("descent", "optimizer", *detail), exc.message, exc.hint)]
    return []


def _checked_backend(scenario: Scenario) -> str:
    """The scenario's backend, selected for this process when Keras is not yet imported.

    A process whose Keras already runs another backend (`validate` of many files) still checks
    the scenario, with its models built on the running backend.

    Raises:
        BackendError: the backend is unknown or not installed.
    """
    backend = scenario_backend(scenario)
    if backend != requested_backend() and "keras" in sys.modules:
        if not backend_installed(backend):
            select_backend(backend)  # raises, naming how to install it
        return backend
    return select_backend(backend)


def check_scenario(scenario: Scenario) -> dict[str, Any]:
    """Check every variant; return their built models or raise one `ScenarioError` for all.

    A sweep stops at its first bad combination, named by its values (the others would
    mostly repeat its problems).
    """
    backend = _checked_backend(scenario)
    problems: list[Problem] = list(backend_problems(scenario, backend))
    models = {}
    for name, config in scenario.variants.items():
        if scenario.kind == "descent":
            models[name], errors = None, check_descent(config.descent)
        else:
            models[name], errors = check_variant(config)
        for exc in errors:
            problem = scenario.problem(name, exc.key, exc.message, exc.hint)
            if problem not in problems:
                problems.append(problem)
        if problems and scenario.sweep is not None:
            break
    if problems:
        raise ScenarioError(scenario.path, problems)
    if scenario.kind != "descent":
        from tuilab.runtime.worker_slots import execution_of

        execution_of(scenario)  # [run] parallel and executor: one setting for the whole run
    return models
