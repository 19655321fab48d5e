"""The door of `tuilab serve`: textual-serve's aiohttp server, letting in only its user.

textual-serve starts one app process per websocket, for any page that opens one. `GuardedServer`
subclasses its `Server` and, before an app process starts, refuses (HTTP 403):

- a request without the server's token (the `token` query parameter, or the cookie the page
  sets from it), compared with `hmac.compare_digest`; `token=None` (`--no-token`) skips this;
- a websocket whose `Origin` is not the page's own (scheme http/https, same host:port as `Host`):
  a page on another site cannot drive the app, and a missing `Origin` is refused too;
- on a loopback address, a `Host` that is not a loopback name (a DNS-rebinding page: its Origin
  and Host agree, but they name another site).

It also refuses a websocket past `max_sessions` open ones (close code 1013 with the reason) and
clamps a terminal size (the websocket URL's and every `resize` message's) to `MAX_WIDTH` x
`MAX_HEIGHT` before it reaches the app process. This module imports textual-serve: the CLI
imports it inside `tuilab serve` only, so `tuilab --help` stays fast.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import re
from typing import Any

import aiohttp_jinja2
from aiohttp import WSCloseCode, web
from textual_serve.server import Server, to_int

MAX_WIDTH = 500
"""Widest terminal an app is given, in cells (a 4000x4000 one cost 477 MB)."""
MAX_HEIGHT = 200
"""Tallest terminal an app is given, in cells."""

log = logging.getLogger("tuilab.serve")
_ORIGIN = re.compile(r"(?P<scheme>https?)://(?P<netloc>[^/?#@\\\s]+)", re.IGNORECASE)
_NETLOC = re.compile(  # host[:port], a port without leading zeros (browsers send none)
    r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[^:\[\]/?#@\\\s]+))(?::(?P<port>[1-9]\d{0,4}))?"
)
_DEFAULT_PORT = {"http": 80, "https": 443}
_TOKEN_IN_URL = re.compile(r"(?<=[?&]token=)[^&\s\"]+")


def is_loopback(host: str) -> bool:
    """True for a name or address only this machine reaches (127.0.0.1, ::1, localhost)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _authority(netloc: str, scheme: str) -> tuple[str, int] | None:
    """(host, port) of `host[:port]` (the port defaulting to the scheme's), None when malformed."""
    match = _NETLOC.fullmatch(netloc.lower()) if netloc.isascii() else None
    if match is None:
        return None
    port = int(match["port"]) if match["port"] else _DEFAULT_PORT[scheme]
    return (match["v6"] or match["name"], port) if port <= 65535 else None


def _host_name(host: str | None) -> str:
    """The name or address in a Host header (`[::1]:8000` -> `::1`), "" when malformed."""
    match = _NETLOC.fullmatch(host.lower()) if host and host.isascii() else None
    return "" if match is None else match["v6"] or match["name"]


def same_origin(origin: str | None, host: str | None) -> bool:
    """True when `origin` (a websocket's Origin header) is the page of `host` (its Host header).

    Browsers send `scheme://host[:port]` and nothing else; anything else (no header, `null`, a
    path, user info, another host or port) is foreign.
    """
    if not origin or not host:
        return False
    match = _ORIGIN.fullmatch(origin) if origin.isascii() else None
    if match is None:
        return False
    scheme = match["scheme"].lower()
    theirs = _authority(match["netloc"], scheme)
    return theirs is not None and theirs == _authority(host, scheme)


def token_matches(given: str | None, expected: str | None) -> bool:
    """True when `given` is the token (always, when there is none); constant time."""
    if expected is None:
        return True
    if given is None:
        return False
    # surrogatepass: a query or cookie may decode to any string, lone surrogates included.
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def _cell_count(value: object, top: int) -> int | None:
    """`value` (from a client) as a size in 1..top, None when it is not a finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return max(1, min(top, int(value)))


def clamp_size(width: object, height: object) -> tuple[int, int] | None:
    """A client's terminal size within 1..MAX_WIDTH x 1..MAX_HEIGHT; None when malformed."""
    cells = _cell_count(width, MAX_WIDTH), _cell_count(height, MAX_HEIGHT)
    return None if None in cells else cells  # type: ignore[return-value]


