"""Read a scenario file: TOML -> variants merged over the base -> validated pydantic models."""

from __future__ import annotations

import copy
import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tuilab.errors import Problem, ScenarioError
from tuilab.scenario.bounds import MAX_TRIALS, MAX_VARIANT_NAME, MAX_VARIANTS, count_trials
from tuilab.scenario.descent import DescentConfig, DescentVariant
from tuilab.scenario.locate import KeyPath, find_line, line_index, render_path
from tuilab.scenario.merge import Override, deep_merge, parse_overrides, set_path, shown_item
from tuilab.scenario.problems import problems_from_validation, shown, suggest
from tuilab.scenario.schema import (
    CompileConfig,
    DataConfig,
    FitConfig,
    ModelConfig,
    RunConfig,
    ScenarioMeta,
    VariantConfig,
)
from tuilab.scenario.source import MAX_FILE_BYTES, read_toml
from tuilab.scenario.sweep import apply_sweep
from tuilab.scenario.sweep_record import SweepInfo

__all__ = ["MAX_FILE_BYTES", "Scenario", "load_scenario", "read_toml", "resolved_document"]

TOP_LEVEL_KEYS = (
    "scenario",
    "data",
    "model",
    "compile",
    "fit",
    "callbacks",
    "run",
    "variants",
    "descent",
    "sweep",
)
VARIANT_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9_\-]{{0,{MAX_VARIANT_NAME - 1}}}")
"""Variant names: also run-folder names, and `<name>.r<k>` names repeats, so no dots."""
DEFAULT_VARIANT = "default"
DOCUMENT_TABLES = ("scenario", "variants", "sweep")
"""Tables of the file that are not part of a variant (a `--set` there changes the file)."""
MAX_PROBLEMS = 100
_SECTIONS: dict[str, type[BaseModel]] = {
    "scenario": ScenarioMeta,
    "data": DataConfig,
    "model": ModelConfig,
    "compile": CompileConfig,
    "fit": FitConfig,
    "run": RunConfig,
    "descent": DescentConfig,
}
"""The tables whose keys a misplaced top-level key may belong to."""


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: its metadata and every variant, fully resolved.

    Attributes:
        path: The file it came from.
        meta: The `[scenario]` table.
        variants: Variant name -> its resolved configuration, in file order.
        resolved: Variant name -> the resolved plain dict (what the run store saves).
        overrides: The `--set` items applied, as given (`--sweep` items as `sweep.KEY=[...]`).
        sweep: How a `[sweep]` expanded the variants (their names are then sweep names).
    """

    path: Path
    meta: ScenarioMeta
    variants: dict[str, Any]
    resolved: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    variant_tables: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)
    lines: dict[KeyPath, int] = field(default_factory=dict, compare=False, repr=False)
    sweep: SweepInfo | None = None

    def problem(self, variant: str, key: KeyPath, message: str, hint: str = "") -> Problem:
        """A `Problem` at `key` of `variant`, pointing into the variant's table when it set it.

        A sweep's variant is named in the key (`sweep adam[lr=0.1]: compile.optimizer`).
        """
        if self.sweep is not None and variant in self.sweep.trials:
            line = find_line(self.lines, ("sweep",))
            return Problem(message, f"sweep {variant}: {render_path(key)}", line, hint)
        table = self.variant_tables.get(variant, {})
        if any(_has_path(table, key[:end]) for end in range(len(key), 0, -1)):
            key = ("variants", variant, *key)
        return Problem(message, key=render_path(key), line=find_line(self.lines, key), hint=hint)

    @property
    def name(self) -> str:
        """The display name: `[scenario] name`, else the file's stem."""
        return self.meta.name or self.path.stem

    @property
    def kind(self) -> str:
        """`training` (data + model) or `descent` (the optimizer playground)."""
        first = next(iter(self.variants.values()), None)
        return "descent" if isinstance(first, DescentVariant) else "training"

    @property
    def stem(self) -> str:
        """The file name without extension; names the run-store folder."""
        return self.path.stem

    def select(self, names: list[str] | None) -> Scenario:
        """A copy with only the named variants; unknown names are a `ScenarioError`.

        In a sweep, a variant of the file names all the trials made from it.
        """
        if not names:
            return self
        unknown = [n for n in names if n not in self.variants]
        if self.sweep is not None:
            names, unknown = self.sweep.expand_names(names, list(self.variants))
        if unknown:
            raise ScenarioError(
                self.path,
                [
                    Problem(
                        f"no variant named {shown(n)}",
                        key="--variant",
                        hint=suggest(n, list(self.variants)),
                    )
                    for n in unknown
                ],
            )
        return Scenario(
            self.path,
            self.meta,
            {n: self.variants[n] for n in names},
            {n: self.resolved[n] for n in names},
            self.overrides,
            self.variant_tables,
            self.lines,
            self.sweep.narrowed(names) if self.sweep else None,
        )


