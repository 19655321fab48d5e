"""`tuilab serve`: the same app in a browser, through textual-serve.

Each browser tab runs its own `tuilab` app process on this machine (textual-serve starts the
command and relays its screen over a websocket). Whoever drives the page can train and delete
runs, so the page and its websocket want the token printed at start (`?token=...`, as Jupyter),
a websocket must come from the page's own origin, and sessions and terminal sizes are capped
(`tuilab.cli.serve_guard`). It listens on 127.0.0.1 by default: from another machine, forward
the port over SSH (`ssh -L 8000:127.0.0.1:8000 gpu-box`) rather than listen on every interface.
"""

from __future__ import annotations

import secrets
import shlex
import socket
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


def page_url(host: str, port: int, token: str | None) -> str:
    """The URL to open: a wildcard address becomes this machine's name, IPv6 in brackets."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/" + ("" if token is None else f"?token={token}")


def usage_error(message: str) -> typer.Exit:
    err.print(plain(message, "red"))
    return typer.Exit(2)


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
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="TUILAB_SERVE_TOKEN",
            show_envvar=True,
            help="The token the page wants (default: a random one, printed in the URL).",
        ),
    ] = None,
    no_token: Annotated[
        bool,
        typer.Option("--no-token", help="No token (loopback only: any local user gets in)."),
    ] = False,
    max_sessions: Annotated[
        int,
        typer.Option("--max-sessions", min=1, help="Browser sessions (app processes) at once."),
    ] = 4,
) -> None:
    """Serve the app in a browser (textual-serve); each tab gets an app of its own."""
    from tuilab.cli.serve_guard import GuardedServer, is_loopback

    loopback = is_loopback(host)
    if no_token and not loopback:
        raise usage_error(f"--no-token is for a loopback --host only, not {host}")
    if no_token and token is not None:
        raise usage_error("--no-token and --token (or $TUILAB_SERVE_TOKEN) contradict each other")
    if token is not None and not token.strip():
        raise usage_error("--token is empty (use --no-token on loopback to go without one)")
    if not no_token and token is None:
        token = secrets.token_urlsafe(32)
    if not loopback:
        err.print(plain(f"listening on {host}: whoever has the token can train and delete runs"))
    url = page_url(host, port, None if no_token else token)
    err.print(plain(f"tuilab in a browser: open {url}  (Ctrl-C stops it)"))
    command = serve_command(scenarios, runs_dir(runs))
    server = GuardedServer(
        command,
        token=None if no_token else token,
        max_sessions=max_sessions,
        host=host,
        port=port,
        title="tuilab",
    )
    server.serve()
