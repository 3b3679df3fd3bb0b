"""Page helpers every flavor uses: load an order or 404, the slow tracking fragment, notes."""

from __future__ import annotations

import asyncio
import hashlib
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from sandbox import orders as order_service
from sandbox.auth import actor
from sandbox.orders import Order
from sandbox.web import Site


def site_of(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def order_or_404(site: Site, ref: str) -> Order:
    order = order_service.get_order(site.conn, site.flavor, ref=ref)
    if order is None:
        raise HTTPException(404, "order")
    return order


def page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 100_000 else 1


def page_url(request: Request, page: int) -> str:
    params = dict(request.query_params)
    params["page"] = str(page)
    return f"{request.url.path}?{urlencode(params)}"


def fetch_delay(order_id: str) -> float:
    """300-800 ms, fixed per order, like a slow logistics backend."""
    return (300 + int(hashlib.sha1(order_id.encode()).hexdigest(), 16) % 500) / 1000


async def tracking_fragment(request: Request, ref: str, template: str) -> Response:
    """The part of the detail page that the browser loads with fetch() after the page shows."""
    site = site_of(request)
    order = order_or_404(site, ref)
    await asyncio.sleep(fetch_delay(order.order_id))
    return site.render(request, template, {"order": order})


def save_note(site: Site, request: Request, order: Order, text: str) -> str:
    """Write an internal note; returns "" when saved, else the error to show on the form."""
    try:
        order_service.add_note(site.conn, order, text, author=actor(request))
    except ValueError as exc:
        return str(exc)
    site.state.dirty = True
    return ""
