"""`tuilab serve`: the same app in a browser, through textual-serve.

Each browser tab runs its own `tuilab` app process on this machine (textual-serve starts the
command and relays its screen over a websocket). It listens on 127.0.0.1 by default: from
another machine, forward the port over SSH (`ssh -L 8000:127.0.0.1:8000 gpu-box`) rather than
listening on every interface, since whoever reaches the page can train and delete runs.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from tuilab.cli.common import RunsDirOption, app, err, runs_dir
from tuilab.presentation.text import plain


def serve_command(scenarios: Path, runs: Path) -> str:
    """The command each browser session runs: this Python, this tuilab, absolute folders."""
    words = [sys.executable, "-m", "tuilab", "--scenarios", str(scenarios.resolve())]
    return shlex.join([*words, "--runs-dir", str(runs.resolve())])


@app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    scenarios: Annotated[
        Path, typer.Option("--scenarios", help="Folder of scenario files the app lists.")
    ] = Path("scenarios"),
    runs: RunsDirOption = None,
) -> None:
    """Serve the app in a browser (textual-serve); each tab gets an app of its own."""
    from textual_serve.server import Server

    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(
            plain(f"listening on {host}: anyone who reaches it can train and delete runs", "yellow")
        )
    url = f"http://{host}:{port}"
    err.print(plain(f"tuilab in a browser at {url} (Ctrl-C stops it)"))
    Server(serve_command(scenarios, runs_dir(runs)), host=host, port=port, title="tuilab").serve()
