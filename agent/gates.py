"""Gates around the runner: who started a run, what its gate needs, resume and reconcile.

    result = await start_run(recipe, inputs, user="lead", settings=s, store=store)
    # paused at a gate -> a reviewer: agent/approvals.approve_gate(...) then
    result = await resume_approved(run_id, user="reviewer", settings=s, store=store)
    # the process died while committing -> never retry blindly:
    outcome = await reconcile(run_id, user="supervisor", settings=s, store=store)

`GateRecorder` wraps the evidence store the runner writes to: it records the initiator when
the run is created, and records each gate with what policy requires (approvals, expiry) and
fires the webhook. The runner and `resume_run` are unchanged; they only see a store.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from agent.approvals import (
    INITIATED,
    approval_expiry,
    expire_gate,
    initiator_of,
    iso,
)
from agent.errors import GateError
from agent.policy import AUTO_APPROVER, Policy
from agent.states import RunState
from agent.webhook import notify_gate_opened

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from agent.config import Settings
    from agent.recipe import Recipe
    from agent.runner import RunResult
    from evidence.api import EvidenceSink, RunRecord
    from evidence.gates import GateRecord
    from evidence.store import EvidenceStore

OWNER = "commit_owner"  # event kind: the process that may be committing (pid, host)


class GateRecorder:
    """The store as the runner sees it, plus policy: initiator, required approvals, expiry,
    webhook. Everything else is the store's own."""

    def __init__(self, store: EvidenceStore, settings: Settings, user: str) -> None:
        self._store, self._settings, self.user = store, settings, user
        self.policy = Policy(settings.policy)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    @property
    def sink(self) -> EvidenceSink:
        return cast("EvidenceSink", self)

    def create_run(self, **fields: Any) -> RunRecord:
        record = self._store.create_run(**fields)
        roles = self.policy.roles_of(self.user)
        self._store.append_event(record.run_id, INITIATED, {"user": self.user, "roles": roles})
        return record

    def record_gate(
        self, run_id: str, *, action: str, summary: str, binds: Mapping[str, Any]
    ) -> GateRecord:
        needs = self.policy.requirements(action, binds)
        ttl = timedelta(hours=self._settings.policy.approval_ttl_hours)
        gate = self._store.record_gate(
            run_id,
            action=action,
            summary=summary,
            binds=binds,
            required_approvals=needs.approvals,
            expires_at=iso(datetime.now(UTC) + ttl),
        )
        run = self._store.get_run(run_id)
        initiator = initiator_of(self._store, run_id)
        notice = {
            "gate_id": gate.gate_id,
            "run_id": run_id,
            "recipe": run.recipe,
            "site": run.site,
            "action": action,
            "summary": gate.summary,
            "binds": dict(gate.binds),
            "initiator": initiator,
            "requires": needs.describe(),
            "approvers": self.policy.approvers(action, needs, initiator=initiator),
            "expires_at": gate.expires_at,
        }

        def record(kind: str, data: dict[str, Any]) -> None:
            self._store.append_event(run_id, kind, {"gate_id": gate.gate_id, **data})

        if not needs.auto:  # nobody needs to act on a gate policy approves itself
            notify_gate_opened(self._settings.webhook, notice, record)
        return gate


def recipe_of(run: RunRecord, settings: Settings) -> Recipe:
    from agent.recipe import find_recipe, load_recipe

    site = settings.sites.get(run.site)
    flavor = (site.flavor if site else "") or run.site
    recipe = load_recipe(find_recipe(run.recipe, flavor))
    return recipe


def latest_gate(store: EvidenceStore, run_id: str, state: str | None = None) -> GateRecord:
    gates = store.list_gates(run_id=run_id, state=state)
    if not gates:
        what = f"{state} gate" if state else "gate"
        raise GateError(f"run {run_id} has no {what}", hint=f"`aijia runs show {run_id}`")
    return gates[-1]


# ---------------------------------------------------------------------- starting a run


