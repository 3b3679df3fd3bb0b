"""Browser contexts kept between the read-only runs of one batch (or of one `aijia worker`).

A fresh context per run costs a context, a saved-session restore and — on real back offices
with tens of cacheable assets — every asset again (the HTTP cache lives in the context). A
batch of a read-only recipe (no gate: validation guarantees it changes nothing) reuses one
context per (site, account) and worker instead: at most `concurrency` contexts exist, each
run gets its own page, and the context keeps its containment. Anything gated always gets a
fresh context of its own.

A worker keeps its pool for its whole life, so contexts are not kept forever: one idle longer
than `max_idle_s`, or whose browser has gone, is closed instead of lent (a session left idle
that long may have expired on the site anyway; the saved session restores a fresh context).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Page

    from agent.browser.containment import Containment

Key = tuple[str, str]  # (site, account)


@dataclass
class PooledContext:
    context: BrowserContext
    containment: Containment
    # kept between runs too: a new page costs a renderer process (~0.15 s on 2 cores); it is
    # left on about:blank, so no run ever sees the previous run's page
    page: Page | None = None
    idle_since: float = 0.0  # time.monotonic() when it was given back
    runs: int = 0  # runs it served before the one borrowing it now


class ContextPool:
    """Idle contexts per (site, account); `close()` ends them all. `max_idle_s`: a context
    idle longer is closed, not lent (None: kept for the pool's life, as a batch keeps them)."""

    def __init__(self, *, max_idle_s: float | None = None) -> None:
        self._idle: dict[Key, list[PooledContext]] = {}
        self.max_idle_s = max_idle_s

    async def take(self, key: Key) -> PooledContext | None:
        """The most recently given back usable context of `key`, or None; stale ones (idle
        too long, or their browser gone) are closed on the way."""
        idle = self._idle.get(key) or []
        while idle:
            pooled = idle.pop()
            if self._usable(pooled):
                return pooled
            await _close(pooled)
        return None

    def give_back(self, key: Key, pooled: PooledContext) -> None:
        pooled.idle_since = time.monotonic()
        pooled.runs += 1
        self._idle.setdefault(key, []).append(pooled)

    def _usable(self, pooled: PooledContext) -> bool:
        browser = pooled.context.browser
        if browser is not None and not browser.is_connected():
            return False
        if self.max_idle_s is None:
            return True
        return time.monotonic() - pooled.idle_since <= self.max_idle_s

    async def close(self) -> None:
        idle, self._idle = self._idle, {}
        for pooled in (p for group in idle.values() for p in group):
            await _close(pooled)


async def _close(pooled: PooledContext) -> None:
    with contextlib.suppress(Exception):  # the browser may be gone already
        await pooled.context.close()
    await pooled.containment.close()
