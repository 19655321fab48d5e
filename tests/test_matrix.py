"""Every screen and every shell command on every kind of run in the zoo (tests/zoo.py).

Each case opens a screen (or runs a command) on one kind at one size, presses the screen's keys,
and asserts: no exception, no number cut (`0.00…`), user text shown literally (never read as
markup), and the values a user reads against the stored run's own fold of its events.

A new screen joins by one entry in `SCREENS`, a new command by one in `COMMANDS`, and a new kind
of run by one in `zoo.KINDS`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from rich.text import Text
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import DataTable, SelectionList
from typer.testing import CliRunner
from zoo import HOSTILE, KINDS, Zoo

from tuilab.app.app import create_app
from tuilab.app.screens.compare import CompareScreen
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.app.widgets.results import ResultsTable
from tuilab.app.widgets.variants import STATUS_GLYPH, VariantList
from tuilab.cli import app as cli
from tuilab.presentation.numbers import format_value
from tuilab.presentation.text import has_control
from tuilab.runtime.stored import load_run

SIZES = [(60, 20), (80, 24), (120, 40)]
STORED = [k for k in KINDS if k not in ("descent",)]
"""Kinds with a stored run (or log directory) to open; `descent` is a scenario."""
CUT_NUMBER = re.compile(r"\d…|\.…|-…")
HOSTILE_SHOWN = "[b]bold[/b]"
"""What of `HOSTILE` must read literally wherever its scenario's name is on screen."""


def screen_text(app: App) -> str:
    """What the terminal shows now, as text."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def assert_frame(text: str, where: str) -> None:
    assert not CUT_NUMBER.search(text), f"{where}: a number is cut:\n{text}"
    assert not has_control(text), f"{where}: a control character reached the screen"


def cell_text(table: DataTable, row: int, key: str) -> str:
    value = table.get_cell_at((row, table.get_column_index(key)))
    return value.plain if isinstance(value, Text) else str(value)


async def settle(pilot: Pilot, seconds: float = 0.3) -> None:
    await pilot.pause()
    await pilot.pause(seconds)


async def check_dashboard_values(pilot: Pilot, screen: DashboardScreen, folder: Path) -> None:
    """The sidebar's state and epochs and the Results tab's values are the stored fold's."""
    stored = load_run(folder)
    sidebar = screen.query_one(VariantList)
    table = screen.query_one(ResultsTable)
    for _ in range(50):  # an attached viewer reads the run in its worker
        if sidebar.row_count >= len(stored.book.trials) and table.row_count:
            break
        await pilot.pause(0.1)
    for trial, result in stored.book.trials.items():
        glyph = sidebar.get_cell(trial, "state")
        assert glyph.plain == STATUS_GLYPH[result.status], (trial, result.status, glyph)
        epochs = sidebar.get_cell(trial, "epoch").plain.partition("/")[0]
        assert epochs == str(result.epochs), (trial, epochs, result.epochs)
    rows = {getattr(row, "trial", None) or row.label: i for i, row in enumerate(table.rows_shown)}
    keys = {column.key for column in table.columns.values()}
    best_key = "best_val_accuracy" if "best_val_accuracy" in keys else "val_accuracy"
    assert best_key in keys, f"the best value's column was dropped: {sorted(keys)}"
    for trial, result in stored.book.trials.items():
        if trial not in rows:  # a sweep pools a trial's repeats into its variant's row
            continue
        if "status" in keys:  # narrow screens drop it (the sidebar's glyph says it)
            assert cell_text(table, rows[trial], "status") == result.status, trial
        best = result.best.get("val_accuracy")
        expected = "-" if best is None else format_value(best)
        assert cell_text(table, rows[trial], best_key) == expected, trial


