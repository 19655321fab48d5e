"""Start the app from the command line."""

from __future__ import annotations

from pathlib import Path

from tuilab.runtime.session import RunRequest


def launch_app(source: Path, runs_dir: Path) -> int:
    """Open the picker on a folder (or file) of scenarios; return the exit code."""
    from tuilab.app.app import create_app

    return create_app(source, runs_dir).run() or 0


def launch_app_for_run(request: RunRequest) -> int:
    """Open the app and start the run at once (`tuilab run SCENARIO`)."""
    from tuilab.app.app import create_app

    source = request.scenario.parent
    return create_app(source, request.runs_dir, request).run() or 0


def launch_app_attached(folder: Path, runs_dir: Path) -> int:
    """Follow a run another process trains (`tuilab attach RUN`)."""
    from tuilab.app.app import create_app

    return create_app(Path("scenarios"), runs_dir, attach=folder).run() or 0


def launch_app_for_stored(folder: Path, runs_dir: Path) -> int:
    """Open a stored run's dashboard (`tuilab show RUN --app`)."""
    from tuilab.app.app import create_app

    return create_app(Path("scenarios"), runs_dir, stored_run=folder).run() or 0