def _get(document: Any, path: KeyPath) -> dict[str, Any]:
    """The table at `path`, or an empty one."""
    node = document
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else {}


def _has_path(document: Any, path: KeyPath) -> bool:
    node = document
    for part in path:
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                return False
        elif not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _blame(sets: list[Override], key: KeyPath, before: Any) -> Override | None:
    """The last `--set` that wrote `key`, a table above it, or created it.

    `before` is the data as the file gave it, at the same root as `key` and the sets' paths.
    """
    for item in reversed(sets):
        path = tuple(item.path)
        if key[: len(path)] == path:
            return item
        if path[: len(key)] == key and not _has_path(before, key):
            return item
    return None


def _home_hint(key: str) -> str:
    """For a stray top-level key: the table it belongs in, else the closest table name."""
    fields = {
        f"{section}.{name}": name
        for section, model in _SECTIONS.items()
        for name in model.model_fields
    }
    exact = [full for full, name in fields.items() if name.lower() == key.lower()]
    close = exact or difflib.get_close_matches(key[:100], list(fields.values()), n=1, cutoff=0.8)
    if not close:
        return suggest(key, list(TOP_LEVEL_KEYS))
    full = exact[0] if exact else next(f for f, n in fields.items() if n == close[0])
    case = "; names are case-sensitive" if exact and fields[full] != key else ""
    return f"did you mean {full!r}? it goes under [{full.split('.')[0]}]{case}"


class _Found:
    """Problems found so far, each once; one caused by a `--set` names it instead of a line."""

    def __init__(self, lines: dict[KeyPath, int]) -> None:
        self.lines = lines
        self.items: list[Problem] = []
        self._seen: set[tuple[str, str, int | None, str]] = set()
        self.stopped = False

    def add(
        self, key: KeyPath, message: str, hint: str = "", cause: Override | None = None
    ) -> None:
        """Record a problem at `key`: at its line, or at the `--set` item `cause`."""
        if cause is None:
            item = Problem(message, render_path(key), find_line(self.lines, key), hint)
        else:
            where = f"--set {shown_item(cause.text)}: {render_path(key)}"
            item = Problem(message, where, None, hint)
        seen = (item.message, item.key, item.line, item.hint)
        if seen not in self._seen:
            self._seen.add(seen)
            self.items.append(item)

    @property
    def full(self) -> bool:
        """Whether enough problems are known to stop looking for more."""
        return len(self.items) >= MAX_PROBLEMS

    def extend(self, items: list[Problem]) -> None:
        """Record problems made elsewhere (malformed `--set` items)."""
        self.items.extend(items)

    def raise_if_any(self, path: Path) -> None:
        """Raise a `ScenarioError` listing the problems (at most `MAX_PROBLEMS`), if any."""
        if not self.items:
            return
        items = self.items[:MAX_PROBLEMS]
        if len(self.items) > MAX_PROBLEMS:
            more = len(self.items) - MAX_PROBLEMS
            items.append(Problem(f"and {more:,} more problems", hint="fix these first"))
        if self.stopped:
            items.append(Problem("stopped checking here", hint="fix these first"))
        raise ScenarioError(path, items)


def _check_top_level(document: dict[str, Any], found: _Found) -> None:
    for key, value in document.items():
        if key in TOP_LEVEL_KEYS:
            continue
        if isinstance(value, dict) or (
            isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        ):
            found.add((key,), f"unknown table {shown(key)}", suggest(key, list(TOP_LEVEL_KEYS)))
        else:
            found.add((key,), f"unknown key {shown(key)}", _home_hint(key))


def _apply_document_sets(document: dict[str, Any], sets: list[Override], found: _Found) -> None:
    """Apply `--set scenario.*` and `--set variants.NAME.*` to the file's document."""
    named = document.get("variants")
    names = list(named) if isinstance(named, dict) else []
    for item in sets:
        if item.path[0] == "variants" and len(item.path) > 1:
            name = item.path[1]
            if name not in names and not (name == DEFAULT_VARIANT and not names):
                hint = suggest(name, names)
                found.add(("variants", name), f"no variant named {shown(name)}", hint, item)
                continue
        if item.path[0] in DOCUMENT_TABLES:
            if item.path[0] in document and not isinstance(document[item.path[0]], dict):
                continue  # the file's own error is reported, not hidden under the --set
            set_path(document, item.path, item.value)