async def walk_dashboard(app: App, pilot: Pilot, zoo: Zoo, kind: str) -> None:
    """Every tab, the chart keys, the modal views (`f`, `w`, `d`) and compare from here."""
    screen = app.screen
    assert isinstance(screen, DashboardScreen), type(screen)
    for tab in range(6):
        assert_frame(screen_text(app), f"{kind} tab {tab}")
        if kind == "hostile" and tab == 0:
            assert HOSTILE_SHOWN in screen_text(app) or "hostile" in screen_text(app)
        await pilot.press("n")
        await settle(pilot, 0.1)
    if kind not in ("corrupt",):
        await check_dashboard_values(pilot, screen, zoo.runs[kind])
    for key in ("g", "m", "m", "g", "a", "t", "v", "t", "v", "space", "<", ">", "o", "y", "p"):
        await pilot.press(key)
        await settle(pilot, 0.05)
        assert_frame(screen_text(app), f"{kind} after {key}")
    for key in ("f", "w", "d"):
        await pilot.press(key)
        await settle(pilot, 0.5)
        assert_frame(screen_text(app), f"{kind} {key} view")
        await pilot.press("escape")
        await settle(pilot, 0.1)
        assert app.screen is screen, f"{kind}: escape after {key} left {app.screen}"


async def walk_compare(app: App, pilot: Pilot, zoo: Zoo, kind: str) -> None:
    """Compare with every trial chosen, each tab, each key."""
    await pilot.press("c")
    await settle(pilot, 0.5)
    screen = app.screen
    assert isinstance(screen, CompareScreen), f"{kind}: `c` did not open compare"
    options = screen.query_one(SelectionList)
    options.select_all()
    await settle(pilot)
    assert len(screen.chosen) == len(screen.items)
    for key in ("n", "m", "a", "o", "n", "n", "n"):
        await pilot.press(key)
        await settle(pilot, 0.05)
        assert_frame(screen_text(app), f"compare from {kind} after {key}")
    await pilot.press("escape")
    await settle(pilot, 0.1)


async def open_stored(zoo: Zoo, kind: str, size: tuple[int, int]) -> None:
    app = create_app(zoo.scenarios_dir, zoo.runs_dir, stored_run=zoo.runs[kind])
    async with app.run_test(size=size) as pilot:
        await settle(pilot, 0.5)
        if kind == "corrupt":  # opened only as far as it reads; the picker says why
            assert_frame(screen_text(app), "corrupt")
            return
        await walk_dashboard(app, pilot, zoo, kind)
        await walk_compare(app, pilot, zoo, kind)


async def open_attached(zoo: Zoo, kind: str, size: tuple[int, int]) -> None:
    """`tuilab attach` on a run that has ended shows its final state, as stored."""
    if kind in ("tensorboard", "corrupt"):
        pytest.skip("attach follows tuilab runs only")
    app = create_app(zoo.scenarios_dir, zoo.runs_dir, attach=zoo.runs[kind])
    async with app.run_test(size=size) as pilot:
        await settle(pilot, 1.0)
        assert isinstance(app.screen, DashboardScreen)
        assert_frame(screen_text(app), f"attach {kind}")
        await check_dashboard_values(pilot, app.screen, zoo.runs[kind])


async def open_picker(zoo: Zoo, kind: str, size: tuple[int, int]) -> None:
    """The stored-runs list shows the run, and Enter opens it."""
    app = create_app(zoo.scenarios_dir, zoo.runs_dir)
    async with app.run_test(size=size) as pilot:
        await settle(pilot, 0.5)
        assert_frame(screen_text(app), "picker")
        await pilot.press("n")
        await settle(pilot, 0.3)
        text = screen_text(app)
        assert_frame(text, "stored runs")
        if kind == "hostile":
            assert "[b]bold" in text
        await walk_compare(app, pilot, zoo, kind)


ScreenCase = Callable[[Zoo, str, tuple[int, int]], Awaitable[None]]
SCREENS: dict[str, tuple[ScreenCase, list[tuple[int, int]]]] = {
    "stored": (open_stored, SIZES),
    "attach": (open_attached, [(80, 24)]),
}
"""Every way to open a run's screens, and the sizes it is opened at; the picker is opened
once per size on the whole zoo."""
EVERY_SIZE = ("plain", "grid_sweep", "killed", "script", "hostile")
"""Kinds opened at every size (the others at 80x24 only): they hold the widest and the most
rows, the longest names and a state of their own."""
CASES = [
    (how, kind, size)
    for how, (_, sizes) in SCREENS.items()
    for kind in STORED
    for size in sizes
    if size == (80, 24) or kind in EVERY_SIZE
]


