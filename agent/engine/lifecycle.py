"""After the gate: policy's own approvals, resuming an approved run, committing it once.

    result = await auto_approve(result, recipe, recorder, browser=b)   # policy:auto gates
    gate = approved_gate(store, run_id, settings)                        # or GateError
    result = await commit_approved(gate, recipe, recorder, browser=b)

Internal: the facade (`agent.Aijia`) calls these after it has checked who is asking. The
gate's fate follows the run's: `used` when the commit is done (in the same transaction as the
run's `done`: a process killed between the two cannot leave the gate approved), `expired` when
drift opened a newer gate or the run failed. While the site is down nothing changes: the run
and its gate stay approved with a retry time (agent/engine/commit.py).

Before any commit step: the run's commit lease is taken (agent/engine/lease.py; refused while
another process holds it), then the run's evidence is verified (agent/gates/trust.py; refused
with EvidenceError when the store's rows disagree with the chain). `repair_done_gates` moves
a gate left `approved` on a `done` run (a store written before the two were one transaction)
to `used`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from agent.core.errors import GateError, PolicyError
from agent.core.states import RunState
from agent.engine.commit import resume_run
from agent.engine.lease import hold_commit_lease, refuse_held, this_process
from agent.gates.decide import (
    approval_expiry,
    expire_gate,
    initiator_of,
    iso,
    parse_time,
    record_auto_approval,
)
from agent.gates.notify import gate_changed
from agent.gates.policy import Policy
from agent.gates.recorder import OWNER, GateRecorder, latest_gate, retries_since_approval
from agent.gates.trust import require_verified
from evidence.leases import LeaseHeld

EXPIRED = "gate_expired"  # notice event (agent/gates/notices.py)

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from agent.core.settings import Settings
    from agent.engine.result import RunResult
    from agent.recipes.model import Recipe
    from evidence.api import RunRecord
    from evidence.gates import GateRecord
    from evidence.store import EvidenceStore


async def auto_approve(
    result: RunResult, recipe: Recipe, recorder: GateRecorder, *, browser: Browser | None
) -> RunResult:
    """When policy approves this gate by itself: paused -> approved (by policy:auto) -> commit."""
    gate = result.gate
    if result.state is not RunState.PAUSED or gate is None or gate.gate_id is None:
        return result
    needs = recorder.policy.requirements(gate.action, gate.binds)
    if not needs.auto:
        return result
    record = recorder.store.get_gate(gate.gate_id)
    if not record_auto_approval(recorder.store, record, why="; ".join(needs.why)):
        return result
    committed = await commit_approved(record, recipe, recorder, browser=browser)
    return committed if committed.gate is not None else replace(committed, gate=gate)


def approved_gate(
    store: EvidenceStore, run_id: str, settings: Settings, now: datetime | None = None
) -> GateRecord:
    """The approved gate of a run that may be committed now; GateError saying why not (in
    doubt, not approved, the approval expired: the run is then closed as expired)."""
    run = store.get_run(run_id)
    if run.state in (RunState.COMMITTING, RunState.IN_DOUBT):
        raise GateError(
            f"run {run_id} is {run.state.value}: the action may already have happened",
            hint=f"never retry blindly: `aijia runs reconcile {run_id}` checks the back office",
        )
    if run.state is not RunState.APPROVED:
        raise GateError(
            f"run {run_id} is {run.state.value}, not approved; nothing to resume",
            hint="`aijia gates list` shows what waits for approval",
        )
    gate = latest_gate(store, run_id, "approved")
    ttl = settings.policy.approval_ttl_hours
    expires = approval_expiry(store, gate, ttl)
    if expires is not None and (now or datetime.now(UTC)) >= expires:
        why = f"approval expired at {iso(expires)}"
        expire_gate(store, gate, why=why)
        gate_changed(store, settings, Policy(settings.policy), gate.gate_id, EXPIRED, reason=why)
        raise GateError(
            f"the approval of gate {gate.gate_id} expired at {iso(expires)} "
            f"(policy.approval_ttl_hours = {ttl:g}); run {run_id} is closed as expired",
            hint="start a new run to prepare the action again",
        )
    return gate


async def commit_approved(
    gate: GateRecord, recipe: Recipe, recorder: GateRecorder, *, browser: Browser | None
) -> RunResult:
    """Commit the approved run of `gate` once (see agent/engine/commit.py), holding its
    commit lease, after verifying its evidence (EvidenceError: nothing is sent)."""
    store, settings, run_id = recorder.store, recorder.settings, gate.run_id
    lease_s = settings.policy.commit_lease_s
    purpose = f"resume by {recorder.user}"
    async with hold_commit_lease(store, run_id, lease_s=lease_s, purpose=purpose) as lease:
        gate = approved_gate(store, run_id, settings)  # again, now that nobody else acts
        require_verified(store, run_id)
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "user": recorder.user,
            "lease_until": lease.lease.expires_at,
        }
        store.append_event(run_id, OWNER, owner)
        gate_id = gate.gate_id

        def finish(outputs: dict[str, Any]) -> None:
            finish_done(store, run_id, gate_id, outputs, reason="committed once")

        result = await resume_run(
            recipe,
            run_id,
            approved_binds=gate.binds,
            settings=settings,
            store=recorder,
            browser=browser,
            lease=lease,
            finish=finish,
            attempt=len(retries_since_approval(store, run_id)) + 1,
        )
    if result.state is RunState.PAUSED:  # drift, or the page sent something else than
        # approved (agent/engine/binding.py): a new gate waits; this approval is spent
        newer = result.gate.gate_id if result.gate else "?"
        store.gate_transition(
            gate.gate_id, "approved", "expired", reason=f"drift: superseded by gate {newer}"
        )
    elif result.state is RunState.FAILED:
        store.gate_transition(gate.gate_id, "approved", "expired", reason="the run failed")
    notify_commit(recorder, gate.gate_id, result)
    return result


def notify_commit(recorder: GateRecorder, gate_id: str, result: RunResult) -> None:
    """The notice for how a commit ended: run_committed, commit_retry (nothing was sent;
    the approval holds) or commit_failed (failed, or in doubt: reconcile decides). Drift
    needs none here: the new gate sends its own `gate_opened`."""
    outputs = {k: v for k, v in result.outputs.items() if isinstance(v, (str, int, float))}
    if result.state is RunState.DONE:
        event, why, detail = "run_committed", None, outputs
    elif result.pause_reason == "retry":
        retry = retries_since_approval(recorder.store, result.run_id or "")
        event, why, detail = "commit_retry", result.error, dict(retry[-1]) if retry else {}
    elif result.state in (RunState.FAILED, RunState.IN_DOUBT):
        event, why, detail = "commit_failed", result.error, {"run_state": result.state.value}
    else:
        return
    gate_changed(
        recorder.store,
        recorder.settings,
        recorder.policy,
        gate_id,
        event,
        reason=why,
        detail=detail,
    )


def finish_done(
    store: EvidenceStore, run_id: str, gate_id: str, outputs: dict[str, Any], *, reason: str
) -> None:
    """Outputs, `committing|in_doubt -> done` and the gate `approved -> used`, in one
    transaction: nothing can leave a done run's gate approved."""
    with store.transaction() as tx:
        run = tx.run(run_id)
        if run.state not in (RunState.COMMITTING, RunState.IN_DOUBT):
            raise GateError(
                f"run {run_id} is {run.state.value}: it moved while being committed",
                hint=f"`aijia runs show {run_id}`; `aijia runs reconcile {run_id}` settles it",
            )
        tx.finish_run(run_id, outputs=outputs)
        tx.transition(run_id, run.state, RunState.DONE, reason=reason)
        tx.gate_transition(gate_id, "approved", "used", reason=reason)


