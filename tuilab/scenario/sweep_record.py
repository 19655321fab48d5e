"""What a sweep expanded to: trial names made of the swept values, and the record of it.

A sweep trial is named by its base variant and what it varies: `adam[lr=0.01,batch=64]`. Key
names are the last part of the dotted key (`learning_rate` -> `lr`, `batch_size` -> `batch`;
longer when two keys would read the same); values are written compactly and exactly (floats
as Python's shortest repr, `1e-05` as `1e-5`), strings with only letters, digits, `_`, `.` and
`-` (anything else becomes `_`, so a name never holds markup, an escape or a `/`). When two
different values of one key would read the same (`1` and `1.0`, `"a/b"` and `"a_b"`, two
tables), that key's values are numbered instead: `#1`, `#2`... The part in brackets is at most
`MAX_SWEEP_LABELS` characters: a longer one (many long keys, huge integers) is cut and ends
with `...#` and a hash of the whole, so every trial of a sweep keeps a name of its own that
`tuilab stop --trial` takes (`bounds.MAX_TRIAL_NAME`).

`SweepInfo` is kept in the `Scenario` and in the run store's `resolved.json` (`sweep`), so a
stored run is tabulated later without expanding anything again. A stored record is untrusted
input: `SweepInfo.from_document` checks it through a schema.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tuilab.scenario.bounds import (
    MAX_SWEEP_KEYS,
    MAX_SWEEP_LABELS,
    MAX_TRIALS,
    MAX_VARIANT_NAME,
)

SHORT_ALIASES = {"learning_rate": "lr", "batch_size": "batch"}
"""Short key names for the keys swept most."""
MAX_LABEL = 24
"""Characters of a string value shown in a trial name."""
_UNSAFE_LABEL = re.compile(r"[^A-Za-z0-9_.\-]")
SWEEP_NAME = re.compile(
    rf"[A-Za-z0-9][A-Za-z0-9_\-]{{0,{MAX_VARIANT_NAME - 1}}}"
    rf"\[[A-Za-z0-9_.#=,\-]{{1,{MAX_SWEEP_LABELS}}}\]"
)
"""A generated sweep trial name: a variant name, then `[key=value,...]` in a safe alphabet."""
CUT_MARK = "...#"
DIGEST_CHARS = 12
"""Hex digits of the hash that ends a cut name (48 bits: no two of 1,000 trials share one)."""


def short_names(paths: list[tuple[str, ...]]) -> list[str]:
    """The name each swept key goes by in trial names and table headers (unique)."""

    def suffix(path: tuple[str, ...], parts: int) -> str:
        tail = list(path[-parts:])
        tail[-1] = SHORT_ALIASES.get(tail[-1], tail[-1])
        return ".".join(tail)

    names: list[str] = []
    for path in paths:
        for parts in range(1, len(path) + 1):
            name = suffix(path, parts)
            others = [suffix(p, parts) for p in paths if p != path]
            if name not in others and not name.isdigit():
                break
        names.append(".".join(path) if name in names else name)
    return names


def identity(value: Any) -> str:
    """A value's identity, its type included (`1`, `1.0` and `true` are three values)."""
    return json.dumps([type(value).__name__, value], sort_keys=True, default=str)


