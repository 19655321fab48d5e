"""A scenario rebuilt from a run's `resolved.json` (what `tuilab resume` trains again).

The run folder's own record is used, not the scenario file it came from: that file may have
changed or gone since. The record is untrusted input (runs are copied between machines), so
every variant goes through the same schema as a scenario file, and `check_scenario` after it;
and through the same bounds: at most `MAX_VARIANTS` variants (counted before any is read) making
at most `MAX_TRIALS` trials with their repeats.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tuilab.errors import Problem, ScenarioError
from tuilab.scenario.bounds import MAX_TRIALS, MAX_VARIANTS, count_trials
from tuilab.scenario.loader import VARIANT_NAME, Scenario
from tuilab.scenario.schema import ScenarioMeta, VariantConfig
from tuilab.scenario.sweep_record import SWEEP_NAME, SweepInfo


def scenario_from_resolved(document: Any, source: Path) -> Scenario:
    """The scenario a run trained, from its `resolved.json` document read from `source`.

    Raises:
        ScenarioError: the document is not a resolved scenario, naming what is wrong.
    """
    variants = document.get("variants") if isinstance(document, dict) else None
    if not isinstance(variants, dict) or not variants:
        raise ScenarioError(source, [Problem("has no table of resolved variants", "variants")])
    if len(variants) > MAX_VARIANTS:
        message = f"has {len(variants):,} variants; at most {MAX_VARIANTS:,}"
        raise ScenarioError(source, [Problem(message, "variants")])
    path = document.get("path")
    overrides = document.get("overrides", [])
    if not isinstance(path, str) or not path:
        raise ScenarioError(source, [Problem("must name the scenario file it came from", "path")])
    if not isinstance(overrides, list) or not all(isinstance(o, str) for o in overrides):
        raise ScenarioError(source, [Problem("must be a list of --set items", "overrides")])
    sweep = None
    if document.get("sweep") is not None:
        try:
            sweep = SweepInfo.from_document(document["sweep"])
        except ValueError as exc:
            raise ScenarioError(source, [Problem(str(exc), "sweep")]) from None
    meta: ScenarioMeta | None = None
    configs: dict[str, VariantConfig] = {}
    resolved: dict[str, dict[str, Any]] = {}
    for name, table in variants.items():
        where = f"variants.{name}"
        named = VARIANT_NAME.fullmatch(name) or (sweep and SWEEP_NAME.fullmatch(name))
        if not named or not isinstance(table, dict):
            raise ScenarioError(source, [Problem("is not a variant name and table", where)])
        body = dict(table)
        raw_meta = body.pop("scenario", {})
        try:
            meta = meta or ScenarioMeta.model_validate(raw_meta)
            configs[name] = VariantConfig.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(part) for part in (where, *first["loc"]))
            raise ScenarioError(source, [Problem(first["msg"], key)]) from None
        resolved[name] = body
    if count_trials(configs) > MAX_TRIALS:
        trials = count_trials(configs)
        message = f"make {trials:,} trials with their repeats; at most {MAX_TRIALS:,}"
        raise ScenarioError(source, [Problem(message, "variants")])
    if sweep is not None:
        sweep = sweep.narrowed([name for name in configs if name in sweep.trials])
    meta = meta or ScenarioMeta()
    return Scenario(Path(path), meta, configs, resolved, tuple(overrides), sweep=sweep)
