"""Drive the real app in a pseudo-terminal until its stored run ends (for the benchmarks).

The app trains as a user would see it: a terminal of the given size, drained as a real one
would be; once `run.json` says the run is no longer running, `q` quits it. The figures are read
from the stored run's events, so the app's own drawing never times itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def _finished(runs: Path) -> bool:
    for meta in runs.glob("*/*/run.json"):
        with contextlib.suppress(ValueError):
            return json.loads(meta.read_text()).get("status") != "running"
    return False


def app_events(
    args: list[str],
    runs: Path,
    env: dict[str, str],
    size: tuple[int, int] = (80, 24),
    on_poll: Callable[[], None] | None = None,
) -> list[dict]:
    """Run `args` (a `tuilab run` storing under `runs`) in a pty; return its stored events.

    `on_poll` is called every 50 ms while it trains (e.g. to note when epochs end)."""
    leader, follower = pty.openpty()
    env = env | {"TERM": "xterm-256color", "COLUMNS": str(size[0]), "LINES": str(size[1])}
    process = subprocess.Popen(
        [*args, "--runs-dir", str(runs)],
        stdin=follower, stdout=follower, stderr=follower, env=env, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    os.set_blocking(leader, False)
    try:
        while not _finished(runs):
            if process.poll() is not None:
                raise RuntimeError(f"the app exited with {process.returncode}")
            with contextlib.suppress(OSError):
                os.read(leader, 1 << 16)  # drain the terminal, as a real one would
            if on_poll is not None:
                on_poll()
            time.sleep(0.05)
        os.write(leader, b"q")
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(leader)
    (log,) = runs.glob("*/*/events.jsonl")
    return [json.loads(line) for line in log.read_text().splitlines()]
