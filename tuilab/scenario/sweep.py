"""Sweeps: a `[sweep]` table expands keys into variants, crossed with the scenario's variants.

```toml
[sweep]
method = "grid"                                   # or "random" (then samples = N, seed = S)
"compile.optimizer.learning_rate" = [1e-3, 1e-2]  # grid: a list of values
"fit.batch_size" = [32, 64]                       # random: a distribution (`sweep_laws`)
```

Keys are dotted exactly as `--set` takes them (`fit.batch_size = [...]` under `[sweep]` works
too), applied to each variant after it is merged, so a sweep value wins over the variant's own.
Two extensions over `--set`: a number indexes a list (`model.layers.0.units`), and a string
optimizer (`"adam"`) becomes its table (`{ type = "Adam" }`) when a key below it is swept.
Every expanded variant goes through the same schema as a scenario's own; the first one that
fails is reported by its values (`sweep adam[batch=0]: fit.batch_size: ...`). A random sweep
draws with numpy's `default_rng(seed)` (`seed` defaults to the scenario's) and never draws one
combination twice.
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tuilab.errors import Problem, ScenarioError
from tuilab.scenario.bounds import MAX_SWEEP_KEYS, MAX_TRIALS, count_trials
from tuilab.scenario.locate import KeyPath, find_line, render_path
from tuilab.scenario.merge import parse_override
from tuilab.scenario.problems import problems_from_validation, shown, suggest
from tuilab.scenario.schema import CompileConfig
from tuilab.scenario.sweep_laws import (
    MAX_VALUES,
    Law,
    LogUniform,
    SweepSettings,
    draw,
    is_law,
    law_model,
    law_name,
    read_law,
)
from tuilab.scenario.sweep_record import (
    SweepInfo,
    SweepPoint,
    identity,
    short_names,
    trial_name,
    value_labels,
)

MAX_KEYS = MAX_SWEEP_KEYS
RESERVED = ("method", "samples", "seed")
OPTIMIZER_CLASSES = {
    "adam": "Adam",
    "adamw": "AdamW",
    "sgd": "SGD",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "adamax": "Adamax",
    "nadam": "Nadam",
    "ftrl": "Ftrl",
    "lion": "Lion",
    "lamb": "Lamb",
    "adafactor": "Adafactor",
}
"""Keras's own names for its optimizers: `"adam"` becomes `{ type = "Adam" }` when swept into."""
DEFAULT_OPTIMIZER = CompileConfig.model_fields["optimizer"].default
WHOLE_TABLES = {
    "scenario": "[scenario] is shared by every trial (for several seeds use [run] repeats)",
    "variants": "a sweep crosses every variant: give the key without variants.NAME "
    "(--variant NAME trains only that variant's trials)",
    "sweep": "a sweep cannot sweep itself",
}
Found = list[tuple[KeyPath, str, str]]
"""Problems as (key path in the file, message, hint)."""


@dataclass
class SweepKey:
    """One swept key: dotted, as a path, where the file wrote it, and its values or law."""

    dotted: str
    path: tuple[str, ...]
    where: KeyPath
    values: list[Any] | None = None
    law: Law | None = None
    table: dict[str, Any] | None = None
    """The distribution table as written (checked against its model)."""


@dataclass
class SweepPlan:
    """The checked `[sweep]` table."""

    settings: SweepSettings
    keys: list[SweepKey]

    @property
    def size(self) -> int:
        """Combinations it makes (`samples` for a random sweep)."""
        if self.settings.method == "random":
            return self.settings.samples or 1
        return math.prod(len(key.values or []) for key in self.keys)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


def _key_problem(schema: type[BaseModel], path: tuple[str, ...]) -> tuple[str, str] | None:
    """Why `path` names no key of a variant (message, hint), or None when it may."""
    if path[0] in WHOLE_TABLES:
        return f"{path[0]}.* cannot be swept", WHOLE_TABLES[path[0]]
    model: type[BaseModel] | None = schema
    for index, part in enumerate(path):
        if model is None:
            return None  # a free-form table (a Keras class's arguments, a layer list)
        fields = model.model_fields
        if part not in fields:
            if model.model_config.get("extra") == "allow":
                return None
            above = ".".join(path[:index])
            where = f"in {above}" if above else "at the top of a variant"
            return f"no key {shown(part)} {where}", suggest(part, list(fields))
        annotation = fields[part].annotation
        members = [annotation, *getattr(annotation, "__args__", ())]
        model = next((m for m in members if isinstance(m, type) and issubclass(m, BaseModel)), None)
    return None


