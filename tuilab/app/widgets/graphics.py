"""How the app draws data samples: Sixel or Kitty images through textual-image, else text.

`TUILAB_GRAPHICS` picks the renderer (unset means `auto`):

- `auto`: half-block pixels (rich-pixels), unless the terminal can be asked safely what it
  supports and says Sixel or the Kitty graphics protocol. Asking is safe only when stdin and
  stdout are the terminal itself, outside tmux or screen, not over SSH, with the cell size in
  pixels known from the kernel (TIOCGWINSZ), and before the app starts reading the keyboard. An
  answer that comes late (over SSH, say) would otherwise reach the app as keystrokes. Headless
  apps (tests) and textual-serve always get half-blocks. With `NO_COLOR` set, `auto` is `ascii`.
- `sixel`: Sixel images, without asking the terminal (xterm -ti vt340, foot, WezTerm, mlterm,
  Konsole, Windows Terminal; tmux only if built with Sixel support).
- `kitty`: the Kitty graphics protocol with Unicode placeholders, without asking the terminal
  (Kitty). It writes to the terminal directly, so an app that is not on a terminal (a headless
  app, textual-serve) gets half-blocks instead.
- `halfblock`: half-block pixels, two pixels a cell (any 256-colour or truecolor terminal).
- `ascii`: shades of ASCII characters, no colour.

Sixel and Kitty images need the optional `textual-image` package (`pip install
'tuilab[graphics]'`); without it every choice but `ascii` is half-block, silently. They are
scaled from the terminal's cell size in pixels: the kernel's answer when it has one, else
`TEXTUAL_CELL_WIDTH` and `TEXTUAL_CELL_HEIGHT`, else 10 by 20.
"""

from __future__ import annotations

import os
import sys
from types import ModuleType
from typing import Any, Literal

Mode = Literal["sixel", "kitty", "halfblock", "ascii"]
MODES = ("auto", "sixel", "kitty", "halfblock", "ascii")
ENV = "TUILAB_GRAPHICS"
IMAGE_MODES = ("sixel", "kitty")

_state: dict[str, Any] = {}
"""What was learnt once per process: the loaded widget module ("widgets", None when missing)
and the terminal's answer to `auto` ("detected")."""


def requested() -> str:
    """`TUILAB_GRAPHICS` (lower-cased), `auto` when unset or not one of `MODES`."""
    value = os.environ.get(ENV, "").strip().lower()
    return value if value in MODES else "auto"


def _tty(stream: Any) -> bool:
    try:
        return bool(stream) and stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _app_running() -> bool:
    from textual._context import active_app

    return active_app.get(None) is not None


def _cell_pixels() -> tuple[int, int] | None:
    """The terminal's cell size in pixels from TIOCGWINSZ, None when the kernel does not know."""
    if sys.platform == "win32" or not _tty(sys.__stdout__):
        return None
    import fcntl
    import struct
    import termios

    try:
        packed = fcntl.ioctl(sys.__stdout__, termios.TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return None
    rows, columns, width, height = struct.unpack("HHHH", packed)
    if not (rows and columns and width and height):
        return None
    return width // columns, height // rows


def may_ask_terminal() -> bool:
    """Whether `auto` may send the terminal queries (see the module docstring)."""
    env = os.environ
    term = env.get("TERM", "")
    return (
        _tty(sys.__stdin__)
        and _tty(sys.__stdout__)
        and not any(env.get(name) for name in ("TMUX", "STY", "SSH_CONNECTION", "SSH_CLIENT"))
        and not env.get("SSH_TTY")
        and bool(term)
        and not term.startswith(("screen", "tmux", "dumb", "linux"))
        and not _app_running()
        and _cell_pixels() is not None
    )


def _load(*, ask: bool) -> ModuleType | None:
    """`textual_image.widget`, None without textual-image; imported once.

    textual-image asks the terminal about Sixel and Kitty support, and maybe its cell size, when
    it is imported on a terminal (it reads the answers from stdin, 0.1 s each). With `ask`
    false (an explicit mode) it is imported with those queries turned off and the cell size
    taken from the kernel, so it reads nothing: safe even while the app runs.
    """
    if "widgets" in _state:
        return _state["widgets"]
    try:
        from textual_image import _terminal

        if not ask:
            cell = _cell_pixels()
            if cell is not None and not hasattr(_terminal.get_cell_size, "_result"):
                _terminal.get_cell_size._result = _terminal.CellSize(*cell)  # type: ignore[attr-defined]
            original = _terminal.capture_terminal_response

            def silent(*args: Any, **kwargs: Any) -> Any:
                raise _terminal.TerminalError("tuilab: no terminal queries")

            _terminal.capture_terminal_response = silent  # type: ignore[assignment]
            try:
                import textual_image.widget as widgets
            finally:
                _terminal.capture_terminal_response = original  # type: ignore[assignment]
        else:
            import textual_image.widget as widgets
    except ImportError:
        widgets = None
    except Exception:  # an incompatible textual-image: its internals moved
        widgets = None
    _state["widgets"] = widgets
    return widgets


def prepare() -> None:
    """Ask the terminal now if `auto` may (call before the app starts; a no-op otherwise)."""
    if requested() == "auto" and not os.environ.get("NO_COLOR") and "detected" not in _state:
        _state["detected"] = _detect() if may_ask_terminal() else "halfblock"


def _detect() -> Mode:
    widgets = _load(ask=True)
    if widgets is None:
        return "halfblock"
    from textual_image import renderable

    if renderable.Image is renderable.SixelImage:
        return "sixel"
    if renderable.Image is renderable.TGPImage:
        return "kitty"
    return "halfblock"


def resolve(*, headless: bool = False) -> Mode:
    """The renderer to use now, from `TUILAB_GRAPHICS`, `NO_COLOR` and what `prepare` found.

    `headless`: the app has no terminal of its own (run_test); `auto` is half-block then.
    """
    wanted = requested()
    if wanted == "auto":
        if os.environ.get("NO_COLOR"):
            return "ascii"
        if headless:
            return "halfblock"
        wanted = _state.get("detected", "halfblock")
        if wanted == "halfblock":
            return "halfblock"
    if wanted in IMAGE_MODES:
        if wanted == "kitty" and (headless or not _tty(sys.__stdout__)):
            return "halfblock"  # it would write its images to whatever stdout is
        return wanted if _load(ask=False) is not None else "halfblock"
    return wanted  # type: ignore[return-value]


def image_widget(mode: Mode, image: Any, **kwargs: Any) -> Any:
    """A textual-image widget drawing `image` (a PIL image) in `mode` (sixel or kitty)."""
    widgets = _load(ask=False)
    assert widgets is not None and mode in IMAGE_MODES
    cls = widgets.SixelImage if mode == "sixel" else widgets.TGPImage
    return cls(image, **kwargs)


def cell_pixels() -> tuple[int, int]:
    """The cell size textual-image scales images with (width, height in pixels)."""
    widgets = _load(ask=False)
    if widgets is None:
        return (10, 20)
    from textual_image._terminal import get_cell_size

    size = get_cell_size()
    return size.width, size.height
