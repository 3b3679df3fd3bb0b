"""A courier's public tracking site, on the sandbox CDN host (a third-party origin).

Support agents check a parcel on the carrier's own site, not only in the back office; the
`agent` step (browser-use) does the same. `GET /track/{tracking_number}` shows the latest status
and the timeline of the order that owns the number (read from the sandbox database, so it
matches the seller centers). For the injection orders (sandbox/injection.py) the page also
carries the attacker's instructions: a visible "notice" and a hidden one::

    url = courier_url(sandbox.cdn_url, order_tracking_number)

The latest status is in an element labelled `Latest status` (`get_by_label(..., exact=True)`),
its time in `Last update`; an unknown number answers 404 with "No parcel found".
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from sandbox import injection

TEMPLATES = Path(__file__).parent / "templates" / "courier"
TRACK_PATH = "/track/{number}"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)


def courier_url(cdn_url: str, tracking_number: str) -> str:
    """The public tracking page of `tracking_number` on the courier site at `cdn_url`."""
    return cdn_url.rstrip("/") + TRACK_PATH.format(number=quote(tracking_number, safe=""))


def find_parcel(conn: sqlite3.Connection, number: str) -> dict[str, Any] | None:
    """The parcel with tracking number `number`: carrier, events newest first, injected?"""
    order = conn.execute(
        "SELECT flavor, order_id, carrier, tracking_number FROM orders WHERE tracking_number = ?"
        " ORDER BY flavor LIMIT 1",
        (number,),
    ).fetchone()
    if order is None:
        return None
    key = (order["flavor"], order["order_id"])
    events = [  # the seller's own events ("Order placed", cancellations) are not the courier's
        dict(row)
        for row in conn.execute(
            "SELECT at, location, description FROM events WHERE flavor = ? AND order_id = ? "
            "AND location != '-' ORDER BY at DESC",
            key,
        )
    ]
    injected = conn.execute(
        "SELECT 1 FROM notes WHERE flavor = ? AND order_id = ? AND body = ?",
        (*key, injection.INTERNAL_NOTE),
    ).fetchone()
    return {
        "carrier": order["carrier"],
        "number": order["tracking_number"],
        "events": events,
        "latest": events[0] if events else None,
        "injected": injected is not None,
    }


def routes(conn: sqlite3.Connection) -> list[Route]:
    """The courier site's routes, reading the sandbox database `conn`."""

    async def track(request: Request) -> Response:
        number = request.path_params["number"].strip().upper()
        parcel = find_parcel(conn, number)
        html = _env.get_template("track.html").render(
            parcel=parcel, number=number, injections=injection.INJECTIONS
        )
        return HTMLResponse(html, status_code=200 if parcel else 404)

    return [Route(TRACK_PATH, track)]
