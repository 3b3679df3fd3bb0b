"""Containment in the browser's network stack: nothing a page does leaves the site.

Each browser context runs with Chromium's own proxy settings: the site's exact origins are
in the proxy *bypass* list (`<-loopback>` first, so loopback hosts get no implicit pass) and
go direct; every other request — navigations and each redirect hop, subresources, fetch/XHR,
beacons, WebSockets, dedicated/shared/service workers, popups, iframes, prefetches and
preconnects — is sent to the "proxy", a sinkhole on 127.0.0.1 in this process that answers
none of them. Chromium resolves the proxy before it resolves or connects to a host, so a
blocked request never opens a connection to it (nor a DNS lookup for it). Allowed requests pay
nothing: no Python round trip per request, unlike a route handler (~0.11 s more per page
load measured on a 22-request back-office page; see DESIGN.md).

The sinkhole records every attempt (method, target, and the kind the browser declared in its
`Sec-Fetch-*` headers; https and WebSocket targets arrive as `CONNECT host:port`, with no
headers: kind `websocket` when the page opened a socket there, else `tunnel`).
Page-level listeners add what only the page knows: a main-frame navigation that was refused
(a redirect off-site), which fails the running step.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agent.core.origins import Origin, origin_of

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page, Request, WebSocket

Record = Callable[[str, dict[str, Any]], None]

MAX_RECORDED = 200  # a hostile page can make thousands of attempts; the rest are counted
_HEAD_LIMIT = 32 * 1024
_HEAD_TIMEOUT_S = 5.0
_FORBIDDEN = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_REPEAT_S = 2.0  # the same request again within this is Chromium's retry, counted only
_SOCKET_MEMORY_S = 10.0
_CONNECT_WAIT_S = 0.3  # how long a page's WebSocket names the kind of a CONNECT

# Sec-Fetch-Dest -> the kind recorded
_KIND_BY_DEST = {
    "document": "navigation",
    "iframe": "frame",
    "frame": "frame",
    "empty": "fetch",
    "sharedworker": "shared_worker",
    "serviceworker": "service_worker",
}


def request_kind(method: str, headers: dict[str, str]) -> str:
    """The kind of a plain-http request, from the headers Chromium sends with it."""
    if headers.get("upgrade", "").lower() == "websocket":
        return "websocket"
    if "prefetch" in headers.get("sec-purpose", "") or "prefetch" in headers.get("purpose", ""):
        return "prefetch"
    dest = headers.get("sec-fetch-dest", "")
    if not dest:  # Chromium sends Sec-Fetch-* to trustworthy origins only (https, loopback)
        return _kind_from_accept(headers)
    if dest == "empty" and method == "POST" and headers.get("sec-fetch-mode") == "no-cors":
        return "beacon"
    return _KIND_BY_DEST.get(dest, dest)


def _kind_from_accept(headers: dict[str, str]) -> str:
    accept = headers.get("accept", "")
    if headers.get("upgrade-insecure-requests") == "1" or accept.startswith("text/html"):
        return "navigation"
    if accept.startswith("image/"):
        return "image"
    if accept.startswith("text/css"):
        return "style"
    return "other"


class Containment:
    """One browser context's boundary: its proxy settings, its sinkhole, what was blocked."""

    def __init__(self, origins: tuple[Origin, ...]) -> None:
        self.origins = origins
        self.record: Record | None = None  # set while a run can record events
        self.blocked = 0
        self._left_site: list[str] = []
        self._server: asyncio.Server | None = None
        self._sockets: dict[str, float] = {}  # "host:port" of refused WebSockets -> when
        self._recent: dict[str, float] = {}  # "METHOD target" -> when last recorded
        self._pending: list[str] = []  # CONNECT targets waiting a moment for their kind
        self._main: Page | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> Containment:
        self._server = await asyncio.start_server(self._refuse, "127.0.0.1", 0, limit=_HEAD_LIMIT)
        return self

    async def close(self) -> None:
        self.flush()
        self.record = None
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("containment is not started")
        return int(self._server.sockets[0].getsockname()[1])

    def context_options(self) -> dict[str, Any]:
        """Options for `browser.new_context`: the proxy, and no service workers (they
        would answer the page's requests themselves, out of sight of commit binding)."""
        bypass = ["<-loopback>", *(o.bypass_rule() for o in self.origins)]
        return {
            "proxy": {"server": f"http://127.0.0.1:{self.port}", "bypass": ",".join(bypass)},
            "service_workers": "block",
        }

    # ------------------------------------------------------------------ page side

    def attach(self, context: BrowserContext) -> None:
        """Listen to every page of the context (popups too), once, when it is created."""
        for page in context.pages:
            self._watch_page(page)
        context.on("page", self._watch_page)

    def bind(self, main: Page, record: Record) -> None:
        """Record into the run that owns the context now; `main` is its page."""
        self.record, self._main = record, main
        self._left_site.clear()

    def unbind(self) -> None:
        self.flush()
        self.record, self._main = None, None

    def _watch_page(self, page: Page) -> None:
        page.on("requestfailed", self._on_request_failed)
        page.on("websocket", self._on_websocket)

    def allows(self, url: str) -> bool:
        origin = origin_of(url)
        return origin is not None and origin in self.origins

    def _on_request_failed(self, request: Request) -> None:
        if request.resource_type != "document" or self.allows(request.url):
            return
        if request.url.startswith(("about:", "chrome-error:", "data:", "blob:")):
            return
        came_from = request.redirected_from
        frame = request.frame
        main = self._main is not None and frame == self._main.main_frame
        where = "main" if main else ("frame" if frame.parent_frame is not None else "popup")
        data = {
            "url": request.url,
            "method": request.method,
            "frame": where,
            "redirected_from": came_from.url if came_from is not None else None,
        }
        self._emit("navigation_blocked", data)
        if main:
            src = f" (redirected from {came_from.url})" if came_from is not None else ""
            self._left_site.append(f"{request.method} {request.url}{src}")

    def _on_websocket(self, socket: WebSocket) -> None:
        origin = origin_of(socket.url)
        if origin is not None and origin not in self.origins:
            self._sockets[f"{origin.host}:{origin.port}"] = time.monotonic()

    def take_left_site(self) -> str | None:
        """A main-frame navigation refused since the last call (the first one), or None."""
        if not self._left_site:
            return None
        first = self._left_site[0]
        self._left_site.clear()
        return first

    # ------------------------------------------------------------------ sinkhole

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one request head, record it, answer nothing (CONNECT: 403), close. The body
        — a password a redirect tried to carry away — is never read."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            head = b""  # a preconnect, or a head too large: nothing worth recording
        except Exception:  # never let a hostile client crash the loop
            head = b""
        try:
            if head:
                connect = self._note(head)
                if connect:
                    writer.write(_FORBIDDEN)
                    await writer.drain()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _note(self, head: bytes) -> bool:
        """Record the attempt in `head`; True when it was a CONNECT."""
        lines = head.decode("latin-1").split("\r\n")
        method, _, rest = lines[0].partition(" ")
        target = rest.rpartition(" ")[0] or rest
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        key = f"{method} {target}"
        now = time.monotonic()
        repeat = now - self._recent.get(key, -_REPEAT_S) < _REPEAT_S  # Chromium retries once
        if len(self._recent) > 1000:  # a hostile page making endless distinct attempts
            self._recent.clear()
        self._recent[key] = now
        if repeat:
            self.blocked += 1
        elif method == "CONNECT":
            # https and ws(s) arrive as a bare tunnel; the page's WebSocket event, which may
            # reach us a moment later, says when it was a socket
            self._pending.append(target)
            asyncio.get_running_loop().call_later(_CONNECT_WAIT_S, self._flush_one)
        else:
            self._record(request_kind(method, headers), method, target)
        return method == "CONNECT"

    def _flush_one(self) -> None:
        if self._pending:
            target = self._pending.pop(0)
            kind = "websocket" if self._recent_socket(target) else "tunnel"
            self._record(kind, "CONNECT", target)

    def flush(self) -> None:
        """Record the attempts still waiting for their kind (before the run ends)."""
        while self._pending:
            self._flush_one()

    def _record(self, kind: str, method: str, target: str) -> None:
        self._emit("network_blocked", {"kind": kind, "method": method, "target": target[:500]})

    def _recent_socket(self, host_port: str) -> bool:
        seen = self._sockets.get(host_port)
        return seen is not None and time.monotonic() - seen < _SOCKET_MEMORY_S

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        self.blocked += 1
        if self.record is None or self.blocked > MAX_RECORDED:
            return
        with contextlib.suppress(Exception):  # the run may be sealed; the block still held
            self.record(kind, data)
