"""Start the app from the command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuilab.runtime.session import RunRequest

if TYPE_CHECKING:
    from textual.app import App
    from textual.driver import Driver


def launch_app(source: Path, runs_dir: Path) -> int:
    """Open the picker on a folder (or file) of scenarios; return the exit code."""
    from tuilab.app.app import create_app

    return _run(create_app(source, runs_dir))


def _run(app: Any) -> int:
    """Run the app, then print its farewell lines (how to resume a run it left) on the shell."""
    code = app.run() or 0
    for line in app.farewell:
        print(line)
    return code


def launch_app_for_run(request: RunRequest) -> int:
    """Open the app and start the run at once (`tuilab run SCENARIO`, `tuilab resume RUN`)."""
    from tuilab.app.app import create_app

    source = request.scenario.parent if request.resume is None else Path("scenarios")
    return _run(create_app(source, request.runs_dir, request))


def launch_app_attached(folder: Path, runs_dir: Path) -> int:
    """Follow a run another process trains (`tuilab attach RUN`)."""
    from tuilab.app.app import create_app

    return create_app(Path("scenarios"), runs_dir, attach=folder).run() or 0


def launch_app_for_stored(folder: Path, runs_dir: Path) -> int:
    """Open a stored run's dashboard (`tuilab show RUN --app`)."""
    from tuilab.app.app import create_app

    return create_app(Path("scenarios"), runs_dir, stored_run=folder).run() or 0


def own_output(driver: type[Driver]) -> type[Driver]:
    """`driver`, writing the screen to a duplicate of the terminal's descriptor 2.

    Textual writes every frame to `sys.__stderr__`; the Keras import sends descriptor 2 to
    /dev/null for seconds (`backend.stderr_silenced`, in the training or descent worker), and
    each frame written meanwhile, the first full one with the title bar, tabs and footer
    included, was lost: only widgets that changed later were drawn again, until a resize.
    """

    class OwnOutputDriver(driver):  # type: ignore[misc,valid-type]
        def __init__(self, app: App[Any], **kwargs: Any) -> None:
            super().__init__(app, **kwargs)
            terminal = self._file
            self._file = open(  # noqa: SIM115 - closed with the driver
                os.dup(terminal.fileno()),
                "w",
                encoding=terminal.encoding or "utf-8",
                errors="backslashreplace",
            )

        def close(self) -> None:
            super().close()
            self._file.close()

    OwnOutputDriver.__name__ = OwnOutputDriver.__qualname__ = f"OwnOutput{driver.__name__}"
    return OwnOutputDriver