async def start_run(
    recipe: Recipe,
    inputs: Mapping[str, Any],
    *,
    user: str,
    settings: Settings,
    store: EvidenceStore,
    browser: Browser | None = None,
    **options: Any,
) -> RunResult:
    """`run_recipe` for `user` (PolicyError when their roles may not run it); a gate that
    policy auto-approves is approved by `policy:auto` and committed straight away."""
    from agent.runner import run_recipe

    recorder = GateRecorder(store, settings, user)
    recorder.policy.check_may_run(user, recipe.name)
    result = await run_recipe(
        recipe, inputs, settings=settings, store=recorder.sink, browser=browser, **options
    )
    return await auto_approve(result, recipe, recorder, browser=browser)


async def auto_approve(
    result: RunResult, recipe: Recipe, recorder: GateRecorder, *, browser: Browser | None = None
) -> RunResult:
    """When policy approves this gate by itself: paused -> approved (by policy:auto) -> commit."""
    gate = result.gate
    if result.state is not RunState.PAUSED or gate is None or gate.gate_id is None:
        return result
    needs = recorder.policy.requirements(gate.action, gate.binds)
    if not needs.auto:
        return result
    store: EvidenceStore = recorder._store
    record = store.get_gate(gate.gate_id)
    if not store.gate_transition(record.gate_id, "pending", "approved", reason="auto-approved"):
        return result
    store.record_approval(
        record.gate_id,
        approver=AUTO_APPROVER,
        decision="approved",
        bind_hash=record.bind_hash,
        note="; ".join(needs.why),
    )
    store.transition(record.run_id, RunState.PAUSED, RunState.APPROVED, reason="auto-approved")
    committed = await _commit(record, recipe, recorder, browser)
    return committed if committed.gate is not None else replace(committed, gate=gate)


# ---------------------------------------------------------------------- resume


async def resume_approved(
    run_id: str,
    *,
    user: str,
    settings: Settings,
    store: EvidenceStore,
    browser: Browser | None = None,
    now: datetime | None = None,
) -> RunResult:
    """Commit an approved run once (see agent/resume.py); refuses expired approvals."""
    recorder = GateRecorder(store, settings, user)
    if not recorder.policy.roles_of(user):
        recorder.policy.check_may_run(user, "resume")  # raises: unknown user
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
    expires = approval_expiry(store, gate, settings.policy.approval_ttl_hours)
    if expires is not None and (now or datetime.now(UTC)) >= expires:
        expire_gate(store, gate, why=f"approval expired at {iso(expires)}")
        raise GateError(
            f"the approval of gate {gate.gate_id} expired at {iso(expires)} "
            f"(policy.approval_ttl_hours = {settings.policy.approval_ttl_hours:g}); "
            f"run {run_id} is closed as expired",
            hint="start a new run to prepare the action again",
        )
    return await _commit(gate, recipe_of(run, settings), recorder, browser)


async def _commit(
    gate: GateRecord, recipe: Recipe, recorder: GateRecorder, browser: Browser | None
) -> RunResult:
    from agent.resume import resume_run

    store: EvidenceStore = recorder._store
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "user": recorder.user}
    store.append_event(gate.run_id, OWNER, owner)
    result = await resume_run(
        recipe,
        gate.run_id,
        approved_binds=gate.binds,
        settings=recorder._settings,
        store=recorder.sink,
        browser=browser,
    )
    if result.state is RunState.DONE:
        store.gate_transition(gate.gate_id, "approved", "used", reason="committed once")
    elif result.state is RunState.PAUSED:  # drift: a new gate waits; this approval is spent
        newer = result.gate.gate_id if result.gate else "?"
        store.gate_transition(
            gate.gate_id, "approved", "expired", reason=f"drift: superseded by gate {newer}"
        )
    elif result.state is RunState.FAILED:
        store.gate_transition(gate.gate_id, "approved", "expired", reason="the run failed")
    return result


