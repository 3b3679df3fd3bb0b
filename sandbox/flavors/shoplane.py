"""ShopLane Seller Centre: a marketplace back office in the style of Shopee or Lazada.

==========================================  ==================================================
URL                                         page
==========================================  ==================================================
/account/signin                             login (Email, Password, "Log in")
/portal/sale/order?type=&search=&page=      My Orders: status tabs, search, 20 per page
/portal/sale/order/{order_sn}               order detail; logistics loaded by fetch()
/portal/sale/order/{order_sn}/refund        refund form (Refund amount, Reason, "Confirm refund")
/portal/sale/refund/{refund_id}             "Refund submitted" with the Refund ID
/portal/sale/order/{order_sn}/return/...    accept a buyer's return request, or offer less
/portal/sale/order/{order_sn}/notes         POST an internal note
==========================================  ==================================================
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox import auth
from sandbox import orders as order_service
from sandbox.pages import order_or_404, page_number, page_url, save_note, site_of
from sandbox.pages import tracking_fragment as _tracking
from sandbox.web import FlavorSpec, SandboxState, Site

SPEC = FlavorSpec(
    flavor="shoplane",
    title="ShopLane Seller Centre",
    session_cookie="SPC_SC_SESSION",
    login_path="/account/signin",
    logout_path="/account/signout",
    home_path="/portal/sale/order",
)
STATUS_LABELS = {
    "unpaid": "Unpaid",
    "to_ship": "To ship",
    "shipping": "Shipping",
    "completed": "Completed",
    "cancelled": "Cancelled",
}
TABS = (
    ("all", "All", ()),
    ("unpaid", "Unpaid", ("unpaid",)),
    ("toship", "To ship", ("to_ship",)),
    ("shipping", "Shipping", ("shipping",)),
    ("completed", "Completed", ("completed",)),
    ("cancelled", "Cancelled", ("cancelled",)),
    ("returnrefund", "Return/Refund", ()),
)
RETURN_REASONS = {
    "damaged": "damaged",
    "wrong_item": "wrong_item",
    "not_as_described": "not_as_described",
}


async def home(request: Request) -> Response:
    return RedirectResponse(SPEC.home_path, 303)


@auth.login_required
async def order_list(request: Request) -> Response:
    site = site_of(request)
    tab = request.query_params.get("type", "all")
    if tab not in {key for key, _, _ in TABS}:
        tab = "all"
    statuses = next(s for key, _, s in TABS if key == tab)
    search = request.query_params.get("search", "")
    page = order_service.search_orders(
        site.conn,
        site.flavor,
        query=search,
        statuses=statuses,
        return_requests_only=tab == "returnrefund",
        page=page_number(request),
    )
    return site.render(
        request,
        "orders.html",
        {
            "tabs": TABS,
            "tab": tab,
            "search": search,
            "page": page,
            "status_labels": STATUS_LABELS,
            "prev_url": page_url(request, page.page - 1) if page.page > 1 else None,
            "next_url": page_url(request, page.page + 1) if page.page < page.pages else None,
        },
    )


def _detail(
    request: Request, order: order_service.Order, status: int = 200, **extra: Any
) -> Response:
    context = {
        "order": order,
        "status_labels": STATUS_LABELS,
        "reasons": order_service.REASONS,
        "note_error": "",
        "offer_error": "",
        "flash": request.query_params.get("done", ""),
        **extra,
    }
    return site_of(request).render(request, "order.html", context, status)


@auth.login_required
async def order_detail(request: Request) -> Response:
    return _detail(request, order_or_404(site_of(request), request.path_params["sn"]))


@auth.login_required
async def tracking(request: Request) -> Response:
    return await _tracking(request, request.path_params["sn"], "tracking.html")


@auth.login_required
async def add_note(request: Request) -> Response:
    site = site_of(request)
    form = await site.form(request)
    order = order_or_404(site, request.path_params["sn"])
    error = save_note(site, request, order, str(form.get("note") or ""))
    if error:
        return _detail(request, order, 422, note_error=error)
    return RedirectResponse(f"{SPEC.home_path}/{order.ref}?done=note#notes", 303)


def _refund_form(
    request: Request,
    order: order_service.Order,
    errors: dict[str, str],
    values: dict[str, str],
    status: int = 200,
) -> Response:
    site = site_of(request)
    return site.render(
        request,
        "refund.html",
        {
            "order": order,
            "errors": errors,
            "values": values,
            "reasons": order_service.REASONS,
            "status_labels": STATUS_LABELS,
            "tamper": site.faults.submit_tamper,  # the hostile-page fault (sandbox/faults.py)
        },
        status,
    )


@auth.login_required
async def refund_page(request: Request) -> Response:
    order = order_or_404(site_of(request), request.path_params["sn"])
    return _refund_form(request, order, {}, {"amount": "", "reason": "", "reference": ""})


@auth.login_required
async def refund_submit(request: Request) -> Response:
    site = site_of(request)
    form = await site.form(request)
    order = order_or_404(site, request.path_params["sn"])
    values = {"amount": str(form.get("amount") or ""), "reason": str(form.get("reason") or "")}
    reference, reference_errors = order_service.read_reference(form.get("reference"))
    values["reference"] = reference
    label = STATUS_LABELS[order.status]
    amount, errors = order_service.check_refund(
        order, values["amount"], values["reason"], status_label=label
    )
    errors |= reference_errors
    if not errors:
        try:
            refund_id = order_service.create_refund(
                site.conn,
                order,
                amount,
                values["reason"],
                actor=auth.actor(request),
                status_label=label,
                reference=reference,
                declined=site.faults.refund_declined,
            )
        except order_service.RefundRejected as exc:
            errors = exc.errors
        else:
            site.state.dirty = True
            return RedirectResponse(f"/portal/sale/refund/{refund_id}", 303)
    return _refund_form(request, order, errors, values, 422)


@auth.login_required
async def accept_return(request: Request) -> Response:
    site = site_of(request)
    await site.form(request)
    order = order_or_404(site, request.path_params["sn"])
    pending = order.return_request
    if pending is None or pending["status"] not in ("pending", "offered"):
        return _detail(
            request, order, 409, offer_error="There is no open return request on this order."
        )
    try:
        refund_id = order_service.create_refund(
            site.conn,
            order,
            int(pending["requested_amount"]),
            RETURN_REASONS.get(pending["reason"], "other"),
            actor=auth.actor(request),
            detail={"return_request": "accepted"},
            status_label=STATUS_LABELS[order.status],
        )
    except order_service.RefundRejected as exc:
        return _detail(request, order, 422, offer_error=str(exc))
    site.state.dirty = True
    return RedirectResponse(f"/portal/sale/refund/{refund_id}", 303)


@auth.login_required
async def offer_return(request: Request) -> Response:
    site = site_of(request)
    form = await site.form(request)
    order = order_or_404(site, request.path_params["sn"])
    try:
        order_service.offer_partial_refund(site.conn, order, str(form.get("offer") or ""))
    except order_service.RefundRejected as exc:
        return _detail(request, order, 422, offer_error=str(exc))
    site.state.dirty = True
    return RedirectResponse(f"{SPEC.home_path}/{order.ref}?done=offer", 303)


@auth.login_required
async def refund_done(request: Request) -> Response:
    site = site_of(request)
    refund = order_service.get_refund(site.conn, site.flavor, request.path_params["refund_id"])
    if refund is None:
        return site.error_page(request, 404)
    order = order_service.get_order(site.conn, site.flavor, order_id=refund["order_id"])
    return site.render(
        request,
        "refund_done.html",
        {"refund": refund, "order": order, "reasons": order_service.REASONS},
    )


def routes() -> list[BaseRoute]:
    base = SPEC.home_path
    return [
        Route("/", home),
        Route(SPEC.login_path, auth.login_page),
        Route(SPEC.login_path, auth.login_submit, methods=["POST"]),
        Route(SPEC.logout_path, auth.logout, methods=["POST"]),
        Route(base, order_list),
        Route(base + "/{sn}", order_detail),
        Route(base + "/{sn}/notes", add_note, methods=["POST"]),
        Route(base + "/{sn}/refund", refund_page),
        Route(base + "/{sn}/refund", refund_submit, methods=["POST"]),
        Route(base + "/{sn}/return/accept", accept_return, methods=["POST"]),
        Route(base + "/{sn}/return/offer", offer_return, methods=["POST"]),
        Route("/portal/sale/refund/{refund_id}", refund_done),
        Route("/api/v3/order/{sn}/tracking", tracking),
    ]


def make_site(state: SandboxState) -> Site:
    return Site(SPEC, state)
