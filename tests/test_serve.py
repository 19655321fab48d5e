"""`tuilab serve` lets in only its user: the token it prints, its own Origin, a few sessions.

One real server on 127.0.0.1 and a free port for the module (`--max-sessions 2`); hypothesis
generates Origin headers, tokens and terminal sizes, for the guard's functions and, over HTTP,
for the server itself.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from conftest import ROOT
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tuilab.cli import app
from tuilab.cli.serve_guard import (
    MAX_HEIGHT,
    MAX_WIDTH,
    _ClampedService,
    clamp_size,
    same_origin,
    token_matches,
)

CAP = 2
LIVE = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
PRINTABLE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    port: int
    token: str
    page: str
    cookie: str
    log: Path

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("serve")
    port, log = free_port(), folder / "serve.log"
    command = [sys.executable, "-m", "tuilab", "serve", "--port", str(port)]
    command += ["--max-sessions", str(CAP), "--scenarios", str(ROOT / "scenarios")]
    env = {k: v for k, v in os.environ.items() if k not in ("TUILAB_RUNS", "TUILAB_SERVE_TOKEN")}
    env |= {"TUILAB_OFFLINE": "1", "KERAS_HOME": str(folder / "keras"), "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--runs-dir", str(folder / "runs")], stdout=sink, stderr=sink, env=env
        )
    deadline = time.monotonic() + 60
    try:
        while True:
            printed = re.search(rf"http://127\.0\.0\.1:{port}/\?token=(\S+)", log.read_text())
            try:
                if printed:
                    url = f"http://127.0.0.1:{port}/?token={printed[1]}"
                    with urllib.request.urlopen(url, timeout=2) as answer:
                        page, cookie = answer.read().decode(), answer.headers["Set-Cookie"]
                    break
            except OSError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"tuilab serve did not answer:\n{log.read_text()}"
            time.sleep(0.2)
        yield Served(port, printed[1], page, cookie, log)
    finally:
        process.terminate()
        process.wait(timeout=20)


def handshake(served: Served, path: str, headers: dict[str, str], upgrade: bool = True) -> int:
    """The status a request (a websocket handshake when `upgrade`) gets: 101 means let in."""
    if upgrade:
        key = base64.b64encode(os.urandom(16)).decode()
        headers = {"Upgrade": "websocket", "Connection": "Upgrade", **headers}
        headers |= {"Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def quoted(text: str) -> str:
    return urllib.parse.quote(text.encode("utf-8", "surrogatepass"), safe="")


def origin_is_own(origin: str | None, served: Served) -> bool:
    own = {f"http://127.0.0.1:{served.port}", f"https://127.0.0.1:{served.port}"}
    return origin is not None and origin.strip(" ").lower() in own


@LIVE
@given(data=st.data())
def test_a_request_without_the_token_or_a_websocket_from_elsewhere_is_refused(served, data):
    own, port, right = served.origin, served.port, served.token
    near_origins = [own, own.upper(), f"https://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"]
    near_origins += [f"http://localhost:{port}", f"http://[::1]:{port}", "null", "", own + "/"]
    near_origins += [f"{own}.evil.example", f"http://evil.example@127.0.0.1:{port}"]
    near_origins += [f"http://127.0.0.1:0{port}", f"ws://127.0.0.1:{port}", "http://127.0.0.1"]
    origin = data.draw(
        st.none()
        | st.sampled_from(near_origins)
        | st.builds(lambda before, after: before + own + after, PRINTABLE, PRINTABLE)
        | PRINTABLE,
        label="origin",
    )
    near_tokens = [right[:-1], right + "x", right.swapcase(), right[1:] + right[0], ""]
    token = data.draw(
        st.none() | st.just(right) | st.sampled_from(near_tokens) | st.text(max_size=50),
        label="token",
    )
    in_cookie = data.draw(st.booleans(), label="in_cookie")
    target = data.draw(st.sampled_from(["/", "/ws"]), label="target")
    if target == "/ws":  # the token and Origin both right would start an app: elsewhere
        assume(not (token == right and origin_is_own(origin, served)))
    headers, path = {}, target
    if origin is not None:
        headers["Origin"] = origin
    if token is not None and in_cookie:
        headers["Cookie"] = f"tuilab-token-{port}={quoted(token)}"
    elif token is not None:
        path += f"?token={quoted(token)}"
    status = handshake(served, path, headers, upgrade=target == "/ws")
    assert status == (200 if target == "/" and token == right else 403)


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.nip.io", "localhost.evil.example"])
def test_a_dns_rebinding_page_is_refused_though_its_origin_matches_its_host(served, host) -> None:
    headers = {"Host": f"{host}:{served.port}", "Origin": f"http://{host}:{served.port}"}
    assert handshake(served, f"/ws?token={served.token}", headers) == 403
    assert handshake(served, f"/?token={served.token}", headers, upgrade=False) == 403


def test_the_page_opens_its_websocket_on_the_host_and_port_the_browser_used(served) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:  # as through ssh -L 9000:127.0.0.1:PORT
        connection.request("GET", f"/?token={served.token}", headers={"Host": "localhost:9000"})
        page = connection.getresponse().read().decode()
    finally:
        connection.close()
    assert 'data-session-websocket-url="ws://localhost:9000/ws"' in page


def test_a_download_wants_the_token_too(served) -> None:
    assert handshake(served, "/download/somekey", {}, upgrade=False) == 403
    assert handshake(served, f"/download/somekey?token={served.token}", {}, upgrade=False) == 404


async def open_session(served: Served, query: str = "", headers: dict[str, str] | None = None):
    """A websocket as the page opens it; its first message (screen bytes, or a CLOSE)."""
    session = aiohttp.ClientSession()
    try:
        ws = await session.ws_connect(
            f"http://127.0.0.1:{served.port}/ws{query}", origin=served.origin, headers=headers
        )
        first = await asyncio.wait_for(ws.receive(), 60)
    except BaseException:
        await session.close()
        raise
    return session, ws, first


async def screen(ws, until=lambda drawn: False, drawn: bytes = b"", quiet: float = 1.0) -> bytes:
    """`drawn` and the bytes the app draws next, until `until(...)` or `quiet` seconds of none."""
    while not until(drawn):
        try:
            message = await asyncio.wait_for(ws.receive(), quiet)
        except TimeoutError:
            break
        if message.type != aiohttp.WSMsgType.BINARY:
            break
        drawn += message.data
    return drawn


def extent(drawn: bytes) -> tuple[int, int]:
    """The last row and column the app moved the cursor to (CSI row;col H)."""
    moves = [(int(row), int(col)) for row, col in re.findall(rb"\x1b\[(\d+);(\d+)H", drawn)]
    return max(row for row, _ in moves), max(col for _, col in moves)


def test_the_printed_url_sets_a_cookie_and_the_app_answers_at_a_clamped_size(served) -> None:
    assert f'data-session-websocket-url="ws://127.0.0.1:{served.port}/ws"' in served.page
    assert "<div>tuilab</div>" in served.page  # the title textual-serve was given
    assert f"tuilab-token-{served.port}={served.token}" in served.cookie
    assert "HttpOnly" in served.cookie and "SameSite=Strict" in served.cookie

    async def drive() -> tuple[bytes, bytes, bytes]:
        cookie = {"Cookie": f"tuilab-token-{served.port}={served.token}"}  # as the page's tab
        session, ws, first = await open_session(served, "?width=4000&height=4000", cookie)
        async with session, ws:
            assert first.type == aiohttp.WSMsgType.BINARY, first
            drawn = await screen(ws, lambda d: b"Digits quick tour" in d, first.data, quiet=60)
            drawn = await screen(ws, drawn=drawn)  # the first frame, to its end
            await ws.send_str(json.dumps(["resize", {"width": 80, "height": 24}]))
            small = await screen(ws)
            await ws.send_str(json.dumps(["resize", {"width": 4000, "height": 4000}]))
            return drawn, small, await screen(ws)

    first_frame, small, resized = asyncio.run(drive())
    assert b"Digits quick tour" in first_frame  # the picker lists the scenarios folder given
    assert extent(first_frame) == (MAX_HEIGHT, MAX_WIDTH)  # the URL's 4000x4000 clamped
    assert small  # a new frame at 80x24 (from which 4000x4000 must redraw)
    assert extent(resized) == (MAX_HEIGHT, MAX_WIDTH)  # and a resize message's


def test_sessions_past_the_cap_are_refused_with_a_reason_until_one_closes(served) -> None:
    async def accepted():
        """A session let in, retrying while an earlier test's app is still stopping."""
        deadline = time.monotonic() + 60
        while True:
            session, ws, first = await open_session(served, f"?token={served.token}")
            if first.type == aiohttp.WSMsgType.BINARY or time.monotonic() > deadline:
                return session, ws, first
            await session.close()
            await asyncio.sleep(0.3)

    async def drive() -> None:
        opened = await asyncio.gather(*(accepted() for _ in range(CAP)))
        assert all(first.type == aiohttp.WSMsgType.BINARY for _, _, first in opened)
        session, _, refused = await open_session(served, f"?token={served.token}")
        await session.close()
        assert refused.type == aiohttp.WSMsgType.CLOSE
        assert refused.data == aiohttp.WSCloseCode.TRY_AGAIN_LATER
        assert f"{CAP} sessions open (--max-sessions)" in refused.extra
        await opened[0][0].close()  # a tab closes: its slot comes back once its app stops
        session, _, first = await accepted()
        await session.close()
        assert first.type == aiohttp.WSMsgType.BINARY
        for session, _, _ in opened[1:]:
            await session.close()

    asyncio.run(drive())
    log = served.log.read_text()
    assert log.count(served.token) == 1, log  # printed once; the access log shows token=...
    assert "token=..." in log