class _ClampedService:
    """An `AppService` whose resizes are clamped (and malformed ones dropped)."""

    def __init__(self, service: Any) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service, name)

    async def set_terminal_size(self, width: object, height: object) -> None:
        if (size := clamp_size(width, height)) is not None:
            await self._service.set_terminal_size(*size)


def _redact(record: logging.LogRecord) -> bool:
    """Keep the token out of the access log (it may be a file others read)."""
    record.msg = _TOKEN_IN_URL.sub("...", str(record.msg))
    return True


class GuardedServer(Server):
    """textual-serve's `Server` behind a token, an Origin check and a session cap."""

    def __init__(
        self, command: str, *, token: str | None, max_sessions: int, **kwargs: Any
    ) -> None:
        super().__init__(command, **kwargs)
        self.token = token
        self.max_sessions = max_sessions
        self.sessions = 0
        """Websockets with an app process (or one starting, or stopping) now."""

    def refusal(self, request: web.Request, *, websocket: bool) -> str | None:
        """Why `request` may not come in, or None when it may."""
        host = request.headers.get("Host")
        if is_loopback(self.host) and not is_loopback(_host_name(host)):
            return f"Host {host!r} is not a loopback name (this server listens on {self.host})"
        if websocket and not same_origin(origin := request.headers.get("Origin"), host):
            return f"websocket from another origin refused (Origin {origin!r}, Host {host!r})"
        given = request.query.get("token") or request.cookies.get(self.cookie_name)
        if not token_matches(given, self.token):
            return "wrong or missing token: open the URL tuilab serve printed (it ends ?token=...)"
        return None

    def guard(self, request: web.Request, *, websocket: bool = False) -> None:
        """Raise 403 (before any app process starts) unless `request` may come in."""
        if (reason := self.refusal(request, websocket=websocket)) is not None:
            log.warning("tuilab serve refused %s from %r: %s", request.path, request.remote, reason)
            raise web.HTTPForbidden(text=f"tuilab serve: {reason}\n")

    @property
    def cookie_name(self) -> str:
        """Cookies ignore ports: one name per port, so two servers' tokens do not collide."""
        return f"tuilab-token-{self.port}"

    def initialize_logging(self) -> None:
        super().initialize_logging()
        logging.getLogger("aiohttp.access").addFilter(_redact)

    async def on_startup(self, app: web.Application) -> None:
        """Quiet: the CLI prints the URL with its token (textual-serve's would lack it)."""

    async def handle_index(self, request: web.Request) -> web.Response:  # type: ignore[override]
        """The page, its websocket URL on the Host the browser used (SSH -L to any port works)."""
        self.guard(request)
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{'wss' if request.secure else 'ws'}://{request.host}/ws",
            "config": {"static": {"url": "/static/"}},
            "application": {"name": self.title},
        }
        response = aiohttp_jinja2.render_template("app_index.html", request, context)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Referrer-Policy"] = "no-referrer"
        if self.token is not None:
            response.set_cookie(
                self.cookie_name, self.token, httponly=True, samesite="Strict", path="/"
            )
        return response

    async def handle_download(self, request: web.Request) -> web.StreamResponse:
        self.guard(request)
        return await super().handle_download(request)

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Guard, cap and clamp, then textual-serve's handler starts the app process."""
        self.guard(request, websocket=True)
        if self.sessions >= self.max_sessions:
            websocket = web.WebSocketResponse()
            await websocket.prepare(request)
            reason = f"tuilab serve: {self.sessions} sessions open (--max-sessions): close one"
            await websocket.close(code=WSCloseCode.TRY_AGAIN_LATER, message=reason.encode())
            log.warning("%s (refused %r)", reason, request.remote)
            return websocket
        self.sessions += 1
        try:
            width = max(1, min(MAX_WIDTH, to_int(request.query.get("width", "80"), 80)))
            height = max(1, min(MAX_HEIGHT, to_int(request.query.get("height", "24"), 24)))
            clamped = request.rel_url.update_query(width=str(width), height=str(height))
            return await super().handle_websocket(request.clone(rel_url=clamped))
        finally:
            self.sessions -= 1

    async def _process_messages(self, websocket: web.WebSocketResponse, app_service: Any) -> None:
        await super()._process_messages(websocket, _ClampedService(app_service))
