"""The commit phase: resume an approved run, re-verify what was approved, commit once.

    result = await resume_run(recipe, run_id, approved_binds=gate.binds, settings=…, store=…)

Deciding that an approval is valid (roles, expiry, two approvers) is the gate logic's job; it
moves the run to `approved` and calls this. Here, as DESIGN.md says: a fresh context (saved
session), the prepare phase again, the gate's binds rendered again and compared with the
approved ones. Any drift (e.g. the order was refunded meanwhile) pauses the run again with
the difference and a new gate.

Then the commit steps run once, never retried, with the recipe's declared commit request
bound to the approval (agent/engine/binding.py): when the page sends it, its fields are
compared with the approved binds. On a match a compare-and-set `approved -> committing` (only
one resumer wins) releases it, and a failure after that leaves the run `in_doubt` (a
reconcile must look before anyone retries). On a difference nothing is sent: the run pauses
again at a new gate showing approved vs sent, like drift. A commit phase that ends without
the declared request sent fails the run, which then has changed nothing.

The caller (agent/engine/lifecycle.py) holds the run's commit lease: `_claim` renews it
before the compare-and-set, and the binding renews it once more immediately before release
(`lease.confirm`); a lost lease aborts the request. An approval stays valid until its
request was actually released: a site that is down, answers 5xx, or a login that fails
before then leaves the run `approved` with a `commit_retry` event (attempt n, next attempt
at T, from `policy.commit_retry_s`), and a later resume commits it once without a new
approval. `finish` records `done` (with the gate `used`, in one transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from agent.browser.login import SessionManager
from agent.core.errors import GateError, StepError, TransientSiteError
from agent.core.states import RunState
from agent.engine.binding import CommitBinding
from agent.engine.execute import execute_steps
from agent.engine.result import GateInfo, RunResult, with_duration
from agent.engine.setup import (
    capture_failure,
    open_run,
    plan_run,
    render_outputs,
    run_prepare_phase,
)
from agent.gates.recorder import RETRY
from agent.recipes.model import Recipe
from agent.steps.base import PauseRun

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from agent.core.settings import Settings
    from agent.engine.context import RunContext
    from agent.engine.lease import HeldLease
    from agent.steps.base import Step
    from evidence.api import EvidenceSink

STOP_GRACE_S = 5.0  # how long a step may take to notice its page was closed
RETRY_EXIT = 4  # the site was unavailable: approved, not committed yet, try again later

Finish = Callable[[dict[str, Any]], None]  # record outputs and `committing -> done`


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
    lease: HeldLease | None = None,
    finish: Finish | None = None,
    attempt: int = 1,
) -> RunResult:
    """Commit an approved run once; GateError when it is not `approved` (or not this recipe).
    `lease`: the commit lease the caller holds (checked before release); `finish(outputs)`
    records the run done (default: outputs, then `committing -> done`); `attempt`: which
    attempt since the approval this is (for the retry schedule)."""
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
    if recipe.commits is None:
        raise GateError(
            f"recipe {recipe.name} declares no commit request (`commits:`); nothing is sent "
            "unless what is sent can be compared with what was approved",
            hint="`aijia recipes validate` shows where to declare it",
        )
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
        result = await _resume(
            ctx, plan.login, sessions, gate_at, approved_binds, base, lease, finish, attempt
        )
    return with_duration(result, started)


async def _resume(
    ctx: RunContext,
    login: Recipe | None,
    sessions: SessionManager,
    gate_at: int,
    approved: Mapping[str, Any],
    base: dict[str, Any],
    lease: HeldLease | None,
    finish: Finish | None,
    attempt: int,
) -> RunResult:
    store, run_id, recipe = ctx.sink, ctx.run_id, ctx.recipe
    ctx.event("resume_started", {"approved_binds": dict(approved)})
    binding: CommitBinding | None = None
    logging_in = True  # a failure while logging in leaves the approval for a retry
    try:
        if login is not None:
            await sessions.ensure_logged_in(ctx, login)
        logging_in = False
        ctx.repeating = True
        try:
            await run_prepare_phase(ctx, login, sessions)
        finally:
            ctx.repeating = False
        gate = recipe.steps[gate_at].params
        binds = ctx.masker.data({k: ctx.render(v) for k, v in gate.binds.items()})
        summary = str(ctx.render(gate.summary))
        changed = sorted(
            k
            for k in set(binds) | set(approved)
            if _normal(binds.get(k)) != _normal(approved.get(k))
        )
        if changed:
            diff = {k: {"approved": approved.get(k), "now": binds.get(k)} for k in changed}
            text = ", ".join(f"{k}: {d['approved']!r} -> {d['now']!r}" for k, d in diff.items())
            why = f"drift since approval: {text}"
            return _regate(ctx, gate_at, gate.action, summary, binds, diff, base, why=why)
        assert recipe.commits is not None  # resume_run refuses a recipe without one
        binding = CommitBinding.for_run(
            ctx,
            recipe.commits,
            approved,
            claim=lambda: _claim(store, run_id, lease),
            confirm=lease.confirm if lease is not None else None,
        )
        ctx.phase = "commit"
        await binding.install()
        try:
            await _commit_steps(ctx, list(recipe.steps[gate_at + 1 :]), binding)
        finally:
            await binding.remove()
        if binding.refusal is not None:
            return _refused(ctx, gate_at, gate.action, summary, binds, binding, base)
        if binding.lost is not None:
            raise GateError(f"run {run_id} was not committed here: {binding.lost}")
        if binding.sent is None:
            raise StepError(_never_sent(binding))
        outputs = render_outputs(ctx)
        ctx.event("action_done", {"action": gate.action, "summary": summary, "result": outputs})
        await ctx.save_trace()
        if finish is not None:
            finish(outputs)
        else:
            store.finish_run(run_id, outputs=outputs)
            store.transition(run_id, RunState.COMMITTING, RunState.DONE)
        return RunResult(**base, state=RunState.DONE, outputs=outputs)
    except (StepError, PauseRun) as exc:
        if binding is not None and binding.refusal is not None:
            return _refused(ctx, gate_at, gate.action, summary, binds, binding, base)
        if binding is not None and binding.lost is not None:
            raise GateError(f"run {run_id} was not committed here: {binding.lost}") from None
        await capture_failure(ctx)
        if isinstance(exc, PauseRun):
            message = f"a {exc.reason} was needed during the resumed run; stopped"
        else:
            message = ctx.masker.text(str(exc))
        if binding is not None and binding.sent is None and binding.refused_others:
            message += f"\n{_never_sent(binding)}"
        # Only a released commit request can have changed the back office: before it, every
        # request that is not GET or HEAD was aborted, so the run failed having done nothing.
        sent = binding is not None and binding.sent is not None
        if not sent and (logging_in or isinstance(exc, TransientSiteError | PauseRun)):
            await ctx.save_trace()
            return _retry_later(ctx, base, message, exc, attempt)
        state = RunState.COMMITTING if sent else RunState.APPROVED
        final = RunState.IN_DOUBT if sent else RunState.FAILED
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


def _claim(store: EvidenceSink, run_id: str, lease: HeldLease | None) -> str | None:
    """approved -> committing, as the commit request is released: None when this resumer
    won; else why not (its lease lapsed, another resumer committed, or the run was closed)."""
    if lease is not None:
        lost = lease.confirm()
        if lost is not None:
            return lost
    if store.transition(
        run_id, RunState.APPROVED, RunState.COMMITTING, reason="the approved request is sent"
    ):
        return None
    now = store.get_run(run_id).state.value
    return f"the run is {now} now (another resumer committed it, or it was closed)"


def _retry_later(
    ctx: RunContext, base: dict[str, Any], message: str, exc: Exception, attempt: int
) -> RunResult:
    """Nothing left the browser: the run stays approved, the approval holds, and the next
    attempt is scheduled by `policy.commit_retry_s` (the worker, or a person, resumes it)."""
    delays = ctx.settings.policy.commit_retry_s or [60.0]
    delay = delays[min(attempt, len(delays)) - 1]
    next_at = (datetime.now(UTC) + timedelta(seconds=delay)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reason = message.splitlines()[0]
    ctx.event(
        RETRY,
        {"attempt": attempt, "next_at": next_at, "delay_s": delay, "reason": reason},
    )
    ctx.flush_events()
    text = (
        f"nothing was sent; the approval holds: retry at {next_at} (attempt {attempt}): {message}"
    )
    return RunResult(
        **base,
        state=RunState.APPROVED,
        error=text,
        exit_code=RETRY_EXIT,
        pause_reason="retry",
        error_step=getattr(exc, "step_number", None),
    )


async def _commit_steps(ctx: RunContext, steps: list[Step], binding: CommitBinding) -> None:
    """The commit steps, one by one, until the binding refuses what the page sends: then the
    page is closed (nothing more leaves it) and the step running is left to fail."""
    for step in steps:
        if binding.stopped.is_set():
            return
        running = asyncio.ensure_future(execute_steps(ctx, [step]))
        stop = asyncio.ensure_future(binding.stopped.wait())
        try:
            await asyncio.wait({running, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not running.done():
            with contextlib.suppress(Exception):
                await ctx.page.close()
            with contextlib.suppress(Exception, asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(running), STOP_GRACE_S)
            if not running.done():
                running.cancel()
                with contextlib.suppress(BaseException):
                    await running
            return
        running.result()


def _never_sent(binding: CommitBinding) -> str:
    others = binding.refused_others
    also = f"; {others} request(s) it did send were not declared and were refused" if others else ""
    return (
        f"the page never sent the declared commit request ({binding.describe}): nothing was "
        f"committed{also}"
    )


def _refused(
    ctx: RunContext,
    gate_at: int,
    action: str,
    summary: str,
    binds: dict[str, Any],
    binding: CommitBinding,
    base: dict[str, Any],
) -> RunResult:
    """The page sent something other than what was approved; it never reached the site."""
    diff = {
        name: {"approved": d["approved"], "now": d["now"], "field": d["field"], "why": d["why"]}
        for name, d in (binding.refusal or {}).items()
    }
    why = f"the page's commit request ({binding.describe}) was refused: {binding.difference_text()}"
    return _regate(
        ctx, gate_at, action, summary, binds, diff, base, why=why, source="commit_request"
    )


def _regate(
    ctx: RunContext,
    gate_at: int,
    action: str,
    summary: str,
    binds: dict[str, Any],
    diff: dict[str, dict[str, Any]],
    base: dict[str, Any],
    *,
    why: str,
    source: str = "prepare",
) -> RunResult:
    """What would be done is not what was approved (the back office changed, or the page
    sends something else): pause again at a new gate, showing the difference."""
    store, run_id = ctx.sink, ctx.run_id
    ctx.event("gate_drift", {"step": str(gate_at + 1), "changed": diff, "source": source})
    # Pause first: when a concurrent resumer already moved the run (committing, done), the
    # drift is its own commit showing; no new gate is opened for a run that moved on.
    if not store.transition(
        run_id, RunState.APPROVED, RunState.PAUSED, reason=ctx.masker.text(why)
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
        error=ctx.masker.text(why),
    )
