"""A first run: the prepare phase in real Chromium, to the gate (paused) or to the end (done).

    result = await run_recipe(recipe, {"order_id": "…"}, settings=settings, store=sink)

Internal: front ends start runs through the facade (`agent.Aijia`), which checks policy and
hands this a sink that records who started the run (`agent.gates.recorder.GateRecorder`).

A run: plan it (site, inputs, every secret: refused before any browser starts) -> create the
run (pending -> running) -> a fresh browser context (saved session when the recipe has
`session:`) -> the prepare steps -> at the gate: record the gate (summary, rendered binds,
step index) and pause; without a gate: outputs, done. A failure captures the failure page
(screenshot + DOM) and fails the run with the step, what was expected, what was seen and a
hint. `dry_run` runs the prepare phase only and never pauses.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.browser.login import SessionManager, account_of
from agent.browser.pool import ContextPool
from agent.core.errors import AgentError, ConfigError, InputError, StepError
from agent.core.states import RunState
from agent.engine.context import RunContext
from agent.engine.execute import execute_step
from agent.engine.result import GateInfo, RunResult, with_duration
from agent.engine.setup import (
    RunPlan,
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
    from evidence.api import EvidenceSink


async def run_recipe(
    recipe: Recipe,
    inputs: Mapping[str, Any],
    *,
    settings: Settings,
    store: EvidenceSink,
    browser: Browser | None = None,
    dry_run: bool = False,
    headed: bool = False,
    site: str | None = None,
    case_id: str | None = None,
    row: int | None = None,
    sessions: SessionManager | None = None,
    plan: RunPlan | None = None,
    pool: ContextPool | None = None,
) -> RunResult:
    """Run one recipe to its gate (paused), to the end (done), or to a failure.

    Raises InputError, SecretError, ConfigError (nothing started); BrowserError when Chromium
    cannot start. Step failures do not raise: they are in the result (state failed). `plan`:
    the run already planned by the caller (who checked it before starting a browser).
    `pool`: the batch's browser contexts, which a read-only recipe reuses.
    """
    plan = plan or plan_run(recipe, inputs, settings=settings, store=store, site=site, row=row)
    record = store.create_run(
        recipe=recipe.name,
        recipe_version=recipe.version,
        site=plan.site_name,
        inputs=plan.inputs,
        account=account_of(settings.sites[plan.site_name].credentials),
        case_id=case_id,
    )
    run_id = record.run_id
    store.transition(run_id, RunState.PENDING, RunState.RUNNING)
    started = time.monotonic()
    sessions = sessions or SessionManager(settings)
    base = {
        "recipe": recipe.name,
        "site": plan.site_name,
        "run_id": run_id,
        "row": row,
        "inputs": plan.masker.data(plan.inputs),
        "dry_run": dry_run,
    }
    try:
        async with open_run(
            plan,
            settings=settings,
            store=store,
            run_id=run_id,
            browser=browser,
            sessions=sessions,
            dry_run=dry_run,
            headed=headed,
            pool=pool,
        ) as ctx:
            result = await _drive(ctx, plan.login, sessions, base)
    except AgentError as exc:
        if isinstance(exc, InputError | ConfigError):
            raise
        close_failed(store, run_id, RunState.RUNNING, str(exc))
        raise
    return with_duration(result, started)


async def _drive(
    ctx: RunContext, login: Recipe | None, sessions: SessionManager, base: dict[str, Any]
) -> RunResult:
    recipe, store, run_id = ctx.recipe, ctx.sink, ctx.run_id
    try:
        await run_prepare_phase(ctx, login, sessions)
        gate_at = recipe.gate_index()
        if gate_at is None or ctx.dry_run:
            await ctx.save_trace()  # the trace is evidence: stored before the run is sealed
            # a dry run stops before the gate: outputs read after it (refund_id) are left out
            outputs = render_outputs(ctx, partial=ctx.dry_run)
            gate = _gate_preview(ctx, gate_at) if gate_at is not None else None
            ctx.flush_events()
            store.finish_run(run_id, outputs=outputs)
            store.transition(run_id, RunState.RUNNING, RunState.DONE)
            return RunResult(**base, state=RunState.DONE, outputs=outputs, gate=gate)
        await execute_step(ctx, recipe.steps[gate_at])
        raise AssertionError("a gate step always pauses")  # pragma: no cover
    except PauseRun as pause:
        await ctx.save_trace()
        return _pause(ctx, pause, base)
    except StepError as exc:
        await capture_failure(ctx)
        await ctx.save_trace()
        state = RunState.IN_DOUBT if ctx.act_started else RunState.FAILED
        message = ctx.masker.text(str(exc))
        outputs = render_outputs(ctx, partial=True)
        ctx.flush_events()
        store.finish_run(run_id, outputs=outputs, error=message)
        store.transition(run_id, RunState.RUNNING, state, reason=message.splitlines()[0])
        return RunResult(
            **base,
            state=state,
            outputs=outputs,
            error=message,
            # 1, or 4 when the site did not answer (SiteUnreachable): retry later, not a bug
            exit_code=exc.exit_code if state is RunState.FAILED else 1,
            error_step=getattr(exc, "step_number", None),
            error_kind=getattr(exc, "kind", None),
        )


def _pause(ctx: RunContext, pause: PauseRun, base: dict[str, Any]) -> RunResult:
    store, run_id = ctx.sink, ctx.run_id
    ctx.flush_events()
    gate = None
    if pause.reason == "gate":
        data = pause.data
        recorded = store.record_gate(
            run_id, action=data["action"], summary=data["summary"], binds=data["binds"]
        )
        gate = GateInfo(
            step=data["step"],
            step_index=data["step_index"],
            action=data["action"],
            summary=data["summary"],
            binds=data["binds"],
            gate_id=recorded.gate_id,
            bind_hash=recorded.bind_hash,
        )
        ctx.event("gate_reached", {**data, "gate_id": gate.gate_id})
        reason = f"gate {data['action']}: {data['summary']}"
    else:
        ctx.event("handoff_pending", pause.data)
        reason = f"handoff: {pause.data.get('message', '')}"
    ctx.flush_events()
    store.transition(run_id, RunState.RUNNING, RunState.PAUSED, reason=ctx.masker.text(reason))
    return RunResult(
        **base,
        state=RunState.PAUSED,
        outputs=render_outputs(ctx, partial=True),
        pause_reason=pause.reason,
        gate=gate,
        exit_code=3,
    )


def _gate_preview(ctx: RunContext, index: int) -> GateInfo:
    gate = ctx.recipe.steps[index].params
    return GateInfo(
        step=str(index + 1),
        step_index=index,
        action=gate.action,
        summary=str(ctx.render(gate.summary)),
        binds={k: ctx.render(v) for k, v in gate.binds.items()},
    )


def close_failed(store: EvidenceSink, run_id: str, state: RunState, message: str) -> None:
    with contextlib.suppress(Exception):
        store.finish_run(run_id, outputs={}, error=message)
        store.transition(run_id, state, RunState.FAILED, reason=message.splitlines()[0])
