"""One gate in the console: what is asked, the evidence, approve/reject, the commit's progress.

    GET  /gates/{gate_id}               the page (signed-in only)
    POST /gates/{gate_id}/approve       csrf, confirm (the typed key value), note (optional)
    POST /gates/{gate_id}/reject        csrf, reason (required)
    GET  /gates/{gate_id}/status.json   the run's state and the commit's progress (gate.js)
    GET  /gates/{gate_id}/shots/{n}     the run's n-th labelled screenshot (image bytes)

Deciding goes through the facade (`AsyncAijia.approve/reject`) with the session's proven
Identity, so every rule of the CLI holds here too: the console only hides controls a user
may not use, it never decides who may. Approving asks the reviewer to type the gate's key
value (`GateView.confirm_key`: the order id of a refund, else the first bind by name): a
mismatch refuses before anything is recorded. A complete approval kicks the commit worker.

Facade refusals are shown on the page as text: PolicyError 403, GateError and EvidenceError
409. Seller strings (summary, binds, labels, the customer's ask) are autoescaped text.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from agent.core.errors import AgentError, EvidenceError, PolicyError
from agent.core.states import RunState
from agent.gates.screenshots import labelled_screenshots
from agent.serve import session
from agent.serve.pages import aijia_of, redirect_to_sign_in, render, signed_in
from agent.serve.runs import routes as run_routes

if TYPE_CHECKING:
    from starlette.requests import Request

    from agent.api.async_api import AsyncAijia
    from agent.gates.decide import GateView
    from agent.gates.identity import Identity
    from evidence.store import EvidenceStore

# What each run state means to someone watching the commit (the page and status.json).
PROGRESS = {
    RunState.PENDING: "starting",
    RunState.RUNNING: "preparing",
    RunState.PAUSED: "waiting for approval",
    RunState.APPROVED: "approved: the commit worker is committing it",
    RunState.COMMITTING: "committing: the approved request is being sent",
    RunState.DONE: "done",
    RunState.FAILED: "failed",
    RunState.REJECTED: "rejected: nothing was committed",
    RunState.EXPIRED: "expired: nothing was committed",
    RunState.IN_DOUBT: "in doubt: a person must reconcile it before anything else happens",
}
FINAL = ("done", "failed", "rejected", "expired", "in_doubt")  # gate.js stops polling


SPANS = ((90, 1, "s"), (90 * 60, 60, "min"), (48 * 3600, 3600, "h"), (None, 86400, "days"))


def ago(iso: str | None, now: datetime | None = None) -> str:
    """'5 min ago', 'in 23 h' — how far `iso` is from now, for people."""
    if not iso:
        return ""
    then = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    span = abs(seconds)
    for below, unit, name in SPANS:
        if below is None or span < below:
            text = f"{span // unit} {name}"
            break
    return f"{text} ago" if seconds >= 0 else f"in {text}"


def may_approve(view: GateView, me: Identity) -> bool:
    """Show the approve form: `me` is listed as an approver, has not approved these binds
    yet, and the gate is still open. (The facade decides; this only hides a useless form.)"""
    return (
        view.gate.state == "pending"
        and view.run.state is RunState.PAUSED
        and me.user in view.approvers
        and me.user not in view.approved_by
    )


def may_reject(view: GateView, me: Identity) -> bool:
    return (
        view.gate.state == "pending"
        and view.run.state is RunState.PAUSED
        and me.user in view.approvers
    )


def progress(store: EvidenceStore, view: GateView) -> dict[str, Any]:
    """The run's state and what it means now, JSON-ready (status.json and the page)."""
    gate, run = view.gate, view.run
    approved = view.approved_by
    text = PROGRESS.get(run.state, run.state.value)
    if run.state is RunState.PAUSED and gate.state == "pending":
        text = f"waiting for approval ({len(approved)} of {gate.required_approvals})"
    newer = _newer_gate(store, gate.run_id, gate.gate_id)
    if run.state is RunState.PAUSED and newer is not None:
        text = "paused again: what would be sent changed since approval; see the newer gate"
    if run.state is RunState.FAILED and run.error:
        text = f"failed: {run.error}"
    if run.state is RunState.APPROVED and view.retry is not None:
        retry = view.retry
        text = (
            f"approved; the site was down: retry at {retry.get('next_at')} "
            f"(attempt {retry.get('attempt')}): {retry.get('reason')}"
        )
    outputs = run.outputs if run.state is RunState.DONE else {}
    return {
        "gate_id": gate.gate_id,
        "gate_state": gate.state,
        "run_id": run.run_id,
        "run_state": run.state.value,
        "text": text,
        "approvals": len(approved),
        "needed": gate.required_approvals,
        "outputs": {k: str(v) for k, v in outputs.items()},
        "newer_gate": newer,
        "final": run.state.value in FINAL,
        "updated_at": run.updated_at,
    }


