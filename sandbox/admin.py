"""`/__sandbox/*`: the test and demo control panel of each seller center (never faulted).

=====================================  =====  ================================================
route                                  token  what
=====================================  =====  ================================================
GET  /__sandbox/info                   no     flavor, seed, count, today, faults, dirty
GET  /__sandbox/ledger[?all=1]         no     refunds, notes, return answers written (JSON)
GET  /__sandbox/orders/{order_id}      no     one order as JSON (status, refundable …)
POST /__sandbox/faults[?scope=all]     yes    JSON {"latency": 300, …}; this flavor or all
POST /__sandbox/reset                  yes    re-seed all flavors, clear faults and sessions
POST /__sandbox/orders/{order_id}      yes    JSON {"status": …, "refund": {"amount", "reason"},
                                              "note": …} change the order under the agent
POST /__sandbox/sessions/expire        yes    end every session of this flavor now
=====================================  =====  ================================================

The token goes in the ``X-Sandbox-Token`` header. Storefront order ids may be given as
``1001`` or ``%231001``.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox import orders as order_service
from sandbox.money import parse_amount, plain_amount
from sandbox.web import Site


def _site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def _denied(request: Request) -> Response | None:
    sent = request.headers.get("x-sandbox-token", "")
    if not hmac.compare_digest(sent, _site(request).state.token):
        return JSONResponse({"error": "missing or wrong X-Sandbox-Token"}, 401)
    return None


async def _json(request: Request) -> dict[str, Any]:
    body = await request.body()
    if not body:
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


async def info(request: Request) -> Response:
    site = _site(request)
    state = site.state
    return JSONResponse(
        {
            "flavor": site.flavor,
            "seed": state.seed,
            "count": state.count,
            "today": state.today.isoformat() if state.today else None,
            "faults": site.faults.as_dict(),
            "dirty": state.dirty,
        }
    )


async def ledger(request: Request) -> Response:
    site = _site(request)
    include_seed = request.query_params.get("all") in ("1", "true")
    return JSONResponse(order_service.ledger(site.conn, site.flavor, include_seed=include_seed))


async def set_faults(request: Request) -> Response:
    denied = _denied(request)
    if denied:
        return denied
    site = _site(request)
    try:
        changes = await _json(request)
        targets = (
            list(site.state.sites.values())
            if request.query_params.get("scope") == "all"
            else [site]
        )
        for target in targets:
            probe = type(target.faults)(**target.faults.as_dict())
            probe.update(changes)  # validate everything before changing anything
        for target in targets:
            target.faults.update(changes)
            if changes.get("challenge") in (True, "true", "1", "on"):
                target.challenge_generation += 1
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, 400)
    site.state.dirty = True
    return JSONResponse({t.flavor: t.faults.as_dict() for t in targets})


async def reset(request: Request) -> Response:
    denied = _denied(request)
    if denied:
        return denied
    _site(request).state.reseed()
    return JSONResponse({"reset": True})


def _order_json(order: order_service.Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "ref": order.ref,
        "status": order.status,
        "currency": order.currency,
        "total": plain_amount(order.total),
        "paid": plain_amount(order.paid),
        "refunded": plain_amount(order.refunded),
        "refundable": plain_amount(order.refundable),
        "refunds": [
            {
                "refund_id": r["refund_id"],
                "amount": plain_amount(r["amount"]),
                "reason": r["reason"],
                "source": r["source"],
            }
            for r in order.refunds
        ],
        "notes": [n["body"] for n in order.notes],
        "return_request": order.return_request and order.return_request["status"],
    }


async def get_order(request: Request) -> Response:
    site = _site(request)
    order = order_service.get_order(
        site.conn, site.flavor, order_id=request.path_params["order_id"]
    )
    if order is None:
        return JSONResponse({"error": "no such order"}, 404)
    return JSONResponse(_order_json(order))


async def mutate_order(request: Request) -> Response:
    denied = _denied(request)
    if denied:
        return denied
    site = _site(request)
    order = order_service.get_order(
        site.conn, site.flavor, order_id=request.path_params["order_id"]
    )
    if order is None:
        return JSONResponse({"error": "no such order"}, 404)
    try:
        change = await _json(request)
        unknown = set(change) - {"status", "refund", "note"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}; use status, refund, note")
        if "status" in change:
            order_service.set_status(site.conn, order, str(change["status"]))
        if "refund" in change:
            refund = change["refund"] or {}
            amount = parse_amount(str(refund.get("amount", "")))
            order_service.create_refund(
                site.conn,
                order,
                amount,
                str(refund.get("reason", "other")),
                actor=str(refund.get("by", "sandbox-admin")),
                source="admin",
            )
        if "note" in change:
            order_service.add_note(
                site.conn, order, str(change["note"]), author="sandbox-admin", source="admin"
            )
    except order_service.RefundRejected as exc:
        return JSONResponse({"error": str(exc)}, 409)
    except ValueError as exc:
        return JSONResponse({"error": str(exc)}, 400)
    site.state.dirty = True
    fresh = order_service.get_order(site.conn, site.flavor, order_id=order.order_id)
    assert fresh is not None
    return JSONResponse(_order_json(fresh))


async def expire_sessions(request: Request) -> Response:
    denied = _denied(request)
    if denied:
        return denied
    site = _site(request)
    site.conn.execute("UPDATE sessions SET created_at = 0 WHERE flavor = ?", (site.flavor,))
    return JSONResponse({"expired": True})


def routes() -> list[BaseRoute]:
    return [
        Route("/__sandbox/info", info),
        Route("/__sandbox/ledger", ledger),
        Route("/__sandbox/faults", set_faults, methods=["POST"]),
        Route("/__sandbox/reset", reset, methods=["POST"]),
        Route("/__sandbox/sessions/expire", expire_sessions, methods=["POST"]),
        Route("/__sandbox/orders/{order_id:path}", get_order, methods=["GET"]),
        Route("/__sandbox/orders/{order_id:path}", mutate_order, methods=["POST"]),
    ]