def _flatten(
    table: dict[str, Any], prefix: tuple[str, ...], where: KeyPath, out: dict[str, SweepKey]
) -> Found:
    """Collect the swept keys of a (nested) table; later keys win over earlier ones."""
    found: Found = []
    for raw, value in table.items():
        if not prefix and raw in RESERVED:
            continue
        at = (*where, raw)
        dotted = ".".join((*prefix, raw))
        try:
            path, _ = parse_override(f"{dotted}=0")
        except ValueError as exc:
            found.append((at, f"sweep key {shown(dotted)}: {exc}", ""))
            continue
        name = ".".join(path)
        out.pop(name, None)
        if is_law(value):
            out[name] = SweepKey(name, tuple(path), at, law=read_law(value), table=value)
        elif isinstance(value, dict) and value:
            found += _flatten(value, tuple(path), at, out)
        elif isinstance(value, list):
            out[name] = SweepKey(name, tuple(path), at, values=value)
        else:
            found.append(
                (
                    at,
                    f"give a list of values to sweep, got {shown(value)}",
                    f"e.g. {dotted} = [32, 64], or a distribution such as "
                    '{ log_uniform = [1e-4, 1e-1] } with method = "random"',
                )
            )
    return found


def read_sweep(table: Any, schema: type[BaseModel]) -> tuple[SweepPlan | None, Found]:
    """Check a `[sweep]` table: settings, keys, values and distributions; every problem."""
    if not isinstance(table, dict):
        return None, [(("sweep",), "must be a table", "write [sweep] and keys under it")]
    found: Found = []
    fixed = {k: v for k, v in table.items() if k in RESERVED}
    settings = SweepSettings()
    try:
        settings = SweepSettings.model_validate(fixed)
    except ValidationError as exc:
        for key, message, hint in problems_from_validation(exc, SweepSettings, fixed):
            found.append((("sweep", *key), message, hint))
    keys: dict[str, SweepKey] = {}
    found += _flatten(table, (), ("sweep",), keys)
    if not keys and not found:
        found.append((("sweep",), "has no keys to sweep", 'e.g. "fit.batch_size" = [32, 64]'))
    if len(keys) > MAX_KEYS:
        found.append((("sweep",), f"sweeps {len(keys)} keys; at most {MAX_KEYS}", ""))
    chosen = list(keys.values())[:MAX_KEYS]
    for key in chosen:
        found += _check_key(key, schema, settings.method)
    return (None if found else SweepPlan(settings, chosen)), found


def _check_key(key: SweepKey, schema: type[BaseModel], method: str) -> Found:
    found: Found = []
    wrong = _key_problem(schema, key.path)
    if wrong:
        found.append((key.where, wrong[0], wrong[1]))
    if key.table is not None and key.law is None:
        model = law_model(key.table)
        try:
            model.model_validate(key.table)
        except ValidationError as exc:
            for loc, message, hint in problems_from_validation(exc, model, key.table):
                found.append(((*key.where, *loc), message, hint))
    elif key.law is not None and method == "grid":
        found.append(
            (
                key.where,
                f"{law_name(key.law)} is a distribution, and a grid takes a list of values",
                'set method = "random" and samples = N to draw from distributions',
            )
        )
    values = key.values if key.values is not None else getattr(key.law, "choice", None)
    if values is not None:
        if not values:
            found.append((key.where, "is an empty list: give at least one value", ""))
        elif len(values) > MAX_VALUES:
            found.append((key.where, f"has {len(values):,} values; at most {MAX_VALUES:,}", ""))
        elif not all(_finite(v) for v in values):
            found.append((key.where, "holds nan or inf: sweep finite numbers", ""))
        elif len({identity(v) for v in values}) < len(values):
            twice = next(
                v for i, v in enumerate(values) if identity(v) in map(identity, values[:i])
            )
            found.append((key.where, f"lists {shown(twice)} twice: give each value once", ""))
    return found


def combinations(plan: SweepPlan, seed: int) -> list[tuple[Any, ...]]:
    """Every grid combination (first key slowest), or `samples` distinct random draws.

    A random sweep whose values allow fewer distinct combinations than `samples` (few
    choices) makes as many as it finds in 50 x `samples` draws.
    """
    if plan.settings.method == "grid":
        return list(itertools.product(*(key.values or [] for key in plan.keys)))
    import numpy

    rng = numpy.random.default_rng(plan.settings.seed if plan.settings.seed is not None else seed)
    wanted = plan.settings.samples or 1
    drawn: dict[str, tuple[Any, ...]] = {}
    for _ in range(wanted * 50):
        if len(drawn) == wanted:
            break
        values = tuple(draw(key.values, key.law, rng) for key in plan.keys)
        drawn.setdefault(identity(list(values)), values)
    return list(drawn.values())


