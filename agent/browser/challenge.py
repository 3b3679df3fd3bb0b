"""Challenge pages and human hand-offs. The agent never solves or bypasses a challenge.

Detection: the site's `challenge` selector (config.yaml, default: a heading "Security check")
visible after a navigation or an action. Then, as for an explicit `handoff` step: headed, wait
for the human to finish in the window; headless, capture the page and pause the run.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from agent.browser.selectors import Selector, build_locator
from agent.core.errors import StepError
from agent.steps.base import PauseRun

if TYPE_CHECKING:
    from agent.engine.context import RunContext

DEFAULT_CHALLENGE = {"role": "heading", "name": "Security check"}
POLL_S = 0.5


def challenge_selector(ctx: RunContext) -> Selector | None:
    spec = ctx.site.challenge
    if not spec:
        return None
    return Selector.model_validate(spec)


async def challenge_present(ctx: RunContext) -> bool:
    sel = challenge_selector(ctx)
    if sel is None:
        return False
    loc = build_locator(ctx.page, sel)
    return await loc.count() > 0 and await loc.first.is_visible()


async def _done(
    ctx: RunContext,
    until_visible: Selector | None,
    until_hidden: Selector | None,
    until_url: str | None,
) -> bool:
    from agent.steps.expect import url_matches

    if until_visible is not None:
        loc = build_locator(ctx.page, ctx.render_selector(until_visible)).first
        return await loc.count() > 0 and await loc.is_visible()
    if until_hidden is not None:
        loc = build_locator(ctx.page, ctx.render_selector(until_hidden)).first
        return not (await loc.count() > 0 and await loc.is_visible())
    if until_url is not None:
        return url_matches(str(ctx.render(until_url)), ctx.page.url)
    return not await challenge_present(ctx)


async def wait_for_human(
    ctx: RunContext,
    message: str,
    *,
    until_visible: Selector | None = None,
    until_hidden: Selector | None = None,
    until_url: str | None = None,
    timeout_ms: float,
) -> None:
    step = ctx.current.number if ctx.current else ""
    if not ctx.headed:
        refs = await ctx.capture_page("handoff", timeout_ms=10_000, kind="handoff_requested")
        raise PauseRun(
            "handoff",
            {
                "step": step,
                "message": message,
                "url": ctx.page.url,
                "artifacts": [r.sha256 for r in refs],
            },
        )
    ctx.event("handoff_started", {"step": step, "message": message, "url": ctx.page.url})
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        if await _done(ctx, until_visible, until_hidden, until_url):
            ctx.event("handoff_finished", {"step": step, "url": ctx.page.url})
            return
        await asyncio.sleep(POLL_S)
    raise StepError(
        f"waited {timeout_ms / 1000:g}s for a human to: {message}",
        hint="run again with --headed and finish the task in the browser window",
    )
