"""Shell habits: --version, completion of commands, files, variants and runs, report formats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

from conftest import ROOT
from typer.testing import CliRunner

from tuilab.cli import app

RUNS = ROOT / "tests" / "fixtures" / "runs"
STORED = RUNS / "quick" / "20260101-120000"


def complete(line: str, cwd: Path = ROOT, **env: str) -> list[str]:
    """What bash completion offers for `line` (the word being completed is its last)."""
    words = line.split(" ")
    environment = {
        **os.environ,
        **env,
        "_TUILAB_COMPLETE": "complete_bash",
        "COMP_WORDS": line,
        "COMP_CWORD": str(len(words) - 1),
    }
    result = subprocess.run(
        [sys.executable, "-m", "tuilab"],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.split()


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"tuilab {version('tuilab')}"


def test_completion_offers_commands_scenarios_variants_runs_and_formats() -> None:
    assert complete("tuilab re") == ["resume", "report", "restore"]
    assert "scenarios/digits_quick.toml" in complete("tuilab run scenarios/di")
    assert complete("tuilab run scenarios/digits_quick.toml --variant ") == [
        "adam",
        "sgd",
        "adam_bn",
    ]
    assert complete("tuilab summary scenarios/digits_quick.toml -v a") == ["adam", "adam_bn"]
    assert complete(f"tuilab show --runs-dir {RUNS} ") == ["latest", "quick/20260101-120000"]
    assert complete("tuilab show q", TUILAB_RUNS=str(RUNS)) == ["quick/20260101-120000"]
    assert complete("tuilab report x --format ") == ["md", "csv", "json", "html"]


def test_the_install_and_show_completion_options_exist() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in result.output and "--show-completion" in result.output


def test_report_as_json_carries_the_stored_numbers() -> None:
    result = CliRunner().invoke(
        app, ["report", "quick/20260101-120000", "--format", "json", "--runs-dir", str(RUNS)]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    stored = json.loads((STORED / "results.json").read_text())
    assert document["run"] == "quick/20260101-120000"
    for trial, values in stored["trials"].items():
        assert document["results"]["trials"][trial]["test"] == values["test"]
        assert document["results"]["trials"][trial]["best"] == values["best"]
    bad = CliRunner().invoke(app, ["report", "latest", "--format", "xml", "--runs-dir", str(RUNS)])
    assert bad.exit_code == 2 and "'xml' is not one of" in bad.output