def _newer_gate(store: EvidenceStore, run_id: str, gate_id: str) -> str | None:
    """The gate that superseded this one (drift re-gated the run), if any."""
    gates = store.list_gates(run_id=run_id)
    ids = [g.gate_id for g in gates]
    if gate_id in ids and ids[-1] != gate_id:
        return ids[-1]
    return None


def _customer_ask(store: EvidenceStore, run_id: str) -> str | None:
    for event in store.events(run_id):
        if event.kind == "customer_asked":
            return str(event.data.get("ask") or "") or None
    return None


async def _page(
    request: Request,
    me: Identity,
    *,
    status_code: int = 200,
    error: str | None = None,
    typed: str = "",
    note: str = "",
    reason: str = "",
) -> Response:
    aijia = aijia_of(request)
    gate_id = request.path_params["gate_id"]
    try:
        view = await aijia.gate(gate_id)
    except EvidenceError as exc:
        return render(
            request, "gate_missing.html", status_code=404, me=me, gate_id=gate_id, error=exc.message
        )
    store = aijia.store
    shots = labelled_screenshots(store, view.gate.run_id)
    key, value = view.confirm_key
    return render(
        request,
        "gate.html",
        status_code=status_code,
        me=me,
        view=view,
        gate=view.gate,
        run=view.run,
        shots=[
            {"label": s.label, "url": f"/gates/{gate_id}/shots/{n}", "named": s.named}
            for n, s in enumerate(shots)
        ],
        ask=_customer_ask(store, view.gate.run_id),
        age=ago(view.gate.created_at),
        expires_in=ago(view.gate.expires_at),
        approvals=view.approvals,
        confirm_key=key,
        confirm_value=value,
        can_approve=may_approve(view, me),
        can_reject=may_reject(view, me),
        progress=progress(store, view),
        error=error,
        typed=typed,
        note=note,
        reason=reason,
    )


async def gate_page(request: Request) -> Response:
    me = await signed_in(request)
    if me is None:
        return redirect_to_sign_in(request)
    return await _page(request, me)


def _refused(why: str) -> Response:
    """A POST refused before anything is read or recorded (no or a wrong CSRF token)."""
    return PlainTextResponse(f"refused: {why}; nothing was recorded", status_code=403)


def _status_of(exc: AgentError) -> int:
    return 403 if isinstance(exc, PolicyError) else 409


def _message(exc: AgentError) -> str:
    return f"{exc.message} (hint: {exc.hint})" if exc.hint else exc.message


async def _decider(request: Request) -> tuple[Any, Identity] | Response:
    """A decision's form and who sends it; or the answer when it must go no further: 403
    without a valid CSRF token (checked before anything else is read), the sign-in page when
    signed out."""
    form = await request.form()
    if not session.csrf_ok(request, form):
        return _refused("the form's CSRF token is missing or wrong (reload the page)")
    me = await signed_in(request)
    if me is None:
        return redirect_to_sign_in(request)
    return form, me