json_numbers = st.integers() | st.floats(allow_nan=True, allow_infinity=True)
json_values = json_numbers | st.none() | st.booleans() | st.text(max_size=5) | st.lists(st.none())


@settings(max_examples=200)
@given(width=json_values, height=json_values)
def test_a_resize_reaches_the_app_clamped_or_not_at_all(width, height) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.sizes: list[tuple[int, int]] = []

        async def set_terminal_size(self, width: int, height: int) -> None:
            self.sizes.append((width, height))

    recorder = Recorder()
    with pytest.raises(StopIteration):  # the recorder awaits nothing: one step runs it all
        _ClampedService(recorder).set_terminal_size(width, height).send(None)
    numbers = [v for v in (width, height) if isinstance(v, int | float) and not isinstance(v, bool)]
    finite = len(numbers) == 2 and all(abs(v) < float("inf") for v in numbers)
    assert len(recorder.sizes) == (1 if finite else 0)
    for sent_width, sent_height in recorder.sizes:
        assert type(sent_width) is int and type(sent_height) is int
        assert 1 <= sent_width <= MAX_WIDTH and 1 <= sent_height <= MAX_HEIGHT
        if isinstance(width, int) and 1 <= width <= MAX_WIDTH:
            assert sent_width == width
    assert clamp_size(4000, 4000) == (MAX_WIDTH, MAX_HEIGHT)


