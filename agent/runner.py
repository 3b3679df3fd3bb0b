"""The runner: one recipe run (or a batch of them) in real Chromium, recorded as evidence.

    result = await run_recipe(recipe, {"order_id": "…"}, settings=settings, store=store)
    results = await run_batch(recipe, rows, settings=settings, store=store, concurrency=4)

A run: bind inputs (InputError) -> resolve every secret it needs (SecretError, before any
browser starts) -> create the run (pending -> running) -> a fresh browser context (saved
session when the recipe has `session:`) -> the prepare steps -> at the gate: record the gate
(summary, rendered binds, step index) and pause; without a gate: outputs, done. A failure
captures the failure page (screenshot + DOM) and fails the run with the step, what was
expected, what was seen and a hint. `dry_run` runs the prepare phase only and never pauses.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agent.config import Settings
from agent.context import RunContext
from agent.errors import AgentError, ConfigError, InputError, StepError
from agent.executor import execute_step
from agent.inputs import bind_inputs
from agent.login import SessionManager, account_of, login_recipe_for
from agent.preflight import resolve_secrets
from agent.recipe import Recipe
from agent.runtime import (
    capture_failure,
    open_browser,
    render_outputs,
    run_context,
    run_prepare_phase,
    site_name_for,
)
from agent.states import RunState
from agent.steps.base import PauseRun

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from evidence.api import EvidenceSink


@dataclass(frozen=True)
class GateInfo:
    step: str  # "8": the gate's step number
    step_index: int  # 0-based index in `steps`: the commit phase starts after it
    action: str
    summary: str
    binds: dict[str, Any]
    gate_id: str | None = None  # the store's gate row, when the store records gates
    bind_hash: str | None = None


@dataclass(frozen=True)
class RunResult:
    recipe: str
    site: str
    state: RunState  # done, paused, failed or in_doubt
    run_id: str | None = None  # None when the inputs were refused before a run existed
    row: int | None = None  # 1-based row of a batch
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(
        default_factory=dict
    )  # rendered `outputs:` (partial if not done)
    error: str | None = None  # masked; names the step, expected vs seen, hint
    error_step: str | None = None
    exit_code: int = 0  # as the CLI maps it: 0 done, 1 failed, 2 bad input, 3 paused
    pause_reason: str | None = None  # "gate" or "handoff"
    gate: GateInfo | None = None
    dry_run: bool = False
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.state in (RunState.DONE, RunState.PAUSED)


ProgressCallback = Callable[[RunResult], None]


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
) -> RunResult:
    """Run one recipe to its gate (paused), to the end (done), or to a failure.

    Raises InputError, SecretError, ConfigError (nothing started); BrowserError when Chromium
    cannot start. Step failures do not raise: they are in the result (state failed).
    """
    site_name = site_name_for(recipe, settings, site)
    bound = bind_inputs(recipe, inputs, row=row)
    login = login_recipe_for(recipe)
    masker = resolve_secrets([recipe], settings, site_name, store)
    site_settings = settings.sites[site_name]
    account = account_of(site_settings.credentials)
    record = store.create_run(
        recipe=recipe.name,
        recipe_version=recipe.version,
        site=site_name,
        inputs=bound,
        account=account,
        case_id=case_id,
    )
    run_id = record.run_id
    store.transition(run_id, RunState.PENDING, RunState.RUNNING)
    started = time.monotonic()
    sessions = sessions or SessionManager(settings)
    base = {
        "recipe": recipe.name,
        "site": site_name,
        "run_id": run_id,
        "row": row,
        "inputs": masker.data(bound),
        "dry_run": dry_run,
    }
    try:
        async with (
            open_browser(settings, browser, headed) as chromium,
            run_context(
                chromium,
                recipe=recipe,
                settings=settings,
                site_name=site_name,
                store=store,
                run_id=run_id,
                inputs=bound,
                masker=masker,
                sessions=sessions,
                dry_run=dry_run,
                headed=headed,
            ) as ctx,
        ):
            result = await _drive(ctx, login, sessions, base)
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
            outputs = render_outputs(ctx)
            gate = _gate_preview(ctx, gate_at) if gate_at is not None else None
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
        store.finish_run(run_id, outputs=outputs, error=message)
        store.transition(run_id, RunState.RUNNING, state, reason=message.splitlines()[0])
        return RunResult(
            **base,
            state=state,
            outputs=outputs,
            error=message,
            exit_code=1,
            error_step=getattr(exc, "step_number", None),
        )


def _pause(ctx: RunContext, pause: PauseRun, base: dict[str, Any]) -> RunResult:
    store, run_id = ctx.sink, ctx.run_id
    gate = None
    if pause.reason == "gate":
        data = pause.data
        recorded: Any = None
        record_gate = getattr(store, "record_gate", None)  # the store's gate table
        if record_gate is not None:
            recorded = record_gate(
                run_id, action=data["action"], summary=data["summary"], binds=data["binds"]
            )
        gate = GateInfo(
            step=data["step"],
            step_index=data["step_index"],
            action=data["action"],
            summary=data["summary"],
            binds=data["binds"],
            gate_id=getattr(recorded, "gate_id", None),
            bind_hash=getattr(recorded, "bind_hash", None),
        )
        ctx.event("gate_reached", {**data, "gate_id": gate.gate_id})
        reason = f"gate {data['action']}: {data['summary']}"
    else:
        ctx.event("handoff_pending", pause.data)
        reason = f"handoff: {pause.data.get('message', '')}"
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


def with_duration(result: RunResult, started: float) -> RunResult:
    from dataclasses import replace

    return replace(result, duration_s=round(time.monotonic() - started, 3))


async def run_batch(
    recipe: Recipe,
    rows: Sequence[Mapping[str, Any]],
    *,
    settings: Settings,
    store: EvidenceSink,
    concurrency: int = 4,
    progress_callback: ProgressCallback | None = None,
    dry_run: bool = False,
    headed: bool = False,
    site: str | None = None,
    browser: Browser | None = None,
    case_id: str | None = None,
) -> list[RunResult]:
    """One browser (`browser`, or a new one), up to `concurrency` contexts at a time; a
    failing row never stops the others.

    Results come back in row order; `progress_callback` is called as each row finishes.
    """
    import asyncio

    site_name = site_name_for(recipe, settings, site)
    # a missing secret (the login recipe's too) fails the whole batch now, before any browser
    resolve_secrets([recipe], settings, site_name, store)
    sessions = SessionManager(settings)
    limit = asyncio.Semaphore(max(1, concurrency))

    async with open_browser(settings, browser, headed) as chromium:

        async def one(index: int, raw: Mapping[str, Any]) -> RunResult:
            async with limit:
                try:
                    result = await run_recipe(
                        recipe,
                        raw,
                        settings=settings,
                        store=store,
                        browser=chromium,
                        dry_run=dry_run,
                        headed=headed,
                        site=site_name,
                        row=index,
                        case_id=case_id,
                        sessions=sessions,
                    )
                except AgentError as exc:
                    result = RunResult(
                        recipe=recipe.name,
                        site=site_name,
                        row=index,
                        state=RunState.FAILED,
                        error=str(exc),
                        exit_code=exc.exit_code,
                        dry_run=dry_run,
                    )
            if progress_callback is not None:
                progress_callback(result)
            return result

        return list(await asyncio.gather(*(one(i, r) for i, r in enumerate(rows, start=1))))
