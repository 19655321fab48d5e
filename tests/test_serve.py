"""`tuilab serve`: the page answers on 127.0.0.1 and its websocket runs the real app."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from conftest import ROOT


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path):
    port = free_port()
    command = [sys.executable, "-m", "tuilab", "serve", "--port", str(port)]
    command += ["--scenarios", str(ROOT / "scenarios"), "--runs-dir", str(tmp_path / "runs")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                page = answer.read().decode()
            break
        except OSError:
            assert process.poll() is None, process.stdout.read().decode()
            assert time.monotonic() < deadline, "tuilab serve did not answer"
            time.sleep(0.3)
    yield port, page
    process.terminate()
    process.wait(timeout=20)


async def screen_text(port: int, wanted: bytes, seconds: float = 60) -> bytes:
    """What the app draws over the websocket, until `wanted` appears."""
    address = f"http://127.0.0.1:{port}/ws"
    async with aiohttp.ClientSession() as session, session.ws_connect(address) as ws:
        await ws.send_str(json.dumps(["resize", {"width": 80, "height": 24}]))
        drawn = b""
        deadline = time.monotonic() + seconds
        while wanted not in drawn and time.monotonic() < deadline:
            message = await asyncio.wait_for(ws.receive(), seconds)
            if message.type == aiohttp.WSMsgType.BINARY:
                drawn += message.data
            elif message.type == aiohttp.WSMsgType.TEXT:
                drawn += message.data.encode()
            else:
                break
        return drawn


def test_serve_answers_on_localhost_and_runs_the_app_per_browser_session(served) -> None:
    port, page = served
    assert f'data-session-websocket-url="ws://127.0.0.1:{port}/ws"' in page
    assert "<div>tuilab</div>" in page  # the title textual-serve was given
    drawn = asyncio.run(screen_text(port, b"Digits quick tour"))
    assert b"Digits quick tour" in drawn  # the picker lists the scenarios folder given