def expire_overdue_gates(
    store: EvidenceStore, settings: Settings, policy: Policy, now: datetime | None = None
) -> list[str]:
    """Pending gates past their expiry -> `expired` (with their runs), each with its
    `gate_expired` notice. For a sweeper (the commit worker, a schedule): without one, an
    overdue gate is closed when someone next tries to decide it. Returns the gate ids."""
    moment = now or datetime.now(UTC)
    closed = []
    for gate in store.list_gates(state="pending"):
        if gate.expires_at is None or moment < parse_time(gate.expires_at):
            continue
        why = f"gate expired at {gate.expires_at}"
        expire_gate(store, gate, why=why)
        if store.get_gate(gate.gate_id).state == "expired":
            closed.append(gate.gate_id)
            gate_changed(store, settings, policy, gate.gate_id, EXPIRED, reason=why)
    return closed


def repair_done_gates(store: EvidenceStore, run_id: str | None = None) -> list[str]:
    """Gates still `approved` on a `done` run (a process killed between the two writes, in
    a store from before they were one transaction) -> `used`, with a `gate_state_changed`
    event that says so. Returns the gate ids repaired."""
    repaired = []
    for gate in store.list_gates(run_id=run_id, state="approved"):
        if store.get_run(gate.run_id).state is not RunState.DONE:
            continue
        with store.transaction() as tx:
            why = "repair: the run is done; its gate had been left approved"
            if tx.gate_transition(gate.gate_id, "approved", "used", reason=why):
                repaired.append(gate.gate_id)  # the transaction seals the run again
    return repaired


