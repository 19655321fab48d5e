"""TUILAB_GRAPHICS: Sixel (textual-image), half-block and ASCII sample grids, and the fallbacks."""

from __future__ import annotations

import builtins
import shutil

import pytest
from conftest import ROOT
from textual.widgets import Label

from tuilab.app.app import create_app
from tuilab.app.widgets import graphics
from tuilab.app.widgets.samples import SamplesView, SampleTile

DIGITS = ROOT / "scenarios" / "digits_quick.toml"


@pytest.fixture(autouse=True)
def fresh(monkeypatch):
    """No mode from the environment, and nothing learnt by an earlier test."""
    for name in ("TUILAB_GRAPHICS", "NO_COLOR", "TMUX", "STY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(graphics, "_state", {})


async def picker_samples(tmp_path, size=(80, 24)):
    """The picker on the digits scenario, its samples loaded: (app, pilot context)."""
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    shutil.copy(DIGITS, scenarios / "digits_quick.toml")
    return create_app(scenarios, tmp_path / "runs")


async def loaded(pilot, widget: SamplesView) -> None:
    for _ in range(200):
        if widget.view is not None or widget.error:
            break
        await pilot.pause(0.05)
    await pilot.pause(0.1)
    assert widget.view is not None, widget.error


def text_of(widget: SamplesView) -> str:
    text = widget.text
    return "\n".join(text.render_line(y).text for y in range(text.size.height))


def label_rows(text: str) -> list[str]:
    """The class names under the text grid's tiles, row after row (digits: one per class)."""
    names = [line.split() for line in text.splitlines()]
    return [name for row in names if row and all(n.isdigit() for n in row) for name in row]


@pytest.mark.parametrize(
    ("value", "mode", "mark"),
    [("halfblock", "halfblock", "▄"), ("ascii", "ascii", "'@' 1"), ("auto", "halfblock", "▄")],
)
async def test_text_modes_at_80x24(tmp_path, monkeypatch, value, mode, mark):
    monkeypatch.setenv("TUILAB_GRAPHICS", value)
    tui = await picker_samples(tmp_path)
    async with tui.run_test(size=(80, 24)) as pilot:
        samples = tui.screen.query_one(SamplesView)
        await loaded(pilot, samples)
        assert samples.mode == mode  # auto: headless is always half-block
        assert not samples.query(SampleTile)
        text = text_of(samples)
        assert mark in text
        assert label_rows(text) == [str(i) for i in range(10)]
        assert samples.region.right <= 80


async def test_sixel_tiles_with_whole_labels_at_80x24(tmp_path, monkeypatch):
    widgets = pytest.importorskip("textual_image.widget")
    monkeypatch.setenv("TUILAB_GRAPHICS", "sixel")
    tui = await picker_samples(tmp_path)
    async with tui.run_test(size=(80, 24)) as pilot:
        samples = tui.screen.query_one(SamplesView)
        await loaded(pilot, samples)
        assert samples.mode == "sixel"
        tiles = list(samples.query(SampleTile))
        assert [tile.sample.name for tile in tiles if tile.sample] == [str(i) for i in range(10)]
        images = [tile.query_one(".sample-image") for tile in tiles]
        assert all(isinstance(image, widgets.SixelImage) for image in images)
        labels = [str(tile.query_one(Label).render()) for tile in tiles]
        assert labels == [str(i) for i in range(10)]
        assert "digits samples" in text_of(samples) and "▄" not in text_of(samples)
        for tile, image in zip(tiles, images, strict=True):
            label = tile.query_one(Label)
            assert image.region.width >= 2 and image.region.height >= 1
            assert label.region.y >= image.region.bottom  # the name underneath, whole
            assert label.region.width >= len(tile.sample.name)
            assert tile.region.right <= 80
        # The sixel data goes out through Textual's own output, not to the real terminal.
        await pilot.pause(0.1)
        inner = images[0].children[0]
        drawn = "".join(
            segment.text
            for strip in inner.render_lines(inner.region.reset_offset)
            for segment in strip
        )
        assert "\x1bP" in drawn and "\x1b\\" in drawn


async def test_sixel_in_the_dashboard_data_view_two_per_class(tmp_path, monkeypatch):
    pytest.importorskip("textual_image.widget")
    from tuilab.app.widgets.samples import DataScreen

    monkeypatch.setenv("TUILAB_GRAPHICS", "sixel")
    runs = tmp_path / "runs"
    shutil.copytree(ROOT / "tests" / "fixtures" / "runs", runs)
    tui = create_app(ROOT / "tests" / "fixtures" / "scenarios", runs)
    async with tui.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "enter")
        await pilot.pause(0.2)
        await pilot.press("d")
        await pilot.pause(0.1)
        assert isinstance(tui.screen, DataScreen)
        samples = tui.screen.query_one(SamplesView)
        await loaded(pilot, samples)
        tiles = [tile for tile in samples.query(SampleTile) if tile.sample]
        assert sorted(tile.sample.name for tile in tiles) == [
            str(i) for i in range(10) for _ in (0, 1)
        ]
        assert "total   1149         288   360" in text_of(samples)
        assert max(tile.region.right for tile in tiles) <= 80


