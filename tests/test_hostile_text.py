"""Adversarial text in every field a user or a copied run store controls: nothing crashes,
nothing is read as markup, and no control character reaches any output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ROOT, toml_string
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.widgets import OptionList, RichLog, Static
from typer.testing import CliRunner

from tuilab.app.app import create_app
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.cli import app
from tuilab.presentation.text import clean, has_control

STORED_RUN = ROOT / "tests" / "fixtures" / "runs" / "quick" / "20260101-120000"
NASTY = [
    "[/] x",
    "[]running[/]",
    "[bold red]boom",
    "\x1b]0;retitled\x07",
    "\x1b[2J\x1b[H",
    "tab\there\nnewline",
    "\u202eevil-bidi",
    "zero\u200bwidth",
    "\x00nul\x7fdel\x9bcsi",
    "🙂 ünïcødé 中文",
    "a" * 3000,
    "| pipes | in | names |",
    "\\[escaped\\]",
]
hostile_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], max_codepoint=0x2FFF),
        min_size=1,
        max_size=60,
    ),
)


def scenario_text(name: str, description: str) -> str:
    return f"""
[scenario]
name = {toml_string(name)}
description = {toml_string(description)}
seed = 1

[data]
dataset = "digits"
flatten = true
limit = 300

[model]
layers = [{{ type = "Dense", units = 10, activation = "softmax" }}]

[compile]
optimizer = "adam"
loss = "sparse_categorical_crossentropy"
metrics = ["accuracy"]

[fit]
epochs = 1
batch_size = 64

[variants.a]
description = {toml_string(description)}
"""


def assert_clean(result, allowed: tuple[int, ...]) -> None:
    assert result.exit_code in allowed, result.output
    assert "Traceback" not in result.output
    assert not has_control(result.output), repr(result.output[:500])


def stored_copy(root: Path, name: str) -> Path:
    """The fixture run with `name` in every text field a copied store could change."""
    folder = root / "quick" / "20260101-120000"
    shutil.copytree(STORED_RUN, folder)
    meta = json.loads((folder / "run.json").read_text())
    meta.update(scenario=name, variants=[name, "bn"])
    (folder / "run.json").write_text(json.dumps(meta))
    lines = []
    for line in (folder / "events.jsonl").read_text().splitlines():
        event = json.loads(line)
        if "scenario" in event:
            event["scenario"] = name
        if event.get("trial") == "plain":
            event["trial"] = event["variant"] = name
        if event["event"] == "run_started":
            event["device"]["device"] = name
        lines.append(json.dumps(event))
    lines.append(
        json.dumps(
            {"event": "variant_failed", "trial": "bn", "variant": "bn", "reason": name, "epoch": 1}
        )
    )
    (folder / "events.jsonl").write_text("\n".join(lines) + "\n")
    return folder


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=hostile_text, description=hostile_text)
def test_validate_shows_hostile_names_as_text(tmp_path_factory, name, description):
    path = tmp_path_factory.mktemp("s") / "hostile.toml"
    path.write_text(scenario_text(name, description), encoding="utf-8")
    assert_clean(CliRunner().invoke(app, ["validate", str(path)]), (0,))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=hostile_text)
def test_a_hostile_variant_name_is_refused_with_an_escaped_message(tmp_path_factory, name):
    path = tmp_path_factory.mktemp("s") / "hostile.toml"
    text = scenario_text("ok", "ok").replace("[variants.a]", f"[variants.{toml_string(name)}]")
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert_clean(result, (0, 2))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=hostile_text)
def test_stored_run_commands_show_hostile_fields_as_text(tmp_path_factory, name):
    root = tmp_path_factory.mktemp("runs")
    stored_copy(root, name)
    runner = CliRunner()
    for args in (["runs"], ["show", "latest"], ["compare", "latest"], ["report", "latest"]):
        result = runner.invoke(app, [*args, "--runs-dir", str(root)], env={"COLUMNS": "80"})
        assert_clean(result, (0,))
    csv = runner.invoke(app, ["report", "latest", "--format", "csv", "--runs-dir", str(root)])
    assert_clean(csv, (0,))


@pytest.mark.slow
def test_run_json_and_headless_with_hostile_names(tmp_path):
    runner = CliRunner()
    for index, name in enumerate(["[/] x", "\x1b]0;retitled\x07\x1b[2J", "\u202e" + "a" * 300]):
        path = tmp_path / f"h{index}.toml"
        path.write_text(scenario_text(name, name), encoding="utf-8")
        runs = tmp_path / "runs[/]x"  # markup in the runs folder too
        for mode in ("--json", "--headless"):
            result = runner.invoke(app, ["run", str(path), mode, "--runs-dir", str(runs)])
            assert_clean(result, (0,))
            if mode == "--json":
                first = json.loads(result.output.splitlines()[0])
                assert first["scenario"] == name  # JSON keeps the exact text, escaped
    listing = runner.invoke(app, ["runs", "--runs-dir", str(tmp_path / "runs[/]x")])
    assert_clean(listing, (0,))


async def test_the_app_lists_and_opens_hostile_scenarios_and_runs(tmp_path):
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    for index, name in enumerate(NASTY[:6]):
        (scenarios / f"h{index}.toml").write_text(scenario_text(name, name), encoding="utf-8")
    (scenarios / "broken.toml").write_text('[scenario]\nname = "\x1b[2J', encoding="utf-8")
    root = tmp_path / "runs"
    stored_copy(root, NASTY[3] + NASTY[0])
    app_ = create_app(scenarios, root)
    async with app_.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        options = app_.screen.query_one("#scenario-list", OptionList)
        prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert len(prompts) == 7 and not any(has_control(p) for p in prompts)
        assert clean(NASTY[0]) in prompts
        for _ in range(7):
            await pilot.press("down")
            details = str(app_.screen.query_one("#scenario-details", Static).render())
            assert not has_control(details)
        await pilot.press("n")  # stored runs
        await pilot.pause(0.2)
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert isinstance(app_.screen, DashboardScreen)
        for _ in range(5):
            await pilot.press("n")
            await pilot.pause(0.2)
        log = app_.screen.query_one(RichLog)
        assert log.lines and not any(has_control(line.text) for line in log.lines)
        assert app_.is_running