def close_run(
    store: EvidenceStore,
    settings: Settings,
    policy: Policy,
    run_id: str,
    *,
    user: str,
    reason: str,
) -> RunRecord:
    """A person closes an approved or in_doubt run as `failed` (e.g. the back office refused
    the refund after approval, or a reconcile could not tell and they checked by hand): its
    gate expires, a `run_closed` event says who and why, the run is sealed. Nothing is sent.

    Policy: the user must be listed and may not have started the run (separation of duties,
    as for approvals); they need the supervisor role, or a role that may approve the gate's
    action at its amount. Refused (GateError) while a live committer or reconciler holds the
    run's lease."""
    if not reason.strip():
        raise GateError("closing a run needs a reason", hint="aijia runs close RUN --reason '…'")
    run = _closable(store, run_id)
    gate = latest_gate(store, run_id, "approved")
    initiator = initiator_of(store, run_id)
    try:
        policy.check_may_close(user, action=gate.action, binds=gate.binds, initiator=initiator)
    except PolicyError as exc:
        store.append_event(run_id, "close_refused", {"user": user, "reason": exc.message})
        raise
    why = f"closed by {user}: {reason.strip()}"
    lease_s = settings.policy.commit_lease_s
    lease = store.acquire_commit_lease(
        run_id, holder=f"{this_process()} (close by {user})", lease_s=lease_s
    )
    if isinstance(lease, LeaseHeld):
        raise refuse_held(run_id, lease, lease_s)
    try:
        with store.transaction() as tx:
            run = tx.run(run_id)
            if run.state not in CLOSABLE:
                raise GateError(f"run {run_id} became {run.state.value} meanwhile; not closed")
            data = {
                "user": user,
                "roles": policy.roles_of(user),
                "reason": reason.strip(),
                "from_state": run.state.value,
                "gate_id": gate.gate_id,
            }
            tx.append_event(run_id, "run_closed", data)
            tx.gate_transition(gate.gate_id, "approved", "expired", reason=why)
            tx.finish_run(run_id, outputs=dict(run.outputs), error=why)
            tx.transition(run_id, run.state, RunState.FAILED, reason=why)
    finally:
        store.release_commit_lease(run_id, lease.token)
    gate_changed(store, settings, policy, gate.gate_id, "commit_failed", reason=why)
    return store.get_run(run_id)


CLOSABLE = (RunState.APPROVED, RunState.IN_DOUBT)


def _closable(store: EvidenceStore, run_id: str) -> RunRecord:
    run = store.get_run(run_id)
    if run.state in CLOSABLE:
        return run
    hints = {
        RunState.PAUSED: "a paused run waits at its gate: `aijia reject GATE --reason …`",
        RunState.COMMITTING: f"it may be committing now: `aijia runs reconcile {run_id}` first",
    }
    raise GateError(
        f"run {run_id} is {run.state.value}; only an approved or in_doubt run is closed",
        hint=hints.get(run.state, f"`aijia runs show {run_id}`"),
    )