async def approve(request: Request) -> Response:
    checked = await _decider(request)
    if isinstance(checked, Response):
        return checked
    form, me = checked
    aijia = aijia_of(request)
    gate_id = request.path_params["gate_id"]
    typed = str(form.get("confirm") or "").strip()
    note = str(form.get("note") or "").strip()
    try:
        view = await aijia.gate(gate_id)
        key, value = view.confirm_key
        if typed != value:
            what = f"you typed {typed!r}" if typed else "nothing was typed"
            return await _page(
                request,
                me,
                status_code=400,
                error=f"Not approved: {what}, which is not this gate's {key}. "
                f"Type the {key} exactly as shown to confirm; nothing was recorded.",
                typed=typed,
                note=note,
            )
        decision = await aijia.approve(gate_id, as_user=me, note=note)
    except AgentError as exc:
        return await _page(
            request, me, status_code=_status_of(exc), error=_message(exc), typed=typed, note=note
        )
    worker = request.app.state.worker
    if decision.complete:
        await wake_workflow(aijia, decision.run_id, gate_id, approved=True)
    if decision.complete and worker is not None:
        worker.kick()
    return RedirectResponse(f"/gates/{gate_id}", status_code=303)


async def reject(request: Request) -> Response:
    checked = await _decider(request)
    if isinstance(checked, Response):
        return checked
    form, me = checked
    gate_id = request.path_params["gate_id"]
    reason = str(form.get("reason") or "").strip()
    if not reason:
        return await _page(
            request,
            me,
            status_code=400,
            error="Not rejected: a reason is required (the requester reads it); "
            "nothing was recorded.",
        )
    try:
        decision = await aijia_of(request).reject(gate_id, as_user=me, reason=reason)
    except AgentError as exc:
        return await _page(
            request, me, status_code=_status_of(exc), error=_message(exc), reason=reason
        )
    await wake_workflow(aijia_of(request), decision.run_id, gate_id, approved=False)
    return RedirectResponse(f"/gates/{gate_id}", status_code=303)


async def wake_workflow(aijia: AsyncAijia, run_id: str, gate_id: str, *, approved: bool) -> None:
    """On the temporal backend, wake the run's workflow now (it re-reads the store and
    commits or ends the run) rather than at its next re-read. The decision is recorded
    either way: an unreachable Temporal service delays the commit, it does not undo it."""
    from agent.backends import uses_temporal, wake_run_async

    if uses_temporal(aijia.settings):
        with contextlib.suppress(AgentError):
            await wake_run_async(aijia.settings, run_id, gate_id, approved=approved)


async def status_json(request: Request) -> Response:
    """The run's state for gate.js (signed-in only: 401, not a redirect, for a script).
    Polled every second or so, it reads the gate without re-verifying the run's evidence
    chain (the page and every decision do that); it decides nothing."""
    me = await signed_in(request)
    if me is None:
        return JSONResponse({"error": "signed out: reload the page to sign in"}, status_code=401)
    aijia = aijia_of(request)
    try:
        view = await aijia.gate(request.path_params["gate_id"], verify=False)
    except EvidenceError as exc:
        return JSONResponse({"error": exc.message}, status_code=404)
    return JSONResponse(progress(aijia.store, view))


async def screenshot(request: Request) -> Response:
    """The n-th labelled screenshot of the gate's run, with its own media type."""
    me = await signed_in(request)
    if me is None:
        return PlainTextResponse("sign in to see screenshots", status_code=401)
    store = aijia_of(request).store
    try:
        gate = store.get_gate(request.path_params["gate_id"])
    except EvidenceError as exc:
        return PlainTextResponse(exc.message, status_code=404)
    shots = labelled_screenshots(store, gate.run_id)
    n: int = request.path_params["n"]
    if not 0 <= n < len(shots):
        return PlainTextResponse(
            f"gate {gate.gate_id} has {len(shots)} screenshots (0 to {len(shots) - 1}), not {n}",
            status_code=404,
        )
    shot = shots[n]
    return Response(
        store.read_artifact(shot.sha256),
        media_type=shot.media_type,
        headers={"content-disposition": f'inline; filename="{shot.name}"'},
    )


routes: list[BaseRoute] = [
    Route("/gates/{gate_id}", gate_page, methods=["GET"]),
    Route("/gates/{gate_id}/approve", approve, methods=["POST"]),
    Route("/gates/{gate_id}/reject", reject, methods=["POST"]),
    Route("/gates/{gate_id}/status.json", status_json, methods=["GET"]),
    Route("/gates/{gate_id}/shots/{n:int}", screenshot, methods=["GET"]),
    *run_routes,
]
