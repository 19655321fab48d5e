"""Read a scenario file: TOML -> variants merged over the base -> validated pydantic models."""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from tuilab.errors import Problem, ScenarioError
from tuilab.scenario.descent import DescentVariant
from tuilab.scenario.locate import KeyPath, find_line, line_index, render_path
from tuilab.scenario.merge import deep_merge, parse_overrides, set_path
from tuilab.scenario.schema import ScenarioMeta, VariantConfig

MAX_FILE_BYTES = 1_000_000
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
)
VARIANT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}$")
DEFAULT_VARIANT = "default"
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: its metadata and every variant, fully resolved.

    Attributes:
        path: The file it came from.
        meta: The `[scenario]` table.
        variants: Variant name -> its resolved configuration, in file order.
        resolved: Variant name -> the resolved plain dict (what the run store saves).
        overrides: The `--set` items applied, as given.
    """

    path: Path
    meta: ScenarioMeta
    variants: dict[str, Any]
    resolved: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    variant_tables: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False)
    lines: dict[KeyPath, int] = field(default_factory=dict, compare=False, repr=False)

    def problem(self, variant: str, key: KeyPath, message: str, hint: str = "") -> Problem:
        """A `Problem` at `key` of `variant`, pointing into the variant's table when it set it."""
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
        """A copy with only the named variants; unknown names are a `ScenarioError`."""
        if not names:
            return self
        unknown = [n for n in names if n not in self.variants]
        if unknown:
            raise ScenarioError(
                self.path,
                [
                    Problem(
                        f"no variant named {n!r}",
                        key="--variant",
                        hint=_suggest(n, list(self.variants)),
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
        )


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if choices and len(choices) <= 12:
        return "valid: " + ", ".join(choices)
    return ""


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Read and parse a TOML file; every failure becomes a `ScenarioError`."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ScenarioError(path, [Problem("file not found")]) from None
    except IsADirectoryError:
        raise ScenarioError(path, [Problem("is a folder, not a scenario file")]) from None
    except OSError as exc:
        raise ScenarioError(path, [Problem(f"cannot be read: {exc.strerror}")]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise ScenarioError(
            path,
            [
                Problem(
                    f"is {len(raw):,} bytes; a scenario file is at most {MAX_FILE_BYTES:,}",
                    hint="is this really a scenario?",
                )
            ],
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScenarioError(
            path,
            [
                Problem(
                    f"is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                    line=line,
                    hint="save the file as UTF-8",
                )
            ],
        ) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        position = _TOML_POSITION.search(message)
        line = int(position.group(1)) if position else None
        message = _TOML_POSITION.sub("", message).strip()
        raise ScenarioError(
            path,
            [
                Problem(
                    f"TOML syntax error: {message}",
                    line=line,
                    hint="see https://toml.io for the syntax",
                )
            ],
        ) from None


def _model_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the pydantic model reached by following `loc` from `model`."""
    current: Any = model
    for part in loc:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        info = current.model_fields.get(str(part))
        if info is None:
            return []
        annotation = info.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _clean_loc(loc: tuple[Any, ...]) -> KeyPath:
    """Drop pydantic's union-member tags (`str`, `dict[str,any]`, ...) from an error location."""
    return tuple(
        part
        for part in loc
        if isinstance(part, int)
        or (
            not re.search(r"[\[\]]|^(str|int|float|bool|constrained-\w+)$", str(part))
            and not str(part)[:1].isupper()
        )
    )


def _problems_from_validation(
    exc: ValidationError, model: type[BaseModel]
) -> list[tuple[KeyPath, str, str]]:
    """Convert pydantic errors to (key path, message, hint), merging union alternatives."""
    grouped: dict[KeyPath, list[str]] = {}
    inputs: dict[KeyPath, Any] = {}
    hints: dict[KeyPath, str] = {}
    for error in exc.errors(include_url=False):
        path = _clean_loc(error["loc"])
        if error["type"] == "extra_forbidden":
            fields = _model_fields(model, path[:-1])
            grouped.setdefault(path, []).append(f"unknown key {path[-1]!r}")
            hints[path] = _suggest(str(path[-1]), fields)
            continue
        message = error["msg"].removeprefix("Value error, ").replace("Input should be", "should be")
        got = error.get("input")
        if error["type"] not in ("missing", "value_error") and not isinstance(got, dict | list):
            inputs[path] = got
        if error["type"] == "literal_error" and isinstance(got, str):
            choices = re.findall(r"'([^']*)'", error.get("ctx", {}).get("expected", ""))
            hints[path] = _suggest(got, choices)
        if message not in grouped.setdefault(path, []):
            grouped[path].append(message)
    deeper = {p[:n] for p in grouped for n in range(len(p))}
    problems = []
    for path, messages in grouped.items():
        if path in deeper:
            continue  # a union member matched deeper down: its error is the useful one
        text = messages[0] + "".join(" or " + m.removeprefix("should be ") for m in messages[1:])
        if path in inputs:
            text += f", got {inputs[path]!r}"
        problems.append((path, text, hints.get(path, "")))
    return problems


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


def load_scenario(path: Path | str, overrides: list[str] | None = None) -> Scenario:
    """Load, merge and validate a scenario file.

    Args:
        path: The TOML file.
        overrides: `--set key=value` items, values parsed as TOML.

    Raises:
        ScenarioError: listing every problem found, each with its key and line.
    """
    path = Path(path)
    document, text = read_toml(path)
    lines = line_index(text)
    problems: list[Problem] = []

    def problem(key: KeyPath, message: str, hint: str = "") -> None:
        item = Problem(message, key=render_path(key), line=find_line(lines, key), hint=hint)
        if item not in problems:
            problems.append(item)

    for key in document:
        if key not in TOP_LEVEL_KEYS:
            problem((key,), f"unknown table {key!r}", _suggest(key, list(TOP_LEVEL_KEYS)))

    parsed_sets, set_problems = parse_overrides(list(overrides or []))
    problems.extend(set_problems)
    for key_path, value in parsed_sets:
        if key_path[0] == "variants":
            set_path(document, key_path, value)

    meta = ScenarioMeta()
    try:
        meta = ScenarioMeta.model_validate(document.get("scenario", {}))
    except ValidationError as exc:
        for key, message, hint in _problems_from_validation(exc, ScenarioMeta):
            problem(("scenario", *key), message, hint)

    raw_variants = document.get("variants", {})
    if not isinstance(raw_variants, dict):
        problem(("variants",), "must be a table of [variants.NAME] tables")
        raw_variants = {}
    if not raw_variants:
        raw_variants = {DEFAULT_VARIANT: {}}
    base = {k: v for k, v in document.items() if k not in ("scenario", "variants")}

    schema: type[BaseModel] = DescentVariant if "descent" in document else VariantConfig
    variants: dict[str, Any] = {}
    resolved: dict[str, dict[str, Any]] = {}
    for name, override in raw_variants.items():
        where: KeyPath = ("variants", name)
        if not VARIANT_NAME.match(name):
            problem(
                where,
                f"variant name {name!r} may use only letters, digits, '_', '-', '.'",
                "rename the table, e.g. [variants.bn_05]",
            )
            continue
        if not isinstance(override, dict):
            problem(where, "must be a table", f"write [variants.{name}] and keys under it")
            continue
        merged = deep_merge(base, override)
        for key_path, value in parsed_sets:
            if key_path[0] != "variants":
                set_path(merged, key_path, value)
        try:
            variants[name] = schema.model_validate(merged)
            resolved[name] = merged
        except ValidationError as exc:
            for key, message, hint in _problems_from_validation(exc, schema):
                problem((*where, *key) if _has_path(override, key) else key, message, hint)

    if problems:
        raise ScenarioError(path, problems)
    tables = {n: t for n, t in raw_variants.items() if isinstance(t, dict)}
    return Scenario(path, meta, variants, resolved, tuple(overrides or ()), tables, lines)


def resolved_document(scenario: Scenario, variant: str) -> dict[str, Any]:
    """One variant fully resolved, defaults included, with `[scenario]` (for the run store)."""
    config = scenario.variants[variant].model_dump(mode="json", exclude_none=True)
    return {"scenario": scenario.meta.model_dump(mode="json"), **config}
