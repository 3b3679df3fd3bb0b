"""Browser contexts kept between the read-only runs of one batch.

A fresh context per run costs a context, a saved-session restore and — on real back offices
with tens of cacheable assets — every asset again (the HTTP cache lives in the context). A
batch of a read-only recipe (no gate: validation guarantees it changes nothing) reuses one
context per (site, account) and worker instead: at most `concurrency` contexts exist, each
run gets its own page, and the context keeps its containment. Anything gated always gets a
fresh context of its own.
"""

from __future__ import annotations

import contextlib
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


class ContextPool:
    """Idle contexts per (site, account); `close()` ends them all."""

    def __init__(self) -> None:
        self._idle: dict[Key, list[PooledContext]] = {}

    def take(self, key: Key) -> PooledContext | None:
        idle = self._idle.get(key)
        return idle.pop() if idle else None

    def give_back(self, key: Key, pooled: PooledContext) -> None:
        self._idle.setdefault(key, []).append(pooled)

    async def close(self) -> None:
        idle, self._idle = self._idle, {}
        for pooled in (p for group in idle.values() for p in group):
            with contextlib.suppress(Exception):  # the browser may be gone already
                await pooled.context.close()
            await pooled.containment.close()