@pytest.mark.parametrize(
    ("how", "kind", "size"), CASES, ids=[f"{h}-{k}-{w}x{r}" for h, k, (w, r) in CASES]
)
async def test_every_screen_opens_every_kind(run_zoo: Zoo, how: str, kind: str, size) -> None:
    await SCREENS[how][0](run_zoo, kind, size)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_picker_and_compare_hold_the_whole_zoo(run_zoo: Zoo, size) -> None:
    await open_picker(run_zoo, "hostile", size)


COMMANDS: dict[str, Callable[[Zoo, str], list[str] | None]] = {
    "runs": lambda zoo, run: ["runs"],
    "show": lambda zoo, run: ["show", run],
    "compare": lambda zoo, run: ["compare", run, str(zoo.runs["plain"])],
    "sweep": lambda zoo, run: ["sweep", run],
    "report-md": lambda zoo, run: ["report", run, "--format", "md"],
    "report-csv": lambda zoo, run: ["report", run, "--format", "csv"],
    "report-json": lambda zoo, run: ["report", run, "--format", "json"],
    "plot": lambda zoo, run: ["plot", run, "-o", str(zoo.root / "figures" / "x.svg")],
}
"""Every shell command that reads a stored run, by the arguments it takes for one."""
EXIT: dict[tuple[str, str], tuple[int, ...]] = {("sweep", k): (2,) for k in STORED}
EXIT.update({("sweep", "grid_sweep"): (0,), ("sweep", "random_sweep"): (0,)})
EXIT.update({("sweep", "hostile"): (0,)})
EXIT.update({(c, "corrupt"): (0, 2) for c in COMMANDS})
"""Exit codes other than 0 that a command gives for a kind: no sweep to tabulate (2), or a
corrupt run (it says why)."""


@pytest.mark.parametrize("kind", STORED)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_reads_every_kind(run_zoo: Zoo, command: str, kind: str) -> None:
    args = COMMANDS[command](run_zoo, str(run_zoo.runs[kind]))
    done = CliRunner().invoke(
        cli, ["--runs-dir", str(run_zoo.runs_dir), *args], env={"COLUMNS": "80"}
    )
    expected = EXIT.get((command, kind), (0,))
    assert done.exit_code in expected, f"{command} {kind}: {done.exit_code}\n{done.output}"
    assert done.exception is None or isinstance(done.exception, SystemExit), done.exception
    assert "Traceback" not in done.output
    if command not in ("report-json",):  # JSON escapes its strings itself
        assert not has_control(done.output), f"{command} {kind}: a control character"
    if command in ("runs", "show", "compare", "sweep"):
        assert not CUT_NUMBER.search(done.output), f"{command} {kind}:\n{done.output}"
    if kind == "hostile" and command == "show":
        assert HOSTILE.split()[0] in done.output


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("tensorboard", "script")])
def test_data_reads_every_kinds_scenario(run_zoo: Zoo, kind: str) -> None:
    """`tuilab data` on the scenario each kind was trained from."""
    stem = {"script": "script-run"}.get(kind, kind)
    path = run_zoo.scenarios_dir / f"{stem}.toml"
    if kind == "descent":
        pytest.skip("a descent scenario has no dataset")
    done = CliRunner().invoke(cli, ["data", str(path), "--no-color"], env={"COLUMNS": "80"})
    assert done.exit_code == 0, done.output
    assert "digits" in done.output.lower()


async def test_compare_differences_reach_every_trial_at_80_columns(run_zoo: Zoo) -> None:
    """Right and left scroll the Differences tab a trial at a time, its Key column kept: each
    chosen trial's column comes on screen (only the first could be seen at 80 columns)."""
    app = create_app(run_zoo.scenarios_dir, run_zoo.runs_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, 0.5)
        await pilot.press("c")
        await settle(pilot, 0.5)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        screen.query_one(SelectionList).select_all()
        await pilot.press("n", "n")
        await settle(pilot)
        table = screen.query_one("#diff-table", DataTable)
        headers = [str(c.label) for c in table.columns.values()][1:]
        assert len(headers) == len(screen.items) > 10
        seen: set[str] = set()
        for _ in headers:
            text = screen_text(app)
            assert " Key " in text.splitlines()[3]
            seen |= {h for h in headers if h in text}
            await pilot.press("right")
            await settle(pilot, 0.05)
        assert seen == set(headers)
        for _ in headers:
            await pilot.press("left")
        await settle(pilot, 0.05)
        assert table.scroll_x == 0