# ---------------------------------------------------------------------- reconcile


@dataclass(frozen=True)
class Reconciled:
    run_id: str
    state: RunState  # done (the action happened) or approved (it did not: resume commits it)
    committed: bool
    values: dict[str, Any]
    reason: str


def _committer(store: EvidenceStore, run_id: str) -> str | None:
    """Who may still be committing this run: 'process N' (alive here), 'a process on host H'
    (cannot be checked from here), or None when that process is gone."""
    owners = [e.data for e in store.events(run_id) if e.kind == OWNER]
    if not owners:
        return None
    host, pid = owners[-1].get("host"), int(owners[-1].get("pid") or 0)
    if host != socket.gethostname():
        return f"a process on host {host}"
    if pid <= 0 or pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return f"process {pid}"


def committed_from(values: Mapping[str, Any], binds: Mapping[str, Any]) -> bool | None:
    """Did the action happen? The reconcile steps may say so (`committed`); for a refund
    (binds `amount` and `refundable_before`, reconcile re-reading `refundable`) the refundable
    amount has dropped by at least the refund. None: cannot tell."""
    if isinstance(values.get("committed"), bool):
        return bool(values["committed"])
    now = values.get("refundable")
    try:
        before = float(str(binds["refundable_before"]).replace(",", ""))
        amount = float(str(binds["amount"]).replace(",", ""))
        current = float(str(now["amount"] if isinstance(now, Mapping) else now))
    except (KeyError, TypeError, ValueError):
        return None
    return current <= before - amount + 0.005


async def reconcile(
    run_id: str,
    *,
    user: str,
    settings: Settings,
    store: EvidenceStore,
    browser: Browser | None = None,
) -> Reconciled:
    """Settle an `in_doubt` run (or one left `committing` by a dead process) by reading the
    back office with the recipe's reconcile steps: `done` when the action happened, else back
    to `approved` (the approval still holds; `aijia resume RUN` commits it). Never retries."""
    from agent.resume import reconcile_run

    policy = Policy(settings.policy)
    if not policy.roles_of(user):
        policy.check_may_run(user, "reconcile")  # raises: unknown user
    run = store.get_run(run_id)
    if run.state is RunState.COMMITTING:
        committer = _committer(store, run_id)
        if committer is not None:
            raise GateError(
                f"run {run_id} may be being committed right now by {committer}",
                hint="wait for it; reconcile only runs once that process is gone",
            )
        store.transition(
            run_id,
            RunState.COMMITTING,
            RunState.IN_DOUBT,
            reason="the committing process is gone; the action may or may not have happened",
        )
        run = store.get_run(run_id)
    if run.state is not RunState.IN_DOUBT:
        raise GateError(
            f"run {run_id} is {run.state.value}; only an in_doubt run is reconciled",
            hint=f"`aijia runs show {run_id}`",
        )
    gate = latest_gate(store, run_id, "approved")
    values = await reconcile_run(
        recipe_of(run, settings), run_id, settings=settings, store=store, browser=browser
    )
    committed = committed_from(values, gate.binds)
    if committed is None:
        raise GateError(
            f"run {run_id}: the reconcile steps did not show whether {gate.action} happened "
            f"(read: {sorted(values)}); it stays in_doubt",
            hint="check the back office by hand; reconcile steps should set `committed`",
        )
    if committed:
        reason = f"reconcile by {user}: {gate.action} found in the back office"
        store.finish_run(run_id, outputs={"reconciled": values})
        store.transition(run_id, RunState.IN_DOUBT, RunState.DONE, reason=reason)
        store.gate_transition(gate.gate_id, "approved", "used", reason=reason)
        state = RunState.DONE
    else:
        reason = f"reconcile by {user}: {gate.action} not found; the approval still holds"
        store.transition(run_id, RunState.IN_DOUBT, RunState.APPROVED, reason=reason)
        state = RunState.APPROVED
    return Reconciled(run_id, state, committed, values, reason)
