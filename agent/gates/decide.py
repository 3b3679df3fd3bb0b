"""Deciding a gate: approve (maybe one of two), reject, expire — each once, recorded with who.

    view = gate_view(store, policy, gate_id)               # what a reviewer sees
    decision = approve_gate(store, policy, gate_id, user="reviewer", note="ok",
                            proof="token t-…")      # how "reviewer" was proven
    if decision.complete: …the run is approved; `Aijia.resume` (or the worker) commits it
    reject_gate(store, policy, gate_id, user="reviewer", reason="wrong order")

Each decision records who decided and how their identity was proven (`proof`,
`agent.gates.identity`) in its `approved`/`rejected` event, which the transaction seals and
signs: a signed statement of who approved, not a name someone typed.

Exactly once: every decision is checked and recorded in one store transaction
(`with store.transaction() as tx:`, SQLite BEGIN IMMEDIATE): the gate must still be `pending`
and the run `paused` as read inside it; the approval row, its `approved` event and — when it is
the last approval needed — gate `pending -> approved` and run `paused -> approved` are written
together or not at all (a refusal raised inside rolls it all back). Twenty processes approving
the same gate at once: one wins, the others see `approved` and are refused. Reject, expire and
policy's auto-approval are one transaction each in the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.core.errors import GateError, PolicyError
from agent.core.states import RunState
from agent.gates.policy import AUTO_APPROVER, Policy, Requirements
from evidence.ids import iso

if TYPE_CHECKING:
    from evidence.api import RunRecord
    from evidence.gates import ApprovalRecord, GateRecord
    from evidence.store import EvidenceStore
    from evidence.transaction import Transaction

INITIATED = "run_initiated"  # event kind: who started the run (agent.gates.recorder.GateRecorder)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


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
    # what in the gate, its approvals or its run the evidence chain does not back (checked
    # only when asked: `gate_view(…, verify=True)`; None: not checked)
    problems: list[str] | None = None
    retry: dict[str, Any] | None = None  # approved, not sent yet: the last `commit_retry`

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


def gate_view(
    store: EvidenceStore, policy: Policy, gate_id: str, *, verify: bool = False
) -> GateView:
    """The gate as a reviewer sees it; `verify` also checks it (and its run) against the
    run's evidence chain (agent/gates/trust.py) and lists what does not hold in `problems`."""
    from agent.gates.recorder import retries_since_approval
    from agent.gates.trust import evidence_problems

    run = store.get_run(store.get_gate(gate_id).run_id)
    approvals = store.approvals(gate_id)
    # Separate reads, while a decision writes its approval, the gate and the run in one
    # transaction: reading the gate last means that an approval or a run seen decided comes
    # with its gate seen decided (never "pending, and you already approved it").
    gate = store.get_gate(gate_id)
    initiator = initiator_of(store, gate.run_id)
    needs = policy.requirements(gate.action, gate.binds)
    drift: dict[str, Any] = {}
    for event in store.events(gate.run_id):
        if event.kind == "gate_drift":
            drift = dict(event.data.get("changed") or {})
    retries = retries_since_approval(store, gate.run_id) if gate.state == "approved" else []
    return GateView(
        gate=gate,
        run=run,
        initiator=initiator,
        needs=needs,
        approvers=policy.approvers(gate.action, needs, initiator=initiator),
        approvals=approvals,
        drift=drift,
        problems=evidence_problems(store, gate.run_id) if verify else None,
        retry=retries[-1] if retries else None,
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
    proof: str | None = None  # how `user` was proven (agent.gates.identity)


def _expired(gate: GateRecord, now: datetime) -> bool:
    return gate.expires_at is not None and now >= parse_time(gate.expires_at)


def expire_gate(store: EvidenceStore, gate: GateRecord, *, why: str) -> None:
    """Close an expired gate and its run (`expired`, evidence kept and sealed), together."""
    with store.transaction() as tx:
        if tx.gate_transition(gate.gate_id, gate.state, "expired", reason=why):
            run = tx.run(gate.run_id)
            if run.state in (RunState.PAUSED, RunState.APPROVED):
                tx.transition(gate.run_id, run.state, RunState.EXPIRED, reason=why)


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
    store: EvidenceStore,
    policy: Policy,
    view: GateView,
    user: str,
    *,
    rejecting: bool,
    proof: str | None = None,
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
        refused = {"gate_id": view.gate.gate_id, "user": user, "reason": exc.message}
        if proof is not None:
            refused["proof"] = proof
        store.append_event(view.gate.run_id, "approval_refused", refused)
        raise


def approve_gate(
    store: EvidenceStore,
    policy: Policy,
    gate_id: str,
    *,
    user: str,
    note: str = "",
    now: datetime | None = None,
    proof: str | None = None,
) -> Decision:
    """Record `user`'s approval (proven by `proof`); GateError/PolicyError (with the rule)
    when refused."""
    now = now or datetime.now(UTC)
    view = gate_view(store, policy, gate_id)
    if view.gate.state == "pending" and _expired(view.gate, now):
        expire_gate(store, view.gate, why=f"gate expired at {view.gate.expires_at}")
    _refuse_if_closed(view.gate, view.run, now)
    _check_decider(store, policy, view, user, rejecting=False, proof=proof)
    return _approve_atomically(store, view, user, note, now, proof)


def _approve_atomically(
    store: EvidenceStore,
    view: GateView,
    user: str,
    note: str,
    now: datetime,
    proof: str | None,
) -> Decision:
    gate, needed = view.gate, view.needs.approvals
    with store.transaction() as tx:  # one transaction: see the module docstring
        _refuse_if_closed(tx.gate(gate.gate_id), tx.run(gate.run_id), now)  # raises: rolled back
        approvers = tx.approvers(gate.gate_id, gate.bind_hash)
        if user in approvers:
            raise PolicyError(
                f"user {user!r} already approved gate {gate.gate_id}; it needs "
                f"{needed} distinct approvers",
                hint="a second, different approver must approve it",
            )
        tx.record_approval(
            gate.gate_id,
            approver=user,
            decision="approved",
            bind_hash=gate.bind_hash,
            note=note,
            at=iso(now),
            proof=proof,
        )
        approvers.add(user)
        complete = len(approvers) >= needed
        if complete:
            _move_gate(tx, gate, "approved", None)
            _move_run(tx, gate, RunState.APPROVED, f"approved by {', '.join(sorted(approvers))}")
    return Decision(
        gate.gate_id, gate.run_id, user, "approved", complete, len(approvers), needed, proof
    )


def _move_gate(tx: Transaction, gate: GateRecord, target: str, reason: str | None) -> None:
    if not tx.gate_transition(gate.gate_id, "pending", target, reason=reason):
        raise GateError(f"gate {gate.gate_id} was decided by someone else meanwhile")


def _move_run(tx: Transaction, gate: GateRecord, target: RunState, reason: str) -> None:
    # Checked `paused` under the same lock: a failed compare-and-set is a bug, so roll back.
    if not tx.transition(gate.run_id, RunState.PAUSED, target, reason=reason):
        raise GateError(f"gate {gate.gate_id}: its run {gate.run_id} moved meanwhile")


def reject_gate(
    store: EvidenceStore,
    policy: Policy,
    gate_id: str,
    *,
    user: str,
    reason: str,
    now: datetime | None = None,
    proof: str | None = None,
) -> Decision:
    """Reject (as `user`, proven by `proof`): the gate and its run close as `rejected`;
    nothing was committed."""
    now = now or datetime.now(UTC)
    if not reason.strip():
        raise GateError("a rejection needs a reason", hint="aijia reject ID --reason '…'")
    view = gate_view(store, policy, gate_id)
    _refuse_if_closed(view.gate, view.run, now)
    _check_decider(store, policy, view, user, rejecting=True, proof=proof)
    gate, why = view.gate, f"rejected by {user}"
    with store.transaction() as tx:  # gate, decision and run together: see the docstring
        _refuse_if_closed(tx.gate(gate_id), tx.run(gate.run_id), now)  # raises: rolled back
        _move_gate(tx, gate, "rejected", why)
        tx.record_approval(
            gate_id,
            approver=user,
            decision="rejected",
            bind_hash=gate.bind_hash,
            note=reason,
            proof=proof,
        )
        _move_run(tx, gate, RunState.REJECTED, why)
    return Decision(gate_id, gate.run_id, user, "rejected", True, 0, view.needs.approvals, proof)


def approval_expiry(store: EvidenceStore, gate: GateRecord, ttl_hours: float) -> datetime | None:
    """When the approvals of `gate` stop being usable (None: not approved). With two
    approvers the older approval counts: every signature must still be fresh."""
    times = [parse_time(a.at) for a in store.approvals(gate.gate_id) if a.decision == "approved"]
    if not times:
        return None
    return min(times) + timedelta(hours=ttl_hours)


def record_auto_approval(store: EvidenceStore, gate: GateRecord, *, why: str) -> bool:
    """Policy approves `gate` by itself (approver `policy:auto`): gate and run `approved`, in
    one transaction. False (nothing written) when the gate was no longer pending or its run
    no longer paused."""
    with store.transaction() as tx:
        current, run = tx.gate(gate.gate_id), tx.run(gate.run_id)
        if current.state != "pending" or run.state is not RunState.PAUSED:
            return False
        _move_gate(tx, gate, "approved", "auto-approved")
        tx.record_approval(
            gate.gate_id,
            approver=AUTO_APPROVER,
            decision="approved",
            bind_hash=gate.bind_hash,
            note=why,
            proof=AUTO_APPROVER,
        )
        _move_run(tx, gate, RunState.APPROVED, "auto-approved")
    return True
