"""The queue: pending gates at GET / and, for live update, GET /queue.json.

    GET /             the table (works without JavaScript; a Refresh link reloads it)
    GET /?mine=1      only the gates I may approve and have not approved yet
    GET /queue.json   the same rows as JSON (`?mine=1` too); 401 when signed out

Rows come from the facade (`AsyncAijia.pending_gates`, oldest first), so "Mine" applies the
same policy as `aijia gates list --mine` would: roles, thresholds, the initiator never
approves. static/queue.js refreshes the table body from /queue.json every few seconds,
building cells with textContent only: the customer's ask and every other seller string stay
text in the page, as they are in the server-rendered table (autoescaped).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agent.serve.pages import aijia_of, redirect_to_sign_in, render, signed_in

if TYPE_CHECKING:
    from starlette.requests import Request

    from agent.gates.decide import GateView
    from evidence.store import EvidenceStore

REFRESH_S = 3  # how often queue.js asks for /queue.json


@dataclass(frozen=True)
class QueueRow:
    """One pending gate as the queue shows it (every field plain text)."""

    gate_id: str
    href: str
    site: str
    action: str
    summary: str
    amount: str  # "12.50 MYR", or "" when the action has no amount
    age: str  # "4 min", "2 h", "3 d"
    created_at: str
    ask: str  # the customer's ask, when the run belongs to a case
    initiator: str
    approvals: str  # "1 of 2"


def age_of(created_at: str, now: datetime) -> str:
    """How long a gate has waited, in the largest whole unit: "just now", "4 min", "2 h", "3 d"."""
    try:
        then = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return ""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min"
    if seconds < 86400:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} d"


def customer_ask(store: EvidenceStore, run_id: str, case_id: str | None) -> str:
    """What the customer asked, as the run's evidence chain records it (`customer_asked`, the
    event a run started with `case=` begins with); "" when the run belongs to no case."""
    if case_id is None:
        return ""
    ask = ""
    for record in store.events(run_id):
        if record.kind == "customer_asked":
            ask = str(record.data.get("ask") or "")
    return ask


def row_of(store: EvidenceStore, view: GateView, now: datetime) -> QueueRow:
    gate, needs = view.gate, view.needs
    amount = ""
    if needs.amount is not None:
        amount = f"{needs.amount} {needs.currency or ''}".strip()
    return QueueRow(
        gate_id=gate.gate_id,
        href=f"/gates/{gate.gate_id}",
        site=view.run.site,
        action=gate.action,
        summary=gate.summary,
        amount=amount,
        age=age_of(gate.created_at, now),
        created_at=gate.created_at,
        ask=customer_ask(store, gate.run_id, view.run.case_id),
        initiator=view.initiator or "",
        approvals=f"{len(view.approved_by)} of {needs.approvals}",
    )


async def rows(request: Request, user: str, mine: bool) -> list[QueueRow]:
    aijia = aijia_of(request)
    views = await aijia.pending_gates(user if mine else None)
    now = datetime.now(UTC)
    return [row_of(aijia.store, v, now) for v in views]


def _mine(request: Request) -> bool:
    return request.query_params.get("mine") == "1"


async def queue_page(request: Request) -> Response:
    me = await signed_in(request)
    if me is None:
        return redirect_to_sign_in(request)
    mine = _mine(request)
    found = await rows(request, me.user, mine)
    return render(
        request,
        "queue.html",
        me=me,
        mine=mine,
        rows=found,
        source="/queue.json" + ("?mine=1" if mine else ""),
        refresh_s=REFRESH_S,
    )


async def queue_json(request: Request) -> Response:
    me = await signed_in(request)
    if me is None:
        return JSONResponse({"error": "signed out", "sign_in": "/signin?next=/"}, status_code=401)
    mine = _mine(request)
    found = await rows(request, me.user, mine)
    return JSONResponse({"mine": mine, "count": len(found), "rows": [asdict(r) for r in found]})


routes: list[BaseRoute] = [
    Route("/", queue_page, methods=["GET"]),
    Route("/queue.json", queue_json, methods=["GET"]),
]