def set_key(document: dict[str, Any], path: tuple[str, ...], value: Any) -> str | None:
    """Set a swept key in a merged variant; the reason it cannot be set, or None."""
    node: Any = document
    for index, part in enumerate(path):
        last = index == len(path) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                above = ".".join(path[:index])
                return f"{above} is a list of {len(node)} item(s): {part!r} is not an index of it"
            if last:
                node[int(part)] = copy.deepcopy(value)
                return None
            child = node[int(part)]
        else:
            if last:
                node[part] = copy.deepcopy(value)
                return None
            child = node.get(part)
            if path[: index + 1] == ("compile", "optimizer") and not isinstance(child, dict):
                child = DEFAULT_OPTIMIZER if child is None else child
                if isinstance(child, str):
                    child = node[part] = {"type": OPTIMIZER_CLASSES.get(child, child)}
            elif isinstance(child, str | int | float | bool):
                above = ".".join(path[: index + 1])
                return (
                    f"{above} is {shown(child)}, not a table: write it as a table to sweep "
                    f"its key {path[index + 1]!r}"
                )
            elif not isinstance(child, dict | list):
                child = node[part] = {}
        node = child
    return None


def expand(
    plan: SweepPlan, merged: dict[str, dict[str, Any]], schema: type[BaseModel], seed: int
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], SweepInfo, list[Problem]]:
    """Cross every variant with every combination and validate each, in that order.

    Returns:
        The expanded variants (validated), their resolved dicts, the sweep record, and the
        problems of the first combination that fails (empty when all pass).
    """
    combos = combinations(plan, seed)
    short = short_names([key.path for key in plan.keys])
    columns = [value_labels(list(column)) for column in zip(*combos, strict=True)]
    labels = list(zip(*columns, strict=True))
    variants: dict[str, Any] = {}
    resolved: dict[str, dict[str, Any]] = {}
    points: dict[str, SweepPoint] = {}
    for variant, base in merged.items():
        for values, shown_values in zip(combos, labels, strict=True):
            name = trial_name(variant, short, list(shown_values))
            if name in points:  # two cut names with one hash: never seen, but never merged
                problem = Problem("two trials would have one name", f"sweep {name[:80]}")
                return {}, {}, _record(plan, short, points, seed), [problem]
            document = copy.deepcopy(base)
            for key, value in zip(plan.keys, values, strict=True):
                reason = set_key(document, key.path, value)
                if reason:
                    return (
                        {},
                        {},
                        _record(plan, short, points, seed),
                        [Problem(reason, f"sweep {name}: {key.dotted}")],
                    )
            try:
                variants[name] = schema.model_validate(document)
            except ValidationError as exc:
                problems = [
                    Problem(message, f"sweep {name}: {render_path(key)}", None, hint)
                    for key, message, hint in problems_from_validation(exc, schema, document)
                ]
                return {}, {}, _record(plan, short, points, seed), problems
            resolved[name] = document
            points[name] = SweepPoint(variant, tuple(values), tuple(shown_values))
    return variants, resolved, _record(plan, short, points, seed), []


def _record(
    plan: SweepPlan, short: list[str], points: dict[str, SweepPoint], seed: int
) -> SweepInfo:
    random = plan.settings.method == "random"
    chosen_seed = plan.settings.seed if plan.settings.seed is not None else seed
    return SweepInfo(
        plan.settings.method,
        tuple(key.dotted for key in plan.keys),
        tuple(short),
        points,
        tuple(k.dotted for k in plan.keys if isinstance(k.law, LogUniform)),
        chosen_seed if random else None,
        plan.settings.samples if random else None,
    )


def apply_sweep(
    table: Any,
    merged: dict[str, dict[str, Any]],
    schema: type[BaseModel],
    seed: int,
    source: Path,
    lines: dict[KeyPath, int],
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], SweepInfo]:
    """Expand a scenario's `[sweep]` over its merged variants (name -> resolved dict).

    Returns:
        The expanded variants, their resolved dicts and the sweep record.

    Raises:
        ScenarioError: a bad table (every problem, at its line), too many trials, or the
            first combination that fails validation, named by its values.
    """
    plan, found = read_sweep(table, schema)
    if plan is not None and len(merged) * plan.size > MAX_TRIALS:
        size = len(merged) * plan.size
        found.append(
            (
                ("sweep",),
                f"makes {len(merged)} variant(s) x {plan.size:,} combination(s) = {size:,} "
                f"trials; at most {MAX_TRIALS:,}",
                "sweep fewer values (or draw fewer samples)",
            )
        )
    if found or plan is None:
        problems = [Problem(m, render_path(k), find_line(lines, k), h) for k, m, h in found]
        raise ScenarioError(source, problems)
    variants, resolved, info, bad = expand(plan, merged, schema, seed)
    line = find_line(lines, ("sweep",))
    if bad:
        raise ScenarioError(source, [replace(problem, line=line) for problem in bad])
    trials = count_trials(variants)
    if trials > MAX_TRIALS:
        message = f"makes {trials:,} trials with their repeats; at most {MAX_TRIALS:,}"
        raise ScenarioError(source, [Problem(message, "sweep", line, "fewer repeats or values")])
    return variants, resolved, info
