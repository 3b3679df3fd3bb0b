"""Exploring a site for `aijia recipes draft`: browser-use, read-only, in our own page.

    seen = await explore(ctx, llm, task="look up an order …", cdp_url=..., max_steps=12)
    seen.pages   # URL -> accessibility snapshot, in visiting order
    seen.blocked # what the read-only layer refused ("POST http://…/notes")

The exploring is the `agent` step's sub-agent (agent/ai/subagent.py `run_subagent`), so a
draft gets exactly the same fences as a run's sub-task, none of which trusts the model: the
run's containment (nothing leaves the site), every request that is not GET/HEAD/OPTIONS
aborted and listed, pages opened outside the run's context closed, no typing, JavaScript,
files or web search, page content declared data, every LLM call masked, budgeted and
recorded as an `llm_call` event, browser-use's telemetry off.

What it adds for drafting: the task as a question ("which page shows what this needs?") and
the accessibility snapshot of every page the explorer visited, taken again afterwards with a
plain GET in the same page: that is what the recipe's role/label selectors are written from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.async_api import Page

    from agent.ai.llm import LLM
    from agent.engine.context import RunContext

# How much of a page's accessibility snapshot goes to the model (a long table is cut)
SNAPSHOT_CHARS = 12_000
# Pages snapshotted at most (the explorer's last ones matter most)
MAX_PAGES = 8

TASK = """\
You are exploring the back office at {base_url} (already signed in) so that someone can write
an automation for this task: {task}
Open the pages a person would use for it (lists, searches, the detail page) by following
links. Stop with done once you have seen the page that shows what the task needs: set
`page_url` to that page's URL and `notes` to what on it answers the task."""


@dataclass
class Exploration:
    """What the explorer saw and what was refused while it looked."""

    pages: dict[str, str]  # URL -> accessibility snapshot (YAML), in visiting order
    answer_page: str  # the page the explorer says shows what the task needs
    notes: str
    steps: int
    blocked: list[str]


async def explore(
    ctx: RunContext, llm: LLM, *, task: str, cdp_url: str, max_steps: int
) -> Exploration:
    """Let browser-use find the pages for `task`, reading only; StepError when it cannot."""
    from pydantic import BaseModel, Field

    from agent.ai.subagent import run_subagent

    class Found(BaseModel):
        page_url: str = Field(description="The URL of the page that shows what the task needs.")
        notes: str = Field(description="What on that page answers the task.")

    result = await run_subagent(
        ctx,
        llm,
        cdp_url=cdp_url,
        task=TASK.format(base_url=ctx.site.base_url, task=" ".join(task.split())),
        output_model=Found,
        max_steps=max_steps,
        purpose="draft_explore",
        sensitive_data={},  # it signs in with the saved session, never types a secret
    )
    refused = {b.split(" ", 1)[-1] for b in result.blocked}  # a refused POST's URL is no page
    answer = str(result.data.get("page_url") or "")
    urls = [u for u in [*result.urls, answer] if ctx.containment.allows(u) and u not in refused]
    pages: dict[str, str] = {}
    for url in list(dict.fromkeys(urls))[-MAX_PAGES:]:
        pages[url] = await snapshot(ctx.page, url)
    return Exploration(
        pages=pages,
        answer_page=answer,
        notes=str(result.data.get("notes") or ""),
        steps=result.steps,
        blocked=result.blocked,
    )


async def snapshot(page: Page, url: str) -> str:
    """The accessibility snapshot (YAML) of `url`'s main content, loaded with a GET."""
    if page.url != url:
        await page.goto(url, wait_until="load")
    main = page.locator("main")
    target = main if await main.count() == 1 else page.locator("body")
    text = await target.aria_snapshot()
    return text[:SNAPSHOT_CHARS]
