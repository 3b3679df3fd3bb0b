"""A tiny back office over real HTTP on 127.0.0.1, for engine tests that must not wait for the
sandbox: a login with a cookie session, an order list and detail, a refund dialog, a flaky
page, a page part loaded late that can fail, a challenge page and a few traps (duplicates, an
outside link, slow content).
"""

from __future__ import annotations

import html
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

USER, PASSWORD = "lead@local.test", "s3cret-pa55word"

ORDERS = {
    "A100000000001": {
        "status": "Paid",
        "total": "$25.00",
        "placed": "20 Nov 2026",
        "items": [("SKU-1", "Mug", "2", "$10.00"), ("SKU-2", "Lid", "1", "$5.00")],
    },
    "A100000000002": {
        "status": "Refunded",
        "total": "€1.234,50",
        "placed": "2026-11-21",
        "items": [("SKU-3", "Kettle", "1", "€1.234,50")],
    },
}

LAYOUT = """<!doctype html><html><head><title>{title}</title></head><body>
<nav><a href="/orders">Orders</a> <a href="http://evil.example/steal">Partner</a></nav>
<main>{body}</main></body></html>"""


class State:
    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.flaky_left = 0
        self.refunds: list[dict[str, str]] = []
        self.challenge = False
        self.refund_fails = False
        self.late_part_fails = 0  # /late-part answers 500 this many times
        self.requests: list[str] = []


