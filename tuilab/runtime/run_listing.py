"""Finding stored runs: every run under a runs folder, and one run by path, stamp or `latest`."""

from __future__ import annotations

from pathlib import Path

from tuilab import layout
from tuilab.errors import RunStoreError
from tuilab.runtime.run_folder import RunFolder, RunInfo


def list_runs(root: Path) -> list[RunInfo]:
    """Every stored run under `root` (corrupt ones included), newest first."""
    if not root.is_dir():
        return []
    runs = []
    for scenario_folder in sorted(root.iterdir()):
        if not scenario_folder.is_dir() or scenario_folder.name.startswith("."):
            continue
        for path in scenario_folder.iterdir():
            folder = RunFolder(path)
            if path.is_dir() and folder.looks_like_run():
                runs.append(folder.info())
    runs.sort(key=lambda r: (r.started, r.folder.name), reverse=True)
    return runs


def find_run(
    root: Path, name: str, statuses: tuple[str, ...] = (), *, logdirs: bool = False
) -> RunFolder:
    """Resolve a run given as a path, `<stem>/<stamp>`, a stamp, or `latest`/`<stem>` (newest).

    A folder given by path is a run only by its own `run.json`; with `logdirs` (commands that
    only read), a path may also be a TensorBoard log directory (`tensorboard_read`). Commands
    that write into a run (tag, note, steer, resume) leave `logdirs` off, so they never write
    into a folder that is not a tuilab run.

    With `statuses`, `latest` and a stem mean the newest run in one of them when there is one
    (`tuilab stop latest` stops the newest *running* run), else the newest run.

    Raises:
        RunStoreError: nothing matches.
    """
    from tuilab.runtime.tensorboard_read import is_tensorboard_logdir

    for candidate in (Path(name), root / name):
        if candidate.is_dir() and RunFolder(candidate).is_run():
            return RunFolder(candidate)
    if logdirs and is_tensorboard_logdir(Path(name)):  # a path given: a stem is never walked
        return RunFolder(Path(name))
    wanted = ("latest",)
    matches = [
        info
        for info in list_runs(root)
        if name in (*wanted, info.stem, info.folder.name, info.run_id)
    ]
    preferred = [info for info in matches if info.status in statuses]
    for info in preferred or matches:
        return RunFolder(info.folder)
    hint = ""
    if not logdirs and Path(name).is_dir():
        own = Path(name) / layout.RUN_JSON
        why = "run.json is a symbolic link" if own.is_symlink() else "has no run.json"
        hint = f"; {name}: {why}, so it is not a tuilab run"
    raise RunStoreError(f"no stored run {name!r} under {root} (see `tuilab runs`){hint}")