def _check_variant_names(names: list[str], found: _Found) -> list[str]:
    """Report odd names and names that differ only in case; return the usable ones."""
    usable: list[str] = []
    lowered: dict[str, str] = {}
    for name in names:
        where: KeyPath = ("variants", name)
        if not VARIANT_NAME.fullmatch(name):
            found.add(
                where,
                f"variant name {ascii(name)[:70]} is not allowed: use 1 to 64 letters (A-Z, a-z),"
                " digits, '_' or '-', starting with a letter or digit",
                "a dot would clash with repeat names such as adam.r2"
                if VARIANT_NAME.fullmatch(name.replace(".", "_"))
                else "rename the table, e.g. [variants.bn_05]",
            )
            continue
        other = lowered.setdefault(name.lower(), name)
        if other != name:
            found.add(
                where,
                f"variant names {other!r} and {name!r} differ only in case",
                "their run folders would be one folder on macOS or Windows: rename one",
            )
            continue
        usable.append(name)
    return usable


def load_scenario(path: Path | str, overrides: list[str] | None = None) -> Scenario:
    """Load, merge and validate a scenario file.

    Args:
        path: The TOML file.
        overrides: `--set key=value` items, values parsed as TOML.

    Raises:
        ScenarioError: listing every problem found, each with its key and line (or `--set`).
    """
    path = Path(path)
    document, text = read_toml(path)
    found = _Found(line_index(text))
    _check_top_level(document, found)

    sets, set_problems = parse_overrides(list(overrides or []))
    found.extend(set_problems)
    original = copy.deepcopy(document) if sets else document
    _apply_document_sets(document, sets, found)
    document_sets = [s for s in sets if s.path[0] in DOCUMENT_TABLES]
    base_sets = [s for s in sets if s.path[0] not in DOCUMENT_TABLES]

    meta = ScenarioMeta()
    raw_meta = document.get("scenario", {})
    try:
        meta = ScenarioMeta.model_validate(raw_meta)
    except ValidationError as exc:
        for key, message, hint in problems_from_validation(exc, ScenarioMeta, raw_meta):
            full = ("scenario", *key)
            found.add(full, message, hint, _blame(document_sets, full, original))

    raw_variants = document.get("variants", {})
    if not isinstance(raw_variants, dict):
        cause = _blame(document_sets, ("variants",), original)
        found.add(("variants",), "must be a table of [variants.NAME] tables", "", cause)
        raw_variants = {}
    if len(raw_variants) > MAX_VARIANTS:
        found.add(("variants",), f"has {len(raw_variants):,} variants; at most {MAX_VARIANTS:,}")
        found.raise_if_any(path)
    if not raw_variants:
        raw_variants = {DEFAULT_VARIANT: {}}
    base = {k: v for k, v in document.items() if k in TOP_LEVEL_KEYS}
    for table in DOCUMENT_TABLES:
        base.pop(table, None)

    schema: type[BaseModel] = DescentVariant if "descent" in document else VariantConfig
    variants: dict[str, Any] = {}
    resolved: dict[str, dict[str, Any]] = {}
    for name in _check_variant_names(list(raw_variants), found):
        if found.full:
            found.stopped = True
            break
        where: KeyPath = ("variants", name)
        override = raw_variants[name]
        if not isinstance(override, dict):
            cause = _blame(document_sets, where, original)
            found.add(where, "must be a table", f"write [variants.{name}] and keys under it", cause)
            continue
        merged = deep_merge(base, override)
        before = deep_merge(base, _get(original, where)) if base_sets else merged
        for item in base_sets:
            set_path(merged, item.path, item.value)
        try:
            variants[name] = schema.model_validate(merged)
            resolved[name] = merged
        except ValidationError as exc:
            for key, message, hint in problems_from_validation(exc, schema, merged):
                cause = _blame(base_sets, key, before)
                in_variant = cause is None and _has_path(override, key)
                if cause is None:
                    cause = _blame(document_sets, (*where, *key), original)
                    in_variant = in_variant or cause is not None
                found.add((*where, *key) if in_variant else key, message, hint, cause)

    found.raise_if_any(path)
    sweep = None
    if "sweep" in document:
        variants, resolved, sweep = apply_sweep(
            document["sweep"], resolved, schema, meta.seed, path, found.lines
        )
    elif count_trials(variants) > MAX_TRIALS:
        trials = count_trials(variants)
        message = f"make {trials:,} trials with their repeats; at most {MAX_TRIALS:,}"
        found.add(("variants",), message, "fewer variants or repeats")
        found.raise_if_any(path)
    tables = {n: t for n, t in raw_variants.items() if isinstance(t, dict)}
    given = tuple(overrides or ())
    return Scenario(path, meta, variants, resolved, given, tables, found.lines, sweep)


def resolved_document(scenario: Scenario, variant: str) -> dict[str, Any]:
    """One variant fully resolved, defaults included, with `[scenario]` (for the run store)."""
    config = scenario.variants[variant].model_dump(mode="json", exclude_none=True)
    return {"scenario": scenario.meta.model_dump(mode="json"), **config}
