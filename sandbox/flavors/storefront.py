"""Storefront Admin: a direct-to-consumer store admin in the style of Shopify.

===========================================  ================================================
URL                                          page
===========================================  ================================================
/admin/auth/login                            Log in (Email, Password)
/admin/orders?status=&query=&page=           Orders: tabs, filter box, 50 per page
/admin/orders/{id}                           order; "Refund" opens a dialog; the fulfillment
                                             card is loaded by fetch(); timeline + comments
   POST /admin/orders/{id}/refunds           the dialog's form -> redirect to:
/admin/orders/{id}/refunds/{refund_id}       "Refund issued" with the Refund ID
   POST /admin/orders/{id}/comments          post a staff comment to the timeline
===========================================  ================================================

`{id}` is the internal id from the orders list (``OrderSummary.url_path``); the order number
(``#1001``) is the link text.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox import auth
from sandbox import orders as order_service
from sandbox.money import parse_amount, plain_amount
from sandbox.pages import order_or_404, page_number, page_url, save_note, site_of
from sandbox.pages import tracking_fragment as _tracking
from sandbox.web import FlavorSpec, SandboxState, Site

SPEC = FlavorSpec(
    flavor="storefront",
    title="Storefront Admin",
    session_cookie="_storefront_session",
    login_path="/admin/auth/login",
    logout_path="/admin/auth/logout",
    home_path="/admin/orders",
)
FULFILLMENT = {
    "unpaid": "Unfulfilled",
    "to_ship": "Unfulfilled",
    "shipping": "In transit",
    "completed": "Delivered",
    "cancelled": "Canceled",
}
TABS = {
    "all": ("All", ()),
    "unfulfilled": ("Unfulfilled", ("to_ship",)),
    "unpaid": ("Unpaid", ("unpaid",)),
    "in_transit": ("In transit", ("shipping",)),
    "delivered": ("Delivered", ("completed",)),
    "canceled": ("Canceled", ("cancelled",)),
}


def payment_status(order: Any) -> str:
    """Shopify's financial status, from the order (or a list row)."""
    status, paid, total = order["status"], int(order["paid"]), int(order["total"])
    refunded = int(order["refunded"])
    if status == "cancelled":
        return "Voided"
    if paid == 0:
        return "Payment pending"
    if refunded >= total:
        return "Refunded"
    return "Partially refunded" if refunded else "Paid"


async def home(request: Request) -> Response:
    return RedirectResponse(SPEC.home_path, 303)


@auth.login_required
async def order_list(request: Request) -> Response:
    site = site_of(request)
    tab = request.query_params.get("status", "all")
    tab = tab if tab in TABS else "all"
    query = request.query_params.get("query", "")
    page = order_service.search_orders(
        site.conn,
        site.flavor,
        query=query,
        statuses=TABS[tab][1],
        page=page_number(request),
        per_page=50,
    )
    return site.render(
        request,
        "orders.html",
        {
            "tabs": TABS,
            "tab": tab,
            "query": query,
            "page": page,
            "fulfillment": FULFILLMENT,
            "payment_status": payment_status,
            "prev_url": page_url(request, page.page - 1) if page.page > 1 else None,
            "next_url": page_url(request, page.page + 1) if page.page < page.pages else None,
        },
    )


def _detail(
    request: Request, order: order_service.Order, status: int = 200, **extra: Any
) -> Response:
    row = dict(order.row, refunded=order.refunded)
    timeline: list[tuple[str, str, str]] = [
        (e["at"], "event", e["description"]) for e in order.events
    ]
    timeline += [
        (r["created_at"], "refund", f"{order.money(r['amount'])} was refunded ({r['refund_id']})")
        for r in order.refunds
    ]
    timeline += [(n["created_at"], "note", f"{n['author']}: {n['body']}") for n in order.notes]
    timeline.sort(reverse=True)
    context = {
        "order": order,
        "payment_status": payment_status(row),
        "fulfillment": FULFILLMENT[order.status],
        "reasons": order_service.REASONS,
        "timeline": timeline,
        "note_error": "",
        "errors": {},
        "values": {},
        "open_refund": False,
        **extra,
    }
    return site_of(request).render(request, "order.html", context, status)


@auth.login_required
async def order_detail(request: Request) -> Response:
    return _detail(request, order_or_404(site_of(request), request.path_params["ref"]))


@auth.login_required
async def fulfillment(request: Request) -> Response:
    return await _tracking(request, request.path_params["ref"], "fulfillment.html")