hosts = st.sampled_from(["127.0.0.1", "localhost", "[::1]", "gpu-box", "example.com", "10.0.0.7"])


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=hosts,
    port=st.integers(1, 65535) | st.none(),
    other_host=hosts,
    other_port=st.integers(1, 65535) | st.none(),
)
def test_an_origin_is_its_host_or_foreign(scheme, host, port, other_host, other_port) -> None:
    default = {"http": 80, "https": 443}[scheme]
    netloc = host if port is None else f"{host}:{port}"
    other = other_host if other_port is None else f"{other_host}:{other_port}"
    assert same_origin(f"{scheme}://{netloc}", netloc)
    assert same_origin(f"{scheme.upper()}://{netloc.upper()}", netloc)
    same = host == other_host and (port or default) == (other_port or default)
    assert same_origin(f"{scheme}://{netloc}", other) == same
    for junk in ("/", "/path", "?q", "#f", ".evil.example", "@evil.example", ":", " x"):
        assert not same_origin(f"{scheme}://{netloc}{junk}", netloc)
    assert not same_origin(None, netloc) and not same_origin("null", netloc)
    assert not same_origin(f"ws://{netloc}", netloc) and not same_origin(
        f"{scheme}://{netloc}", None
    )


@given(given_token=st.text() | st.none(), expected=st.text(min_size=1))
def test_a_token_matches_only_itself(given_token, expected) -> None:
    assert token_matches(expected, expected)
    assert token_matches(given_token, expected) == (given_token == expected)
    assert token_matches(given_token, None)  # --no-token


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--host", "0.0.0.0", "--no-token"], "loopback --host only"),
        (["--token", " "], "--token is empty"),
        (["--no-token", "--token", "x"], "contradict"),
    ],
)
def test_serve_refuses_to_go_without_a_token_off_loopback(arguments, message) -> None:
    result = CliRunner().invoke(app, ["serve", *arguments])
    assert result.exit_code == 2 and message in result.output, result.output
