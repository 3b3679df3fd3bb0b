"""Settling a run whose commit may or may not have happened, by reading the back office.

    outcome = await settle_in_doubt(run_id, user="supervisor", settings=s, store=store)

A run is `in_doubt` when its commit request left the browser and then something failed (or
its committer stopped: a `committing` run whose commit lease expired): the refund may have
been issued. It is never retried blindly. Reconcile holds the run's commit lease while it
works (agent/engine/lease.py: it refuses while a live committer holds it, and taking it over
makes a paused committer's request fail its last check), then runs the recipe's read-only
`reconcile` steps (a fresh context, the same login) with the approved binds in scope as
`approved`.

By identity, never by arithmetic: the commit request carries a reference the agent wrote
(bound by the gate, e.g. `aijia <run id>` in the refund's reference field), and the recipe
looks for its own action by it. `committed: true` only when a refund with that reference is
in the back office; `false` only when the recipe can positively show there is none; anything
else (left unset or null: e.g. an unreferenced refund of the same amount it cannot rule out)
leaves the run `in_doubt` for a person, with what was read in the evidence. Then the run is
`done` (with its gate `used`, one transaction) or back to `approved` (the approval still holds
and a resume commits it once).

Notices (agent/gates/notify.py), as a commit sends them: `run_committed` when the action is
found (the run is done: whoever waits on the gate hears it, as if the commit had finished);
`commit_failed` when a run its committer left `committing` cannot be told and becomes
`in_doubt` (nobody has been told yet, and a person must now look). Back to `approved` sends
nothing: the commit that follows sends its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.browser.login import SessionManager
from agent.core.errors import GateError, StepError
from agent.core.states import RunState
from agent.engine.execute import execute_steps
from agent.engine.lease import hold_commit_lease
from agent.engine.lifecycle import finish_done, repair_done_gates
from agent.engine.setup import capture_failure, open_run, plan_run
from agent.gates.notify import gate_changed
from agent.gates.policy import Policy
from agent.gates.recorder import latest_gate, recipe_of
from agent.gates.trust import require_verified
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


async def settle_in_doubt(
    run_id: str,
    *,
    user: str,
    settings: Settings,
    store: EvidenceStore,
    browser: Browser | None = None,
    sessions: SessionManager | None = None,
) -> Reconciled:
    """Settle an `in_doubt` run (or a `committing` one whose committer's lease expired):
    `done` when the recipe's reconcile steps find the agent's own action, back to `approved`
    when they show it is not there, else GateError and the run stays in_doubt. Never
    retries. Who may do this is the facade's check."""
    repair_done_gates(store, run_id)
    _check_state(store, run_id)
    lease_s = settings.policy.commit_lease_s
    purpose = f"reconcile by {user}"
    async with hold_commit_lease(store, run_id, lease_s=lease_s, purpose=purpose):
        run = store.get_run(run_id)  # again, under the lease
        _check_state(store, run_id)
        was_committing = run.state is RunState.COMMITTING
        if was_committing:
            store.transition(
                run_id,
                RunState.COMMITTING,
                RunState.IN_DOUBT,
                reason="the committer's lease expired; the action may or may not have happened",
            )
        require_verified(store, run_id)
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
            why = f"the reconcile steps could not tell whether {gate.action} happened"
            store.append_event(run_id, "reconcile_undecided", {"reason": why, "user": user})
            if was_committing:  # it just became in_doubt: tell someone to look
                _notify(
                    store, settings, gate.gate_id, "commit_failed", why, {"run_state": "in_doubt"}
                )
            raise GateError(
                f"run {run_id}: {why} (read: {_shown(values)}); it stays in_doubt",
                hint="check the back office by hand, then `aijia runs close "
                f"{run_id} --reason …` (or reconcile again once it shows)",
            )
        if committed:
            reason = f"reconcile by {user}: {gate.action} found in the back office"
            finish_done(store, run_id, gate.gate_id, {"reconciled": values}, reason=reason)
            found = {k: v for k, v in values.items() if isinstance(v, (str, int, float))}
            _notify(store, settings, gate.gate_id, "run_committed", reason, found)
            return Reconciled(run_id, RunState.DONE, True, values, reason)
        reason = f"reconcile by {user}: {gate.action} not found; the approval still holds"
        store.transition(run_id, RunState.IN_DOUBT, RunState.APPROVED, reason=reason)
        return Reconciled(run_id, RunState.APPROVED, False, values, reason)


def _notify(
    store: EvidenceStore,
    settings: Settings,
    gate_id: str,
    event: str,
    reason: str,
    detail: dict[str, Any],
) -> None:
    """The gate's notice for how reconcile settled it (never raises for a channel)."""
    detail = {"settled_by": "reconcile", **detail}
    gate_changed(
        store, settings, Policy(settings.policy), gate_id, event, reason=reason, detail=detail
    )


def _check_state(store: EvidenceStore, run_id: str) -> None:
    state = store.get_run(run_id).state
    if state not in (RunState.COMMITTING, RunState.IN_DOUBT):
        raise GateError(
            f"run {run_id} is {state.value}; only an in_doubt run (or a committing one whose "
            "committer stopped) is reconciled",
            hint=f"`aijia runs show {run_id}`",
        )


def _shown(values: Mapping[str, Any], limit: int = 300) -> str:
    text = ", ".join(f"{k}={v!r}" for k, v in values.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"
