"""Shell completion: commands (Typer's own), scenario files, variant names and run ids.

Completion runs on every Tab, so it reads only file names and one TOML table: no TensorFlow,
no run replay. Each function takes what Typer passes (the context, the word so far). It must
never hang a shell: the scenario is read as the loader reads it (a regular file of at most
1 MB: a FIFO or a device named `x.toml` is refused without being opened), and no folder is
walked below the level typed.
"""

from __future__ import annotations

import heapq
import os
import shlex
import stat
from pathlib import Path

import typer

from tuilab import layout
from tuilab.errors import ScenarioError
from tuilab.scenario.source import read_toml

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
                run = f"{stem.name}/{stamp.name}"
                if run.startswith(incomplete) and _regular(stamp / layout.RUN_JSON):
                    found.append((stamp.name, run))
    except OSError:
        return ["latest"] if "latest".startswith(incomplete) else []
    newest = heapq.nlargest(MAX_RUNS, found)  # not a sort of every run there is
    ids = ["latest", *(run for _, run in newest)]
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
            if not shown.startswith(incomplete):
                continue
            if entry.is_dir() and not entry.name.startswith("."):
                names.append(shown + "/")
            elif entry.suffix == ".toml":
                names.append(shown)
    return names


def _regular(path: Path) -> bool:
    """A regular file, by its name alone (a stat: nothing is opened)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


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
    try:  # bounded, and only a regular file: a FIFO or /dev/zero named x.toml never hangs Tab
        variants = read_toml(Path(scenario))[0].get("variants", {})
    except (ScenarioError, OSError, ValueError):
        return []
    names = list(variants) if isinstance(variants, dict) else []
    return [name for name in names if name.startswith(incomplete)]
