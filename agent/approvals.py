"""Deciding a gate: approve (maybe one of two), reject, expire — each once, recorded with who.

    view = gate_view(store, policy, gate_id)               # what a reviewer sees
    decision = approve_gate(store, policy, gate_id, user="reviewer", note="ok")
    if decision.complete: …resume the run (agent/gates.resume_approved)
    reject_gate(store, policy, gate_id, user="reviewer", reason="wrong order")

Exactly once: an approval is checked and recorded in one SQLite write transaction (BEGIN
IMMEDIATE): the gate must still be `pending` and the run `paused`; the approval row, its
`approved` event and — when it is the last approval needed — gate `pending -> approved` and
run `paused -> approved` are written together or not at all. Twenty processes approving the
same gate at once: one wins, the others see `approved` and are refused. The store's own calls
(`record_approval`, `gate_transition`, `transition`) are one transaction each and cannot be
composed, so the approval uses its write plumbing directly; reject and expire are single
compare-and-sets and use the public calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.errors import GateError, PolicyError
from agent.policy import Policy, Requirements
from agent.states import RunState, check_transition

if TYPE_CHECKING:
    from evidence.api import RunRecord
    from evidence.gates import ApprovalRecord, GateRecord
    from evidence.store import EvidenceStore

INITIATED = "run_initiated"  # event kind: who started the run (agent/gates.GateRecorder)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def initiator_of(store: EvidenceStore, run_id: str) -> str | None:
    for event in store.events(run_id):
        if event.kind == INITIATED:
            return str(event.data.get("user"))
    return None


@dataclass(frozen=True)
class GateView:
    """A gate as a reviewer sees it: the bound action, who asked, what policy requires."""

    gate: GateRecord
    run: RunRecord
    initiator: str | None
    needs: Requirements
    approvers: list[str]  # users who may approve (the initiator excluded)
    approvals: list[ApprovalRecord]
    drift: dict[str, Any] = field(default_factory=dict)  # when re-gated: what changed

    @property
    def approved_by(self) -> list[str]:
        return sorted(
            {
                a.approver
                for a in self.approvals
                if a.decision == "approved" and a.bind_hash == self.gate.bind_hash
            }
        )

    @property
    def confirm_key(self) -> tuple[str, str]:
        """The bound value a reviewer types to confirm (the order id, when there is one)."""
        binds = self.gate.binds
        for key in ("order_id", "case_id", "ticket_id"):
            if key in binds:
                return key, str(binds[key])
        if binds:
            key = sorted(binds)[0]
            return key, str(binds[key])
        return "gate_id", self.gate.gate_id


def gate_view(store: EvidenceStore, policy: Policy, gate_id: str) -> GateView:
    gate = store.get_gate(gate_id)
    run = store.get_run(gate.run_id)
    initiator = initiator_of(store, gate.run_id)
    needs = policy.requirements(gate.action, gate.binds)
    drift: dict[str, Any] = {}
    for event in store.events(gate.run_id):
        if event.kind == "gate_drift":
            drift = dict(event.data.get("changed") or {})
    return GateView(
        gate=gate,
        run=run,
        initiator=initiator,
        needs=needs,
        approvers=policy.approvers(gate.action, needs, initiator=initiator),
        approvals=store.approvals(gate_id),
        drift=drift,
    )


@dataclass(frozen=True)
class Decision:
    gate_id: str
    run_id: str
    user: str
    decision: str  # approved | rejected
    complete: bool  # the gate got every approval it needs: the run is `approved`
    approvals: int  # distinct approvers of this bind hash so far
    needed: int


def _expired(gate: GateRecord, now: datetime) -> bool:
    return gate.expires_at is not None and now >= parse_time(gate.expires_at)


def expire_gate(store: EvidenceStore, gate: GateRecord, *, why: str) -> None:
    """Close an expired gate and its run (`expired`, evidence kept and sealed)."""
    if store.gate_transition(gate.gate_id, gate.state, "expired", reason=why):
        run = store.get_run(gate.run_id)
        if run.state in (RunState.PAUSED, RunState.APPROVED):
            store.transition(gate.run_id, run.state, RunState.EXPIRED, reason=why)


def _refuse_if_closed(gate: GateRecord, run: RunRecord, now: datetime) -> None:
    if gate.state != "pending":
        what = {
            "approved": "it is already approved; the run commits once",
            "used": "it was already approved and used; the action ran once",
            "rejected": "it was rejected",
            "expired": "it expired (or was superseded by a newer gate after drift)",
        }.get(gate.state, gate.state)
        raise GateError(
            f"gate {gate.gate_id} cannot be decided: {what}",
            hint=f"`aijia runs show {gate.run_id}` shows its gates and decisions",
        )
    if run.state is not RunState.PAUSED:
        raise GateError(
            f"gate {gate.gate_id}: its run {run.run_id} is {run.state.value}, not paused",
            hint=f"`aijia runs show {run.run_id}`",
        )
    if _expired(gate, now):
        raise GateError(
            f"gate {gate.gate_id} expired at {gate.expires_at}; it can no longer be approved",
            hint="start a new run to prepare the action again",
        )


def _check_decider(
    store: EvidenceStore, policy: Policy, view: GateView, user: str, *, rejecting: bool
) -> None:
    try:
        policy.check_may_approve(
            user,
            action=view.gate.action,
            needs=view.needs,
            initiator=view.initiator,
            already=() if rejecting else view.approved_by,
        )
    except PolicyError as exc:
        store.append_event(
            view.gate.run_id,
            "approval_refused",
            {"gate_id": view.gate.gate_id, "user": user, "reason": exc.message},
        )
        raise


def approve_gate(
    store: EvidenceStore,
    policy: Policy,
    gate_id: str,
    *,
    user: str,
    note: str = "",
    now: datetime | None = None,
) -> Decision:
    """Record `user`'s approval; GateError/PolicyError (with the rule) when refused."""
    now = now or datetime.now(UTC)
    view = gate_view(store, policy, gate_id)
    if view.gate.state == "pending" and _expired(view.gate, now):
        expire_gate(store, view.gate, why=f"gate expired at {view.gate.expires_at}")
    _refuse_if_closed(view.gate, view.run, now)
    _check_decider(store, policy, view, user, rejecting=False)
    return _approve_atomically(store, policy, view, user, note, now)