def format_value(value: Any) -> str:
    """A value as a trial name shows it (`0.001`, `1e-5`, `64`, `true`, `adam`, `SGD`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value).removesuffix(".0")
        return text.replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        value = value["type"]
    if isinstance(value, str):
        return _UNSAFE_LABEL.sub("_", value)[:MAX_LABEL] or "_"
    return "#"


def value_labels(values: list[Any]) -> list[str]:
    """The label of each value of one key: `format_value`, or `#k` when two would read alike.

    `#k` numbers the key's distinct values in the order given.
    """
    distinct = list(dict.fromkeys(identity(v) for v in values))
    shown = {key: format_value(json.loads(key)[1]) for key in distinct}
    folded = [text.lower() for text in shown.values()]
    if "#" in shown.values() or len(set(folded)) < len(folded):
        shown = {key: f"#{index}" for index, key in enumerate(distinct, start=1)}
    return [shown[identity(v)] for v in values]


def trial_name(variant: str, short: list[str], labels: list[str]) -> str:
    """`adam[lr=0.01,batch=64]`; past `MAX_SWEEP_LABELS` characters in brackets, cut and
    ended by a hash of the whole: `adam[lr=0.01,units=12345...#3f2a9c1b04aa]`."""
    inner = ",".join(f"{k}={v}" for k, v in zip(short, labels, strict=True))
    if len(inner) > MAX_SWEEP_LABELS:
        digest = hashlib.sha256(inner.encode("utf-8")).hexdigest()[:DIGEST_CHARS]
        inner = inner[: MAX_SWEEP_LABELS - len(CUT_MARK) - DIGEST_CHARS] + CUT_MARK + digest
    return f"{variant}[{inner}]"


@dataclass(frozen=True)
class SweepPoint:
    """One expanded variant: the variant it came from, and its values (in key order)."""

    variant: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class SweepInfo:
    """A scenario's sweep: how it was expanded, and every expanded variant by name.

    Attributes:
        method: `grid` or `random`.
        keys: The swept keys, dotted as `--set` takes them.
        short: Their short names (trial names, table headers).
        log_keys: Keys drawn from a `log_uniform` distribution (charts use a log axis).
        seed: The random sweep's seed (None for a grid).
        samples: Random combinations drawn (None for a grid).
        trials: Expanded variant name -> its base variant and values.
    """

    method: str
    keys: tuple[str, ...]
    short: tuple[str, ...]
    trials: dict[str, SweepPoint] = field(default_factory=dict)
    log_keys: tuple[str, ...] = ()
    seed: int | None = None
    samples: int | None = None

    def key_index(self, name: str) -> int | None:
        """The position of a key given by its short name or dotted key (None if unknown)."""
        for index, (key, short) in enumerate(zip(self.keys, self.short, strict=True)):
            if name in (key, short):
                return index
        return None

    def narrowed(self, names: list[str]) -> SweepInfo:
        """The same sweep, with only the named expanded variants."""
        trials = {n: self.trials[n] for n in names if n in self.trials}
        return SweepInfo(
            self.method, self.keys, self.short, trials, self.log_keys, self.seed, self.samples
        )

    def expand_names(self, names: list[str], known: list[str]) -> tuple[list[str], list[str]]:
        """`--variant` names -> expanded names (a base variant means all its trials), unknown."""
        chosen: list[str] = []
        unknown: list[str] = []
        for name in names:
            found = [name] if name in known else []
            found = found or [t for t, p in self.trials.items() if p.variant == name]
            chosen += found
            if not found:
                unknown.append(name)
        return list(dict.fromkeys(chosen)), unknown

    def to_document(self) -> dict[str, Any]:
        """The `sweep` entry of `resolved.json`."""
        return {
            "method": self.method,
            "keys": list(self.keys),
            "short": list(self.short),
            "log_keys": list(self.log_keys),
            "seed": self.seed,
            "samples": self.samples,
            "trials": {
                name: {"variant": p.variant, "values": list(p.values), "labels": list(p.labels)}
                for name, p in self.trials.items()
            },
        }

    @classmethod
    def from_document(cls, document: Any) -> SweepInfo:
        """A stored `sweep` entry, checked.

        Raises:
            ValueError: the entry is not a sweep record (the message says what is wrong).
        """
        try:
            doc = _SweepDoc.model_validate(document)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ValueError(f"sweep.{where}: {first['msg']}" if where else first["msg"]) from None
        width = len(doc.keys)
        if len(doc.short) != width or len(set(doc.short)) != width:
            raise ValueError("sweep.short: one unique short name per key")
        for name, point in doc.trials.items():
            if len(point.values) != width or len(point.labels) != width:
                raise ValueError(f"sweep.trials: {name[:80]!r} needs one value per key")
        trials = {
            name: SweepPoint(p.variant, tuple(p.values), tuple(p.labels))
            for name, p in doc.trials.items()
        }
        keys = tuple(doc.keys)
        logs = tuple(k for k in doc.log_keys if k in keys)
        return cls(doc.method, keys, tuple(doc.short), trials, logs, doc.seed, doc.samples)


class _PointDoc(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    variant: str = Field(max_length=MAX_VARIANT_NAME)
    values: list[Any] = Field(max_length=MAX_SWEEP_KEYS)
    labels: list[str] = Field(max_length=MAX_SWEEP_KEYS)


class _SweepDoc(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    method: Literal["grid", "random"]
    keys: list[str] = Field(min_length=1, max_length=MAX_SWEEP_KEYS)
    short: list[str] = Field(max_length=MAX_SWEEP_KEYS)
    log_keys: list[str] = Field(default_factory=list, max_length=MAX_SWEEP_KEYS)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    samples: int | None = Field(default=None, ge=1, le=MAX_TRIALS)
    trials: dict[str, _PointDoc] = Field(max_length=MAX_TRIALS)
