"""The dashboard's footer at 80x24: every key it shows applies to the run being viewed, the
steering keys all appear while the run trains (here, or in the process an attached dashboard
follows), and none of them is left for a run that is over or stored; whichever widget of
whichever tab has the focus."""

from __future__ import annotations

import time

from test_attach import ONE_VARIANT, shown_epochs, start_headless, stop_headless, until
from textual.widgets._footer import FooterKey

from tuilab.app.app import create_app
from tuilab.app.screens.dashboard import DashboardScreen
from tuilab.app.screens.dashboard_keys import STEERING
from tuilab.runtime.session import RunRequest

WIDTH = 80
STEER = [
    ("s", "Stop"),
    ("e", "Stop@epoch"),
    ("x", "Stop trial"),
    ("h", "lr÷2"),
    ("k", "Checkpoint"),
]
APP_KEYS = [("q", "Quit"), ("question_mark", "Keys")]
LIVE = [*STEER, *APP_KEYS]
"""While the run trains: the five steering keys, Quit and Keys (`?` lists every key)."""
VIEWS = [("n", "Tab"), ("m", "Metric"), ("c", "Compare"), *APP_KEYS, ("ctrl+p", "palette")]
"""A stored run, or one trained elsewhere that is over: no steering, nothing to rerun."""
OVER = [("r", "Rerun"), *VIEWS]
"""A run trained here that is over: it can be trained again."""


def footer(screen: DashboardScreen) -> list[tuple[str, str]]:
    """The footer's keys, in order, each wholly inside the 80 columns and none shown dead."""
    keys = list(screen.query(FooterKey))
    for key in keys:
        assert not key.has_class("-disabled"), f"{key.key} is shown but does nothing"
        assert key.region.width > 0 and key.region.right <= WIDTH, f"{key.key} is cut off"
    return [(key.key, key.description) for key in keys]


async def footer_is(pilot, screen: DashboardScreen, want: list, where: str) -> None:
    """The footer shows `want` (it is laid out again after each change of focus or state)."""
    deadline = time.monotonic() + 20
    while True:
        await pilot.pause(0.1)
        try:
            if footer(screen) == want:
                return
        except AssertionError:
            pass  # laid out again right now
        if time.monotonic() > deadline:
            assert footer(screen) == want, where


async def footer_everywhere(pilot, screen: DashboardScreen, want: list) -> None:
    """`want` in the footer with the focus on each focusable widget of each of the five tabs."""
    for tab in range(5):
        for widget in list(screen.focus_chain):
            widget.focus()
            await footer_is(pilot, screen, want, f"tab {tab}, focus on {widget!r}")
        await pilot.press("n")


def steering_offered(screen: DashboardScreen) -> set[str]:
    """The steering actions among the screen's active keys (what `?` Keys lists too)."""
    return {b.binding.action for b in screen.active_bindings.values()} & set(STEERING)


async def test_the_footer_of_a_run_trained_here_shows_every_steering_key_then_rerun(
    write_scenario, tmp_path
):
    path = write_scenario(ONE_VARIANT.replace("epochs = 2", "epochs = 5000"))
    request = RunRequest(path, runs_dir=tmp_path / "runs")
    app = create_app(tmp_path, tmp_path / "runs", run=request)
    async with app.run_test(size=(WIDTH, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen)
        await until(pilot, lambda: shown_epochs(screen) >= 1, "training")
        await footer_everywhere(pilot, screen, LIVE)
        assert steering_offered(screen) == set(STEERING)
        await pilot.press("s")
        await until(pilot, lambda: not screen.running, "the run's end")
        await footer_everywhere(pilot, screen, OVER)
        assert steering_offered(screen) == set()


async def test_the_footer_of_an_attached_run_steers_while_it_trains_and_a_stored_run_never(
    write_scenario, tmp_path
):
    path = write_scenario(ONE_VARIANT.replace("epochs = 2", "epochs = 5000"))
    process, run = start_headless(path, tmp_path)
    try:
        app = create_app(tmp_path, tmp_path, attach=run)
        async with app.run_test(size=(WIDTH, 24)) as pilot:
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            await until(pilot, lambda: shown_epochs(screen) >= 2, "epochs of the other process")
            await footer_everywhere(pilot, screen, LIVE)
            stop_headless(process, run, tmp_path)
            await until(pilot, lambda: not screen.running, "the run's end")
            await footer_everywhere(pilot, screen, VIEWS)  # nothing to steer, nor to rerun
            assert steering_offered(screen) == set()
    finally:
        if process.poll() is None:
            process.kill()
    app = create_app(tmp_path, tmp_path, stored_run=run)
    async with app.run_test(size=(WIDTH, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, DashboardScreen) and not screen.running
        await footer_everywhere(pilot, screen, VIEWS)
        assert steering_offered(screen) == set()
