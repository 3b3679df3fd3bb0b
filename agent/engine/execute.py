"""Running a list of steps: events, `when`, retries with backoff, replay, located errors.

Per step: `step_finished` (outcome ok / skipped / failed / paused, started_at, duration,
URL), preceded by `step_started` for steps that may act and for every commit-phase step.
Transient errors (HTTP 5xx, navigation timeout) are retried with exponential backoff up to the
step's `retries`. In the prepare phase, a transient error of a later step
(or an element missing from a page whose late-loaded part answered 5xx) replays the list from
its last `goto` (prepare steps change nothing, so this is safe); in the commit phase nothing is
replayed and act steps are never retried.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from agent.browser.challenge import challenge_selector, wait_for_human
from agent.browser.selectors import build_locator
from agent.core.errors import AgentError, SelectorError, StepError, TransientSiteError
from agent.recipes.template_limits import render_deadline
from agent.recipes.templating import truthy
from agent.steps.base import PauseRun, Step

if TYPE_CHECKING:
    from playwright.async_api import Locator

    from agent.engine.context import RunContext

BACKOFF_S = 0.25
MAX_REPLAYS = 3
# After these steps the page may have changed: look for a challenge page.
_NAVIGATING = frozenset({"goto", "click", "press"})


def backoff(attempt: int) -> float:
    return float(BACKOFF_S * (2 ** (attempt - 1)))


async def execute_steps(ctx: RunContext, steps: list[Step]) -> None:
    index, last_goto, replays = 0, None, 0
    while index < len(steps):
        step = steps[index]
        try:
            await execute_step(ctx, step)
        except StepError as exc:
            why = transient_reason(ctx, exc)
            if why is None or ctx.phase != "prepare" or last_goto is None or replays >= MAX_REPLAYS:
                raise
            replays += 1
            ctx.event(
                "steps_replayed",
                {
                    "from_step": steps[last_goto].number,
                    "failed_step": step.number,
                    "error": why,
                    "attempt": replays,
                },
            )
            await asyncio.sleep(backoff(replays))
            index = last_goto
            continue
        if step.key == "goto":
            last_goto = index
        index += 1


def transient_reason(ctx: RunContext, exc: StepError) -> str | None:
    """Why a failed step is worth replaying from the last `goto`, or None: an HTTP 5xx or a
    timeout, or an element missing from a page whose late-loaded part answered HTTP 5xx."""
    if isinstance(exc, TransientSiteError):
        return exc.message
    late = ctx.late_content_failure()
    if isinstance(exc, SelectorError) and late is not None:
        return f"{exc.message} (the page loaded part of itself late: {late})"
    return None


async def execute_step(ctx: RunContext, step: Step) -> None:
    base = {
        "step": step.number,
        "kind": step.key,
        "name": step.name,
        "location": str(step.location) if step.location else None,
    }
    if step.when is not None and not truthy(ctx.render(step.when)):
        ctx.event("step_finished", {**base, "outcome": "skipped", "url": ctx.page.url})
        return
    retries = step.retries if step.retries is not None else step.default_retries
    if ctx.phase == "commit" and step.effect == "act":
        retries = 0  # a submit is never repeated blindly
    if _announce(ctx, step):
        ctx.event("step_started", {**base, "url": ctx.page.url})
    started, started_at = time.monotonic(), _utc_now()
    previous, ctx.current = ctx.current, step
    outcome: dict[str, Any] = {"outcome": "ok"}
    try:
        await _attempts(ctx, step, retries)
        ctx.check_still_on_site()
        await _capture_by_policy(ctx, step)
        if step.key == "goto" or (step.key in _NAVIGATING and ctx.navigated):
            await _check_landing(ctx, base)
    except PauseRun as pause:
        outcome = {"outcome": "paused", "reason": pause.reason}
        raise
    except AgentError as exc:
        located = locate_error(exc, step)
        outcome = {"outcome": "failed", "error": ctx.masker.text(located.message)}
        raise located from exc if located is not exc else None
    except Exception as exc:  # Playwright's own errors: say which step, keep the first line
        located = locate_error(_from_playwright(exc), step)
        outcome = {"outcome": "failed", "error": ctx.masker.text(located.message)}
        raise located from exc
    finally:
        ctx.current = previous
        ctx.containment.flush()  # blocked attempts are recorded inside the step that made them
        duration_ms = round((time.monotonic() - started) * 1000, 1)
        ctx.event(
            "step_finished",
            {
                **base,
                **outcome,
                "url": ctx.page.url,
                "started_at": started_at,
                "duration_ms": duration_ms,
            },
        )


def _announce(ctx: RunContext, step: Step) -> bool:
    """`step_started` before steps that may act (and every commit-phase step), so the chain
    shows what was about to happen if the process dies; read steps are recorded once, when
    they finish (with `started_at`): an event costs a durable write."""
    return ctx.phase == "commit" or step.effect in ("act", "gate", "control")


def _utc_now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def _check_landing(ctx: RunContext, base: dict[str, Any]) -> None:
    """After a page load: a challenge page (hand it to a human) or the login form (the
    session expired: fail fast, the runner logs in again). One query when neither shows."""
    checks: list[tuple[str, Locator]] = []
    challenge = challenge_selector(ctx)
    if challenge is not None:
        checks.append(("challenge", build_locator(ctx.page, challenge)))
    if ctx.login_form is not None:
        checks.append(("login", build_locator(ctx.page, ctx.render_selector(ctx.login_form))))
    if not checks:
        return
    either = checks[0][1]
    for _, loc in checks[1:]:
        either = either.or_(loc)
    if await either.count() == 0:
        return
    for what, loc in checks:
        if not (await loc.count() > 0 and await loc.first.is_visible()):
            continue
        if what == "login":
            raise StepError(f"the session has expired: {ctx.page.url} shows the login page")
        ctx.event("challenge_detected", {**base, "url": ctx.page.url})
        await wait_for_human(
            ctx, "solve the site's security check in the browser", timeout_ms=300_000
        )
        return


async def _attempts(ctx: RunContext, step: Step, retries: int) -> None:
    attempt = 0
    while True:
        try:
            # its templates end with it (a step that runs steps leaves that to them)
            control = step.effect == "control"
            with render_deadline(None if control else ctx.timeout_ms(step) / 1000):
                if step.fallback == "ai":  # healing a selector that matches nothing
                    from agent.ai.heal import run_with_fallback

                    await run_with_fallback(ctx, step)
                else:
                    await step.run(ctx)
            return
        except TransientSiteError as exc:
            ctx.check_still_on_site()  # a page that left the site is never retried
            if attempt >= retries:
                raise
            attempt += 1
            ctx.event(
                "step_retried",
                {"step": step.number, "attempt": attempt, "error": ctx.masker.text(exc.message)},
            )
            await asyncio.sleep(backoff(attempt))
        except Exception:
            ctx.check_still_on_site()  # a page that left the site explains the failure
            raise


async def _capture_by_policy(ctx: RunContext, step: Step) -> None:
    """`evidence.capture`: every_page (after each navigation), on_action (after each
    click/press), on_failure and off (nothing here; failures are the runner's). Not while
    the prepare phase repeats on resume: the first pass captured those pages."""
    from evidence.capture import wants_capture

    if ctx.repeating:  # the prepare phase again, on resume (see RunContext.repeating)
        return
    policy = ctx.settings.evidence.capture
    page = step.key == "goto" or (step.effect == "act" and policy == "every_page")
    if (page and wants_capture(policy, "page")) or (
        step.effect == "act" and wants_capture(policy, "action")
    ):
        await ctx.capture_page(f"after step {step.number}", timeout_ms=10_000)


def _from_playwright(exc: Exception) -> StepError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if type(exc).__name__ == "TimeoutError":
        return StepError(f"timed out: {text}", hint="raise the step's timeout if the page is slow")
    return StepError(f"{type(exc).__name__}: {text}")


def locate_error(exc: AgentError, step: Step) -> AgentError:
    """The same error with `step N `name` (file:line:col): ` in front, once."""
    if getattr(exc, "step_number", None) is not None or not isinstance(exc, StepError):
        return exc
    located = type(exc)(f"{step.where()}: {exc.message}", hint=exc.hint)
    located.step_number = step.number  # type: ignore[attr-defined]
    located.location = step.location  # type: ignore[attr-defined]
    return located
