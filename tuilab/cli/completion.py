"""Shell completion: commands (Typer's own), scenario files, variant names and run ids.

Completion runs on every Tab, so it reads only file names and one TOML table: no TensorFlow,
no run replay. Each function takes what Typer passes (the context, the word so far).
"""

from __future__ import annotations

import os
import shlex
import tomllib
from pathlib import Path

import typer

from tuilab import layout

MAX_RUNS = 200
"""Run ids offered at most (the newest first)."""


def _runs_root(ctx: typer.Context) -> Path:
    given = ctx.params.get("runs")
    return Path(given) if given else Path(os.environ.get("TUILAB_RUNS", "runs"))


def complete_run(ctx: typer.Context, incomplete: str) -> list[str]:
    """`latest` and every `<stem>/<stamp>` in the runs folder, newest first."""
    root = _runs_root(ctx)
    found: list[tuple[str, str]] = []
    try:
        for stem in root.iterdir():
            if stem.name.startswith(".") or not stem.is_dir():
                continue
            for stamp in stem.iterdir():
                if (stamp / layout.RUN_JSON).is_file():
                    found.append((stamp.name, f"{stem.name}/{stamp.name}"))
    except OSError:
        return ["latest"] if "latest".startswith(incomplete) else []
    ids = ["latest", *(run for _, run in sorted(found, reverse=True)[:MAX_RUNS])]
    return [run for run in ids if run.startswith(incomplete)]


def complete_scenario(incomplete: str) -> list[str]:
    """`*.toml` files under the folder typed so far (or ./scenarios and . when nothing is)."""
    typed = Path(incomplete or ".")
    folder = typed if incomplete.endswith("/") or typed.is_dir() else typed.parent
    folders = [folder] if incomplete else [Path("scenarios"), Path(".")]
    names: list[str] = []
    for place in folders:
        try:
            entries = sorted(place.iterdir())
        except OSError:
            continue
        for entry in entries:
            shown = str(entry) if str(place) != "." else entry.name
            if entry.is_dir() and not entry.name.startswith("."):
                names.append(shown + "/")
            elif entry.suffix == ".toml":
                names.append(shown)
    return [name for name in names if name.startswith(incomplete)]


def _scenario_typed() -> str | None:
    """The `.toml` word on the line being completed (Click leaves `scenario` unparsed when the
    option before the cursor still lacks its value; every shell's script passes COMP_WORDS)."""
    try:
        words = shlex.split(os.environ.get("COMP_WORDS", ""))
    except ValueError:
        return None
    return next((w for w in words if w.endswith(".toml")), None)


def complete_variant(ctx: typer.Context, incomplete: str) -> list[str]:
    """The `[variants.*]` names of the scenario already on the command line."""
    scenario = ctx.params.get("scenario") or _scenario_typed()
    if not scenario:
        return []
    try:
        with open(scenario, "rb") as stream:
            variants = tomllib.load(stream).get("variants", {})
    except (OSError, tomllib.TOMLDecodeError):
        return []
    names = list(variants) if isinstance(variants, dict) else []
    return [name for name in names if name.startswith(incomplete)]
