"""The commit phase: resume an approved run, re-verify what was approved, commit once.

    result = await resume_run(recipe, run_id, approved_binds=gate.binds, settings=…, store=…)

Deciding that an approval is valid (roles, expiry, two approvers) is the gate logic's job; it
moves the run to `approved` and calls this. Here, as DESIGN.md says: a fresh context (saved
session), the prepare phase again, the gate's binds rendered again and compared with the
approved ones. Any drift (e.g. the order was refunded meanwhile) pauses the run again with
the difference and a new gate. Otherwise a compare-and-set `approved -> committing` (only one
resumer wins) and the commit steps run once: never retried, and a failure after a click or key
press started leaves the run `in_doubt` (a reconcile must look before anyone retries).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.browser.login import SessionManager
from agent.core.errors import GateError, StepError
from agent.core.states import RunState
from agent.engine.execute import execute_steps
from agent.engine.result import GateInfo, RunResult, with_duration
from agent.engine.setup import (
    capture_failure,
    open_run,
    plan_run,
    render_outputs,
    run_prepare_phase,
)
from agent.recipes.model import Recipe
from agent.steps.base import PauseRun

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from agent.core.settings import Settings
    from agent.engine.context import RunContext
    from evidence.api import EvidenceSink


def _normal(value: Any) -> Any:
    """Compare binds as the store keeps them: JSON values."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


async def resume_run(
    recipe: Recipe,
    run_id: str,
    *,
    approved_binds: Mapping[str, Any],
    settings: Settings,
    store: EvidenceSink,
    browser: Browser | None = None,
    headed: bool = False,
    sessions: SessionManager | None = None,
) -> RunResult:
    """Commit an approved run once; GateError when it is not `approved` (or not this recipe)."""
    record = store.get_run(run_id)
    if record.state is not RunState.APPROVED:
        raise GateError(
            f"run {run_id} is {record.state.value}, not approved; nothing to resume",
            hint="only an approved run can be resumed, and only once",
        )
    if (record.recipe, record.recipe_version) != (recipe.name, recipe.version):
        raise GateError(
            f"run {run_id} was approved for {record.recipe} v{record.recipe_version}, "
            f"not {recipe.name} v{recipe.version}",
            hint="the recipe changed after the approval: start a new run",
        )
    gate_at = recipe.gate_index()
    if gate_at is None:
        raise GateError(f"recipe {recipe.name} has no gate; there is nothing to resume")
    plan = plan_run(recipe, dict(record.inputs), settings=settings, store=store, site=record.site)
    base = {
        "recipe": recipe.name,
        "site": record.site,
        "run_id": run_id,
        "inputs": plan.masker.data(plan.inputs),
    }
    started = time.monotonic()
    sessions = sessions or SessionManager(settings)
    async with open_run(
        plan,
        settings=settings,
        store=store,
        run_id=run_id,
        browser=browser,
        sessions=sessions,
        headed=headed,
    ) as ctx:
        result = await _resume(ctx, plan.login, sessions, gate_at, approved_binds, base)
    return with_duration(result, started)


async def _resume(
    ctx: RunContext,
    login: Recipe | None,
    sessions: SessionManager,
    gate_at: int,
    approved: Mapping[str, Any],
    base: dict[str, Any],
) -> RunResult:
    store, run_id, recipe = ctx.sink, ctx.run_id, ctx.recipe
    ctx.event("resume_started", {"approved_binds": dict(approved)})
    state = RunState.APPROVED
    try:
        await run_prepare_phase(ctx, login, sessions)
        gate = recipe.steps[gate_at].params
        binds = ctx.masker.data({k: ctx.render(v) for k, v in gate.binds.items()})
        summary = str(ctx.render(gate.summary))
        changed = sorted(
            k
            for k in set(binds) | set(approved)
            if _normal(binds.get(k)) != _normal(approved.get(k))
        )
        if changed:
            return _drifted(ctx, gate_at, gate.action, summary, binds, approved, changed, base)
        if not store.transition(
            run_id, RunState.APPROVED, RunState.COMMITTING, reason="approved binds re-verified"
        ):
            raise GateError(f"run {run_id} is already being committed by someone else")
        state = RunState.COMMITTING
        ctx.phase = "commit"
        await execute_steps(ctx, list(recipe.steps[gate_at + 1 :]))
        outputs = render_outputs(ctx)
        ctx.event("action_done", {"action": gate.action, "summary": summary, "result": outputs})
        await ctx.save_trace()
        store.finish_run(run_id, outputs=outputs)
        store.transition(run_id, RunState.COMMITTING, RunState.DONE)
        return RunResult(**base, state=RunState.DONE, outputs=outputs)
    except (StepError, PauseRun) as exc:
        await capture_failure(ctx)
        if isinstance(exc, PauseRun):
            message = f"a {exc.reason} was needed during the resumed run; stopped"
        else:
            message = ctx.masker.text(str(exc))
        final = RunState.IN_DOUBT if ctx.act_started else RunState.FAILED
        await ctx.save_trace()
        store.finish_run(run_id, outputs=render_outputs(ctx, partial=True), error=message)
        store.transition(run_id, state, final, reason=message.splitlines()[0])
        return RunResult(
            **base,
            state=final,
            error=message,
            exit_code=1,
            error_step=getattr(exc, "step_number", None),
        )


def _drifted(
    ctx: RunContext,
    gate_at: int,
    action: str,
    summary: str,
    binds: dict[str, Any],
    approved: Mapping[str, Any],
    changed: list[str],
    base: dict[str, Any],
) -> RunResult:
    """The back office changed since approval: pause again, showing what changed."""
    store, run_id = ctx.sink, ctx.run_id
    diff = {k: {"approved": approved.get(k), "now": binds.get(k)} for k in changed}
    ctx.event("gate_drift", {"step": str(gate_at + 1), "changed": diff})
    text = ", ".join(f"{k}: {d['approved']!r} -> {d['now']!r}" for k, d in diff.items())
    # Pause first: when a concurrent resumer already moved the run (committing, done), the
    # drift is its own commit showing; no new gate is opened for a run that moved on.
    if not store.transition(
        run_id,
        RunState.APPROVED,
        RunState.PAUSED,
        reason=ctx.masker.text(f"drift since approval: {text}"),
    ):
        raise GateError(f"run {run_id} was resumed by someone else meanwhile; not re-gated")
    recorded = store.record_gate(run_id, action=action, summary=summary, binds=binds)
    gate = GateInfo(
        step=str(gate_at + 1),
        step_index=gate_at,
        action=action,
        summary=summary,
        binds=binds,
        gate_id=recorded.gate_id,
        bind_hash=recorded.bind_hash,
    )
    return RunResult(
        **base,
        state=RunState.PAUSED,
        pause_reason="drift",
        gate=gate,
        exit_code=3,
        error=f"drift since approval: {text}",
    )
