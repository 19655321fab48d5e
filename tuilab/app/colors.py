"""One colour per trial, reused by every widget; names that 16-colour terminals have."""

from __future__ import annotations

# (plotext colour, Rich colour) pairs
PALETTE = (
    ("cyan", "cyan"),
    ("magenta", "magenta"),
    ("yellow", "yellow"),
    ("green", "green"),
    ("red", "red"),
    ("blue", "blue"),
    ("cyan+", "bright_cyan"),
    ("magenta+", "bright_magenta"),
    ("yellow+", "bright_yellow"),
    ("green+", "bright_green"),
    ("red+", "bright_red"),
    ("white", "white"),
)


def plot_color(index: int) -> str:
    """The plotext colour of the `index`-th trial."""
    return PALETTE[index % len(PALETTE)][0]


def text_color(index: int) -> str:
    """The Rich colour of the `index`-th trial."""
    return PALETTE[index % len(PALETTE)][1]
