"""Start the app from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuilab.runtime.session import RunRequest


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