async def test_without_textual_image_sixel_is_half_block(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_textual_image(name, *args, **kwargs):
        if name.startswith("textual_image"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_textual_image)
    monkeypatch.setenv("TUILAB_GRAPHICS", "sixel")
    assert graphics.resolve() == "halfblock"
    tui = await picker_samples(tmp_path)
    async with tui.run_test(size=(80, 24)) as pilot:
        samples = tui.screen.query_one(SamplesView)
        await loaded(pilot, samples)
        assert samples.mode == "halfblock"
        assert "▄" in text_of(samples)
        assert label_rows(text_of(samples)) == [str(i) for i in range(10)]


def test_modes_from_the_environment(monkeypatch):
    assert graphics.requested() == "auto"
    monkeypatch.setenv("TUILAB_GRAPHICS", "Bogus")
    assert graphics.requested() == "auto"
    assert graphics.resolve(headless=False) == "halfblock"  # nothing detected: half-block
    monkeypatch.setenv("NO_COLOR", "1")
    assert graphics.resolve() == "ascii"
    monkeypatch.setenv("TUILAB_GRAPHICS", "halfblock")
    assert graphics.resolve() == "halfblock"  # an explicit choice wins over NO_COLOR
    monkeypatch.setenv("TUILAB_GRAPHICS", "kitty")
    assert graphics.resolve(headless=True) == "halfblock"  # it would write to stdout


def test_auto_never_asks_in_tmux_over_ssh_or_off_a_terminal(monkeypatch):
    class Terminal:
        def isatty(self):
            return True

    monkeypatch.setattr(graphics.sys, "__stdin__", Terminal())
    monkeypatch.setattr(graphics.sys, "__stdout__", Terminal())
    monkeypatch.setattr(graphics, "_cell_pixels", lambda: (8, 16))
    monkeypatch.setenv("TERM", "xterm-256color")
    for name in ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"):
        monkeypatch.delenv(name, raising=False)
    assert graphics.may_ask_terminal()
    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    assert not graphics.may_ask_terminal()
    monkeypatch.delenv("TMUX")
    monkeypatch.setenv("TERM", "screen-256color")
    assert not graphics.may_ask_terminal()
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.1 5000 10.0.0.2 22")
    assert not graphics.may_ask_terminal()
    monkeypatch.delenv("SSH_CONNECTION")
    monkeypatch.setattr(graphics, "_cell_pixels", lambda: None)  # cell size unknown
    assert not graphics.may_ask_terminal()
    monkeypatch.setattr(graphics, "_cell_pixels", lambda: (8, 16))
    monkeypatch.setattr(graphics.sys, "__stdin__", None)
    assert not graphics.may_ask_terminal()
    # prepare() without a terminal asks nothing and settles on half-block.
    monkeypatch.setattr(graphics, "_detect", lambda: pytest.fail("asked the terminal"))
    graphics.prepare()
    assert graphics._state["detected"] == "halfblock"