@auth.login_required
async def add_comment(request: Request) -> Response:
    site = site_of(request)
    form = await site.form(request)
    order = order_or_404(site, request.path_params["ref"])
    error = save_note(site, request, order, str(form.get("comment") or ""))
    if error:
        return _detail(request, order, 422, note_error=error)
    return RedirectResponse(f"{SPEC.home_path}/{order.ref}#timeline", 303)


def _read_refund(
    order: order_service.Order, form: Any
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """The dialog's fields -> (amount, detail for the ledger, errors by field)."""
    errors: dict[str, str] = {}
    quantities: dict[str, int] = {}
    computed = 0
    for item in order.items:
        raw = str(form.get(f"qty_{item['line']}") or "0").strip()
        if not raw.isdigit() or int(raw) > item["quantity"]:
            errors[f"qty_{item['line']}"] = (
                f"Quantity of {item['title']} must be a whole number from 0 to {item['quantity']}."
            )
            continue
        if int(raw):
            quantities[item["sku"]] = int(raw)
            computed += int(raw) * item["unit_price"]
    shipping_text = str(form.get("shipping") or "").strip()
    shipping = 0
    if shipping_text:
        try:
            shipping = parse_amount(shipping_text)
        except ValueError as exc:
            errors["shipping"] = f"Shipping refund: {exc}"
        else:
            if shipping > order.shipping_fee:
                errors["shipping"] = (
                    f"Shipping refund cannot be more than {order.money(order.shipping_fee)}."
                )
    amount_text = str(form.get("amount") or "").strip() or plain_amount(computed + shipping)
    detail = {
        "quantities": quantities,
        "shipping": plain_amount(shipping),
        "restock": form.get("restock") == "on",
    }
    amount = 0
    try:
        amount = parse_amount(amount_text)
    except ValueError as exc:
        errors["amount"] = str(exc)
    return amount, detail, errors


@auth.login_required
async def create_refund(request: Request) -> Response:
    site = site_of(request)
    form = await site.form(request)
    order = order_or_404(site, request.path_params["ref"])
    amount, detail, errors = _read_refund(order, form)
    reason = str(form.get("reason") or "")
    reference, reference_errors = order_service.read_reference(form.get("note"))
    errors |= reference_errors
    label = FULFILLMENT[order.status] if order.status != "unpaid" else "unpaid"
    if order.status == "cancelled":
        label = "canceled"
    if "amount" not in errors:
        _, more = order_service.check_refund(
            order, plain_amount(amount), reason, status_label=label
        )
        errors = more | errors
    if not errors:
        try:
            refund_id = order_service.create_refund(
                site.conn,
                order,
                amount,
                reason,
                actor=auth.actor(request),
                detail=detail,
                status_label=label,
                reference=reference,
                declined=site.faults.refund_declined,
            )
        except order_service.RefundRejected as exc:
            errors = exc.errors
        else:
            site.state.dirty = True
            return RedirectResponse(f"{SPEC.home_path}/{order.ref}/refunds/{refund_id}", 303)
    values = {key: str(value) for key, value in form.items() if key != "csrf_token"}
    return _detail(request, order, 422, errors=errors, values=values, open_refund=True)


@auth.login_required
async def refund_done(request: Request) -> Response:
    site = site_of(request)
    order = order_or_404(site, request.path_params["ref"])
    refund = order_service.get_refund(site.conn, site.flavor, request.path_params["refund_id"])
    if refund is None or refund["order_id"] != order.order_id:
        return site.error_page(request, 404)
    return site.render(
        request,
        "refund_done.html",
        {"refund": refund, "order": order, "reasons": order_service.REASONS},
    )


def routes() -> list[BaseRoute]:
    base = SPEC.home_path
    return [
        Route("/", home),
        Route("/admin", home),
        Route(SPEC.login_path, auth.login_page),
        Route(SPEC.login_path, auth.login_submit, methods=["POST"]),
        Route(SPEC.logout_path, auth.logout, methods=["POST"]),
        Route(base, order_list),
        Route(base + "/{ref}", order_detail),
        Route(base + "/{ref}/comments", add_comment, methods=["POST"]),
        Route(base + "/{ref}/refunds", create_refund, methods=["POST"]),
        Route(base + "/{ref}/refunds/{refund_id}", refund_done),
        Route("/api/admin/orders/{ref}/fulfillment", fulfillment),
    ]


def make_site(state: SandboxState) -> Site:
    return Site(SPEC, state)
