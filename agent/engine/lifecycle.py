"""After the gate: policy's own approvals, resuming an approved run, committing it once.

    result = await auto_approve(result, recipe, recorder, browser=b)   # policy:auto gates
    gate = approved_gate(store, run_id, settings)                        # or GateError
    result = await commit_approved(gate, recipe, recorder, browser=b)

Internal: the facade (`agent.Aijia`) calls these after it has checked who is asking. The
gate's fate follows the run's: `used` when the commit is done, `expired` when drift opened a
newer gate or the run failed.
"""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from agent.core.errors import GateError
from agent.core.states import RunState
from agent.engine.commit import resume_run
from agent.gates.decide import approval_expiry, expire_gate, iso, record_auto_approval
from agent.gates.recorder import OWNER, GateRecorder, latest_gate

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from agent.core.settings import Settings
    from agent.engine.result import RunResult
    from agent.recipes.model import Recipe
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
        expire_gate(store, gate, why=f"approval expired at {iso(expires)}")
        raise GateError(
            f"the approval of gate {gate.gate_id} expired at {iso(expires)} "
            f"(policy.approval_ttl_hours = {ttl:g}); run {run_id} is closed as expired",
            hint="start a new run to prepare the action again",
        )
    return gate


async def commit_approved(
    gate: GateRecord, recipe: Recipe, recorder: GateRecorder, *, browser: Browser | None
) -> RunResult:
    """Commit the approved run of `gate` once (see agent/engine/commit.py)."""
    store = recorder.store
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "user": recorder.user}
    store.append_event(gate.run_id, OWNER, owner)
    result = await resume_run(
        recipe,
        gate.run_id,
        approved_binds=gate.binds,
        settings=recorder.settings,
        store=recorder,
        browser=browser,
    )
    if result.state is RunState.DONE:
        store.gate_transition(gate.gate_id, "approved", "used", reason="committed once")
    elif result.state is RunState.PAUSED:  # drift, or the page sent something else than
        # approved (agent/engine/binding.py): a new gate waits; this approval is spent
        newer = result.gate.gate_id if result.gate else "?"
        store.gate_transition(
            gate.gate_id, "approved", "expired", reason=f"drift: superseded by gate {newer}"
        )
    elif result.state is RunState.FAILED:
        store.gate_transition(gate.gate_id, "approved", "expired", reason="the run failed")
    return result