def _approve_atomically(
    store: EvidenceStore, policy: Policy, view: GateView, user: str, note: str, now: datetime
) -> Decision:
    from evidence.events import Approved, StateChanged
    from evidence.ids import new_id
    from evidence.migrations import table

    gate, needed = view.gate, view.needs.approvals
    note = store.redactor.mask_text(note)
    with store._write() as db:  # one transaction: see the module docstring
        row = db.execute(
            "SELECT g.state AS gate_state, r.state AS run_state FROM gates g "
            "JOIN runs r ON r.run_id = g.run_id WHERE g.gate_id = ?",
            [gate.gate_id],
        ).fetchone()
        current = store.get_gate(gate.gate_id)
        run = store.get_run(gate.run_id)
        if row is None or row[0] != "pending" or row[1] != RunState.PAUSED.value:
            _refuse_if_closed(current, run, now)  # raises: rolled back, nothing written
        approvers = {
            r[0]
            for r in db.execute(
                "SELECT approver FROM approvals WHERE gate_id = ? AND decision = 'approved' "
                "AND bind_hash = ?",
                [gate.gate_id, gate.bind_hash],
            ).fetchall()
        }
        if user in approvers:
            raise PolicyError(
                f"user {user!r} already approved gate {gate.gate_id}; it needs "
                f"{needed} distinct approvers",
                hint="a second, different approver must approve it",
            )
        at = iso(now)
        table(db, "approvals").insert(
            {
                "approval_id": new_id("a-"),
                "gate_id": gate.gate_id,
                "run_id": gate.run_id,
                "approver": user,
                "decision": "approved",
                "bind_hash": gate.bind_hash,
                "note": note,
                "at": at,
            }
        )
        event = Approved(gate.gate_id, user, gate.bind_hash, note)
        store._append(db, gate.run_id, event.kind, event.to_data(), ())
        approvers.add(user)
        complete = len(approvers) >= needed
        if complete:
            db.execute(
                "UPDATE gates SET state = 'approved' WHERE gate_id = ? AND state = 'pending'",
                [gate.gate_id],
            )
            moved = {"gate_id": gate.gate_id, "from_state": "pending", "to_state": "approved"}
            store._append(db, gate.run_id, "gate_state_changed", moved, ())
            check_transition(RunState.PAUSED, RunState.APPROVED)
            db.execute(
                "UPDATE runs SET state = ?, updated_at = ? WHERE run_id = ? AND state = ?",
                [RunState.APPROVED.value, at, gate.run_id, RunState.PAUSED.value],
            )
            who = ", ".join(sorted(approvers))
            changed = StateChanged("paused", "approved", f"approved by {who}")
            store._append(db, gate.run_id, changed.kind, changed.to_data(), ())
    return Decision(gate.gate_id, gate.run_id, user, "approved", complete, len(approvers), needed)


def reject_gate(
    store: EvidenceStore,
    policy: Policy,
    gate_id: str,
    *,
    user: str,
    reason: str,
    now: datetime | None = None,
) -> Decision:
    """Reject: the gate and its run close as `rejected`; nothing was committed."""
    now = now or datetime.now(UTC)
    if not reason.strip():
        raise GateError("a rejection needs a reason", hint="aijia reject ID --reason '…'")
    view = gate_view(store, policy, gate_id)
    _refuse_if_closed(view.gate, view.run, now)
    _check_decider(store, policy, view, user, rejecting=True)
    if not store.gate_transition(gate_id, "pending", "rejected", reason=f"rejected by {user}"):
        raise GateError(f"gate {gate_id} was decided by someone else meanwhile")
    store.record_approval(
        gate_id, approver=user, decision="rejected", bind_hash=view.gate.bind_hash, note=reason
    )
    store.transition(
        view.gate.run_id, RunState.PAUSED, RunState.REJECTED, reason=f"rejected by {user}"
    )
    return Decision(gate_id, view.gate.run_id, user, "rejected", True, 0, view.needs.approvals)


def approval_expiry(store: EvidenceStore, gate: GateRecord, ttl_hours: float) -> datetime | None:
    """When the approvals of `gate` stop being usable (None: not approved). With two
    approvers the older approval counts: every signature must still be fresh."""
    times = [parse_time(a.at) for a in store.approvals(gate.gate_id) if a.decision == "approved"]
    if not times:
        return None
    return min(times) + timedelta(hours=ttl_hours)