class Handler(BaseHTTPRequestHandler):
    state: State

    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _page(self, title: str, body: str, status: int = 200) -> None:
        self._send(status, LAYOUT.format(title=html.escape(title), body=body))

    def _redirect(self, to: str, cookie: str | None = None) -> None:
        headers = {"Location": to}
        if cookie:
            headers["Set-Cookie"] = cookie
        self._send(303, "", headers)

    def _logged_in(self) -> bool:
        cookie = self.headers.get("Cookie", "")
        sids = {p.split("=", 1)[1] for p in cookie.split("; ") if p.startswith("sid=")}
        return bool(sids & self.state.sessions)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.state.requests.append(f"GET {url.path}")
        query = parse_qs(url.query)
        if url.path == "/login":
            return self._page("Sign in", LOGIN_FORM)
        if url.path == "/flaky":
            if self.state.flaky_left > 0:
                self.state.flaky_left -= 1
                return self._page("Server error", "<h1>Internal error</h1>", 500)
            return self._page("Flaky", "<h1>Finally</h1>")
        if url.path == "/static":
            return self._page("Static", STATIC)
        if url.path == "/slow":
            return self._page("Slow", SLOW)
        if url.path == "/late":
            return self._page("Late", LATE)
        if url.path == "/visits":  # counts visits of one browser context in a cookie
            cookie = self.headers.get("Cookie", "")
            seen = [p.split("=", 1)[1] for p in cookie.split("; ") if p.startswith("visits=")]
            count = int(seen[0]) + 1 if seen and seen[0].isdigit() else 1
            return self._send(
                200,
                LAYOUT.format(title="Visits", body=f"<p data-testid=visits>{count}</p>"),
                {"Set-Cookie": f"visits={count}; Path=/"},
            )
        if url.path == "/late-part":
            if self.state.late_part_fails > 0:
                self.state.late_part_fails -= 1
                return self._send(500, "<h1>Internal error</h1>")
            return self._send(200, "<p data-testid=part>Delivered</p>")
        if not self._logged_in():
            return self._redirect("/login")
        if self.state.challenge:
            return self._page("Check", "<h1>Security check</h1><p>Tick the box.</p>")
        if url.path == "/orders":
            wanted = query.get("search", [""])[0]
            rows = "".join(
                f'<tr><td><a href="/orders/{oid}">{oid}</a></td><td>{o["status"]}</td>'
                f"<td>{o['total']}</td></tr>"
                for oid, o in ORDERS.items()
                if wanted in oid
            )
            return self._page("Orders", ORDERS_PAGE.format(rows=rows))
        if url.path.startswith("/orders/"):
            oid = url.path.split("/")[2]
            order = ORDERS.get(oid)
            if order is None:
                return self._page("Not found", "<h1>No such order</h1>", 404)
            items = "".join(
                f"<tr><td>{s}</td><td>{n}</td><td>{q}</td><td>{p}</td></tr>"
                for s, n, q, p in order["items"]
            )
            return self._page(
                f"Order {oid}",
                DETAIL.format(
                    oid=oid,
                    rows=items,
                    status=order["status"],
                    total=order["total"],
                    placed=order["placed"],
                ),
            )
        return self._page("Not found", "<h1>Not found</h1>", 404)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.state.requests.append(f"POST {url.path}")
        length = int(self.headers.get("Content-Length", "0"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if url.path == "/login":
            if form.get("username") == USER and form.get("password") == PASSWORD:
                sid = uuid.uuid4().hex
                self.state.sessions.add(sid)
                return self._redirect("/orders", f"sid={sid}; Path=/; HttpOnly")
            return self._page("Sign in", "<p role=alert>Wrong password</p>" + LOGIN_FORM, 401)
        if url.path.endswith("/refund") and self._logged_in():
            if self.state.refund_fails:  # applied or not? the agent cannot know
                return self._page("Server error", "<h1>Internal error</h1>", 500)
            self.state.refunds.append(form)
            return self._page("Refunded", "<h1>Refund submitted</h1>")
        return self._page("Forbidden", "<h1>Forbidden</h1>", 403)


LOGIN_FORM = """<h1>Sign in</h1><form method=post action=/login>
<label>Username <input name=username></label>
<label>Password <input name=password type=password></label>
<button type=submit>Sign in</button></form>"""

ORDERS_PAGE = """<h1>Orders</h1>
<form action=/orders><label>Search orders <input name=search></label></form>
<table aria-label=Orders><thead><tr><th>Order</th><th>Status</th><th>Total</th></tr></thead>
<tbody>{rows}</tbody></table>"""

DETAIL = """<h1>Order {oid}</h1>
<dl><dt id=l-status>Status</dt><dd aria-labelledby=l-status data-field=status>{status}</dd>
<dt id=l-total>Refundable amount</dt><dd aria-labelledby=l-total>{total}</dd>
<dt>Placed</dt><dd data-testid=placed>{placed}</dd></dl>
<a href="/orders/{oid}/invoice.pdf">Invoice</a>
<table aria-label=Items><thead><tr><th>SKU</th><th>Product</th><th>Quantity</th><th>Price</th>
</tr></thead><tbody>{rows}</tbody></table>
<ul><li class=tag>gift</li><li class=tag>express</li></ul>
<button type=button onclick="document.getElementById('refund').hidden=false">Refund</button>
<form id=refund hidden method=post action="/orders/{oid}/refund" role=dialog aria-label=Refund>
<label>Amount <input name=amount></label>
<label>Reason <select name=reason><option value=damaged>Damaged item</option>
<option value=other>Other</option></select></label>
<label><input type=checkbox name=notify checked> Notify the customer</label>
<button type=submit>Confirm refund</button></form>"""

STATIC = """<h1>Static</h1><button>Save</button><button>Save</button>
<p>price: <span data-testid=price>RM 1,299.00</span></p>
<label>Code <input name=code placeholder="6-digit code"></label>
<label>Colour <select name=colour><option>Red</option><option value=b>Blue</option></select></label>
<a href="http://evil.example/steal">Partner site</a>"""

SLOW = """<h1>Slow</h1><div id=late></div>
<script>setTimeout(() => { document.getElementById('late').innerHTML =
  '<p data-testid=late>Loaded late</p>'; }, 400);</script>"""

# Like the sandbox's shipment box: filled by a fetch after the page shows; a 5xx leaves a note.
LATE = """<h1>Late</h1><div id=part><p>Loading tracking</p></div>
<script>fetch('/late-part').then(r => { if (!r.ok) throw new Error(r.status); return r.text(); })
  .then(t => { document.getElementById('part').innerHTML = t; })
  .catch(() => { document.getElementById('part').innerHTML =
    '<p role=alert>This section could not be loaded.</p>'; });</script>"""


class LocalSite:
    def __init__(self) -> None:
        self.state = State()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> LocalSite:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        self.state.__init__()  # type: ignore[misc]

    def expire_sessions(self) -> None:
        self.state.sessions.clear()
