"""MarketHub Seller Central: a marketplace back office in the style of Amazon Seller Central.

=============================================  =============================================
URL                                            page
=============================================  =============================================
/ap/signin                                     Sign-In (Email or mobile phone number, Password)
/ap/mfa                                        Two-Step Verification ("Enter OTP", TOTP)
/orders-v3?q=&status=&days=&per_page=&page=    Manage Orders: search, filters, pagination
/orders-v3/order/{order_id}                    order details; shipment loaded by fetch()
/orders-v3/order/{order_id}/refund             Refund order: amount and reason per item
   POST .../refund                             -> "Review refund" page (nothing written yet)
   POST .../refund/confirm                     -> writes the refund, redirects to:
/orders-v3/refund/{refund_id}                  "Refund initiated" with the Refund ID
/orders-v3/order/{order_id}/notes              POST a seller note
=============================================  =============================================
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox import auth, db
from sandbox import orders as order_service
from sandbox.money import parse_amount, plain_amount
from sandbox.pages import order_or_404, page_number, page_url, save_note, site_of
from sandbox.pages import tracking_fragment as _tracking
from sandbox.web import FlavorSpec, SandboxState, Site

SPEC = FlavorSpec(
    flavor="markethub",
    title="MarketHub Seller Central",
    session_cookie="mh_session",
    login_path="/ap/signin",
    logout_path="/ap/signout",
    home_path="/orders-v3",
    mfa_path="/ap/mfa",
)
STATUS_LABELS = {
    "unpaid": "Pending",
    "to_ship": "Unshipped",
    "shipping": "Shipped",
    "completed": "Delivered",
    "cancelled": "Canceled",
}
REFUND_REQUESTED = "refund_requested"
STATUS_FILTER = (
    {"all": ("All", ())}
    | {key: (label, (key,)) for key, label in STATUS_LABELS.items()}
    # buyers asking for a refund, whatever the order's status (Seller Central's "Refund requests")
    | {REFUND_REQUESTED: ("Refund requested", ())}
)
DATE_FILTER = {"7": "Last 7 days", "30": "Last 30 days", "90": "Last 90 days", "all": "All dates"}
PER_PAGE = ("15", "25", "50")


async def home(request: Request) -> Response:
    return RedirectResponse(SPEC.home_path, 303)


@auth.login_required
async def manage_orders(request: Request) -> Response:
    site = site_of(request)
    params = request.query_params
    status = params.get("status", "all") if params.get("status") in STATUS_FILTER else "all"
    days = params.get("days", "all") if params.get("days") in DATE_FILTER else "all"
    per_page = params.get("per_page", "15") if params.get("per_page") in PER_PAGE else "15"
    since = None
    if days != "all" and site.state.today is not None:
        start = db.utc_now().date() - timedelta(days=int(days))
        since = start.isoformat()
    page = order_service.search_orders(
        site.conn,
        site.flavor,
        query=params.get("q", ""),
        statuses=STATUS_FILTER[status][1],
        return_requests_only=status == REFUND_REQUESTED,
        since=since,
        page=page_number(request),
        per_page=int(per_page),
    )
    return site.render(
        request,
        "orders.html",
        {
            "page": page,
            "q": params.get("q", ""),
            "status": status,
            "days": days,
            "per_page": per_page,
            "status_filter": STATUS_FILTER,
            "date_filter": DATE_FILTER,
            "per_page_choices": PER_PAGE,
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
        "flash": request.query_params.get("done", ""),
        **extra,
    }
    return site_of(request).render(request, "order.html", context, status)


@auth.login_required
async def order_detail(request: Request) -> Response:
    return _detail(request, order_or_404(site_of(request), request.path_params["order_id"]))


@auth.login_required
async def shipment(request: Request) -> Response:
    return await _tracking(request, request.path_params["order_id"], "shipment.html")


@auth.login_required
async def add_note(request: Request) -> Response:
    site = site_of(request)
    form = await site.form(request)
    order = order_or_404(site, request.path_params["order_id"])
    error = save_note(site, request, order, str(form.get("note") or ""))
    if error:
        return _detail(request, order, 422, note_error=error)
    return RedirectResponse(f"{SPEC.home_path}/order/{order.ref}?done=note#notes", 303)


def _read_lines(
    order: order_service.Order, form: Any
) -> tuple[list[dict[str, Any]], int, str, dict[str, str]]:
    """Per-item amounts and reasons -> (lines, total, main reason, errors)."""
    lines: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for item in order.items:
        n = item["line"]
        text = str(form.get(f"amount_{n}") or "").strip()
        reason = str(form.get(f"reason_{n}") or "")
        line = {
            "line": n,
            "title": item["title"],
            "sku": item["sku"],
            "text": text,
            "reason": reason,
            "amount": 0,
            "limit": item["quantity"] * item["unit_price"],
        }
        lines.append(line)
        if not text:
            continue
        try:
            line["amount"] = parse_amount(text)
        except ValueError as exc:
            errors[f"amount_{n}"] = f"{item['title']}: {exc}"
            continue
        if line["amount"] > line["limit"]:
            errors[f"amount_{n}"] = (
                f"{item['title']}: the amount exceeds the item price of "
                f"{order.money(line['limit'])}."
            )
        if line["amount"] and not reason:
            errors[f"reason_{n}"] = f"Select a reason for {item['title']}."
        elif reason and reason not in order_service.REASONS:
            errors[f"reason_{n}"] = f"Select a reason from the list for {item['title']}."
    total = sum(int(line["amount"]) for line in lines)
    if not errors and total == 0:
        errors["amount"] = "Enter an amount to refund for at least one item."
    paying = [line for line in lines if line["amount"]]
    main_reason = max(paying, key=lambda line: line["amount"])["reason"] if paying else ""
    return lines, total, main_reason, errors


def _refund_form(
    request: Request,
    order: order_service.Order,
    lines: list[dict[str, Any]] | None,
    errors: dict[str, str],
    status: int = 200,
    reference: str = "",
) -> Response:
    values = {"reference": reference}
    values |= {f"amount_{ln['line']}": ln["text"] for ln in lines or []}
    values |= {f"reason_{ln['line']}": ln["reason"] for ln in lines or []}
    return site_of(request).render(
        request,
        "refund.html",
        {
            "order": order,
            "errors": errors,
            "values": values,
            "reasons": order_service.REASONS,
            "status_labels": STATUS_LABELS,
        },
        status,
    )


async def _validated(
    request: Request,
) -> tuple[order_service.Order, list[dict[str, Any]], int, str, str, dict[str, str]]:
    """(order, lines, total, main reason, reference, errors by field) of a refund form."""
    site = site_of(request)
    form = await site.form(request)
    order = order_or_404(site, request.path_params["order_id"])
    lines, total, reason, errors = _read_lines(order, form)
    reference, reference_errors = order_service.read_reference(form.get("reference"))
    errors |= reference_errors
    if not errors:
        _, order_errors = order_service.check_refund(
            order, plain_amount(total), reason, status_label=STATUS_LABELS[order.status]
        )
        errors |= order_errors
    return order, lines, total, reason, reference, errors


@auth.login_required
async def refund_page(request: Request) -> Response:
    order = order_or_404(site_of(request), request.path_params["order_id"])
    return _refund_form(request, order, None, {})


@auth.login_required
async def refund_review(request: Request) -> Response:
    order, lines, total, reason, reference, errors = await _validated(request)
    if errors:
        return _refund_form(request, order, lines, errors, 422, reference)
    return site_of(request).render(
        request,
        "refund_review.html",
        {
            "order": order,
            "lines": lines,
            "total": total,
            "reason": reason,
            "reference": reference,
            "reasons": order_service.REASONS,
        },
    )


@auth.login_required
async def refund_confirm(request: Request) -> Response:
    site = site_of(request)
    order, lines, total, reason, reference, errors = await _validated(request)
    if not errors:
        detail = {
            "items": [
                {"sku": ln["sku"], "amount": plain_amount(ln["amount"]), "reason": ln["reason"]}
                for ln in lines
                if ln["amount"]
            ]
        }
        try:
            refund_id = order_service.create_refund(
                site.conn,
                order,
                total,
                reason,
                actor=auth.actor(request),
                detail=detail,
                status_label=STATUS_LABELS[order.status],
                reference=reference,
                declined=site.faults.refund_declined,
            )
        except order_service.RefundRejected as exc:
            errors = exc.errors
        else:
            site.state.dirty = True
            return RedirectResponse(f"{SPEC.home_path}/refund/{refund_id}", 303)
    return _refund_form(request, order, lines, errors, 422, reference)


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
        Route("/ap/mfa", auth.mfa_page),
        Route("/ap/mfa", auth.mfa_submit, methods=["POST"]),
        Route(SPEC.logout_path, auth.logout, methods=["POST"]),
        Route(base, manage_orders),
        Route(base + "/order/{order_id}", order_detail),
        Route(base + "/order/{order_id}/notes", add_note, methods=["POST"]),
        Route(base + "/order/{order_id}/refund", refund_page),
        Route(base + "/order/{order_id}/refund", refund_review, methods=["POST"]),
        Route(base + "/order/{order_id}/refund/confirm", refund_confirm, methods=["POST"]),
        Route(base + "/refund/{refund_id}", refund_done),
        Route("/api/orders/{order_id}/shipment", shipment),
    ]


def make_site(state: SandboxState) -> Site:
    return Site(SPEC, state)
