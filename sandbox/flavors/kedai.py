"""Kedai Back Office: a small shop's staff desk, in a style none of the other sites has.

It is the fourth mini site, written for the recipe author's guide (docs/recipes/guide.md):
its recipes were written from the guide alone. What is new here:

- labels are plain table row headers (`<th scope=row>`) with no aria link to the value;
- the basket ends with plain body rows "Subtotal", "Delivery", "Total" (footer rows that are
  not data), and the sales list has a <tfoot> with the page total;
- the refunds table of a sale with none has one row, "No refunds yet";
- the money panel is drawn by a script from a second host (the sandbox's CDN): a browser that
  may not reach the CDN never sees it ("Money panel could not be loaded").

===========================================  ================================================
URL                                          page
===========================================  ================================================
/signin                                      Staff sign-in (Work email, Passphrase)
/desk/sales?find=&page=                      Sales: a "Find a sale" box, 25 per page
/desk/sales/{sale_no}                        one sale: summary, basket, money panel, refunds
===========================================  ================================================
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox import auth
from sandbox import orders as order_service
from sandbox.pages import order_or_404, page_number, page_url, site_of
from sandbox.web import FlavorSpec, SandboxState, Site

SPEC = FlavorSpec(
    flavor="kedai",
    title="Kedai Back Office",
    session_cookie="kedai_sid",
    login_path="/signin",
    logout_path="/signout",
    home_path="/desk/sales",
)
# The shop's own words for an order's state.
STATES = {
    "unpaid": "Awaiting payment",
    "to_ship": "Packing",
    "shipping": "On the way",
    "completed": "Delivered",
    "cancelled": "Cancelled",
}


async def home(request: Request) -> Response:
    return RedirectResponse(SPEC.home_path, 303)


@auth.login_required
async def sale_list(request: Request) -> Response:
    site = site_of(request)
    find = request.query_params.get("find", "").strip()
    page = order_service.search_orders(
        site.conn, site.flavor, query=find, page=page_number(request), per_page=25
    )
    page_total: dict[str, int] = {}
    for row in page.rows:
        page_total[row["currency"]] = page_total.get(row["currency"], 0) + int(row["total"])
    return site.render(
        request,
        "sales.html",
        {
            "find": find,
            "page": page,
            "states": STATES,
            "page_total": page_total,
            "prev_url": page_url(request, page.page - 1) if page.page > 1 else None,
            "next_url": page_url(request, page.page + 1) if page.page < page.pages else None,
        },
    )


@auth.login_required
async def sale_detail(request: Request) -> Response:
    site = site_of(request)
    order = order_or_404(site, request.path_params["ref"])
    context: dict[str, Any] = {
        "order": order,
        "state": STATES[order.status],
        "cdn_url": site.state.cdn_url,
    }
    return site.render(request, "sale.html", context)


def routes() -> list[BaseRoute]:
    base = SPEC.home_path
    return [
        Route("/", home),
        Route(SPEC.login_path, auth.login_page),
        Route(SPEC.login_path, auth.login_submit, methods=["POST"]),
        Route(SPEC.logout_path, auth.logout, methods=["POST"]),
        Route(base, sale_list),
        Route(base + "/{ref}", sale_detail),
    ]


def make_site(state: SandboxState) -> Site:
    return Site(SPEC, state)
