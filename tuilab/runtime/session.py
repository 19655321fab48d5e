"""Prepare a run before any training: validate, load data, open the store. Shared by the
headless command and the app, so both fail the same way on bad input (nothing stored)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuilab.runtime.control import RunControl


@dataclass
class RunRequest:
    """What the user asked to run."""

    scenario: Path
    variants: list[str] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    runs_dir: Path = Path("runs")
    json: bool = False
    store: bool = True


def prepare_run(request: RunRequest, control: RunControl | None = None) -> tuple[Any, Any]:
    """Validate the scenario, load its data and open the run store.

    Returns:
        The runner (not started; its sink still to be set) and the store (or None).

    Raises:
        TuilabError: bad scenario, missing data, unwritable runs folder: nothing is stored.
    """
    from tuilab.model.check import check_scenario
    from tuilab.runtime.distribute import is_chief, prepare_strategies
    from tuilab.runtime.runner import Runner
    from tuilab.runtime.store import RunStore
    from tuilab.scenario import load_scenario

    scenario = load_scenario(request.scenario, request.overrides).select(request.variants)
    prepare_strategies([v.run for v in scenario.variants.values()])
    check_scenario(scenario)
    runner = Runner(scenario, sink=lambda event: None, control=control)
    runner.preload()
    writes = request.store and is_chief()  # in a cluster, only the chief writes the run store
    store = RunStore.create(request.runs_dir, scenario) if writes else None
    if store:
        runner.artifacts = store.folder
        runner.run_dir = str(store.folder)
    return runner, store
