"""Settling a run whose commit may or may not have happened, by reading the back office.

    outcome = await settle_in_doubt(run_id, user="supervisor", settings=s, store=store)

A run is `in_doubt` when its process died (or a step failed) after a commit step started:
the refund may have been issued. It is never retried blindly. Reconcile runs the recipe's
read-only `reconcile` steps (a fresh context, the same login) with the approved binds in
scope as `approved`; the recipe decides, in its own terms, whether its action happened and
sets `committed: true/false`. Then the run is `done` (it happened) or back to `approved`
(it did not: the approval still holds and a resume commits it once). A recipe that cannot
tell leaves the run in doubt for a person to check.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.browser.login import SessionManager
from agent.core.errors import GateError, StepError
from agent.core.states import RunState
from agent.engine.execute import execute_steps
from agent.engine.setup import capture_failure, open_run, plan_run
from agent.gates.recorder import OWNER, latest_gate, recipe_of
from agent.recipes.model import Recipe

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from agent.core.settings import Settings
    from evidence.api import EvidenceSink
    from evidence.store import EvidenceStore


@dataclass(frozen=True)
class Reconciled:
    run_id: str
    state: RunState  # done (the action happened) or approved (it did not: resume commits it)
    committed: bool
    values: dict[str, Any]
    reason: str


async def reconcile_run(
    recipe: Recipe,
    run_id: str,
    *,
    approved_binds: Mapping[str, Any],
    settings: Settings,
    store: EvidenceSink,
    browser: Browser | None = None,
    sessions: SessionManager | None = None,
) -> dict[str, Any]:
    """Run the recipe's read-only `reconcile` steps for a run and return what they read.
    Nothing here changes the run's state, and reconcile steps cannot change the back office
    (a validation rule)."""
    if not recipe.reconcile:
        raise GateError(
            f"recipe {recipe.name} has no `reconcile` steps",
            hint="add read-only steps that show whether the action already happened",
        )
    record = store.get_run(run_id)
    plan = plan_run(recipe, dict(record.inputs), settings=settings, store=store, site=record.site)
    sessions = sessions or SessionManager(settings)
    async with open_run(
        plan, settings=settings, store=store, run_id=run_id, browser=browser, sessions=sessions
    ) as ctx:
        ctx.event("reconcile_started", {"state": record.state.value})
        if plan.login is not None:
            await sessions.ensure_logged_in(ctx, plan.login)
        ctx.values = {"approved": dict(approved_binds)}
        try:
            await execute_steps(ctx, list(recipe.reconcile))
        except StepError as exc:
            await capture_failure(ctx)
            ctx.event("reconcile_failed", {"error": ctx.masker.text(str(exc))})
            raise
        read = {k: v for k, v in ctx.values.items() if k != "approved"}
        found: dict[str, Any] = plan.masker.data(read)
        ctx.event("reconcile_finished", {"values": found})
        return found


def committer(store: EvidenceStore, run_id: str) -> str | None:
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


async def settle_in_doubt(
    run_id: str,
    *,
    user: str,
    settings: Settings,
    store: EvidenceStore,
    browser: Browser | None = None,
    sessions: SessionManager | None = None,
) -> Reconciled:
    """Settle an `in_doubt` run (or one left `committing` by a dead process): `done` when the
    recipe's reconcile steps say the action happened, else back to `approved`. Never retries.
    Who may do this is the facade's check."""
    run = store.get_run(run_id)
    if run.state is RunState.COMMITTING:
        holder = committer(store, run_id)
        if holder is not None:
            raise GateError(
                f"run {run_id} may be being committed right now by {holder}",
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
        recipe_of(run, settings),
        run_id,
        approved_binds=gate.binds,
        settings=settings,
        store=store,
        browser=browser,
        sessions=sessions,
    )
    committed = values.get("committed")
    if not isinstance(committed, bool):
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
        return Reconciled(run_id, RunState.DONE, True, values, reason)
    reason = f"reconcile by {user}: {gate.action} not found; the approval still holds"
    store.transition(run_id, RunState.IN_DOUBT, RunState.APPROVED, reason=reason)
    return Reconciled(run_id, RunState.APPROVED, False, values, reason)
