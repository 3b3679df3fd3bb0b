"""`aijia recipes draft SITE "what to do"`: a recipe drafted from words, for a person to review.

    draft = await draft_recipe(settings, store, "shoplane", "look up an order and read its
                               refundable amount", name="order_refundable")
    draft.path, draft.text, draft.blocked, draft.selectors, draft.run_id

What happens, in order:

The run's half lives here (it builds a run like agent/engine/prepare.py); the exploring and
writing halves are agent/recipes/draft_explore.py and agent/recipes/draft_compose.py.

1. refused before anything starts: no `llm:` block (ConfigError "no LLM configured", exit 2),
   an unknown site, a bad name, an existing recipe without `force`;
2. a *draft run* is created in the evidence store (recipe `draft_<name>`): every LLM call of
   the draft — browser-use's and ours — is an `llm_call` event of it, masked, hash-chained
   and sealed like any run's, so `aijia evidence show RUN` answers "what did the model see
   and say?" with the tools reviewers already use (a loose report file would be neither
   masked nor tamper-evident);
3. our Chromium (with a DevTools port on 127.0.0.1), a context contained to the site, signed
   in with the saved session or the login recipe — then read-only: every request that is
   not GET/HEAD/OPTIONS is aborted and listed, until the draft ends;
4. browser-use explores with the task in words (draft_explore.explore, the `agent` step's
   sub-agent and its fences); the pages it saw are snapshotted (accessibility tree);
5. our LLM writes the recipe body in a declared schema; we add the header, check it in code
   and with the real recipe loader, and feed the problems back (up to `attempts` times);
6. a draft that validates is written to recipes/<flavor>/<name>.yaml; one that never does is
   kept in the data folder and the command fails (RecipeError, exit 2) saying where it is.

Nothing here runs a recipe step past a gate, approves, or sends a mutating request.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.core.errors import AgentError, RecipeError
from agent.core.states import RunState
from agent.recipes import draft_compose as compose

if TYPE_CHECKING:
    from agent.core.settings import Settings
    from evidence.api import EvidenceSink

DEFAULT_STEPS = 12  # browser-use steps: enough to find an order page, not to wander
DEFAULT_ATTEMPTS = 3  # the first draft and two fixes from the loader's problems


@dataclass
class Draft:
    """A drafted recipe that validates (the file is written), with what a reviewer checks."""

    path: Path
    text: str
    run_id: str
    attempts: int
    pages: list[str]
    selectors: list[str]
    gate: str | None = None  # "step N: ACTION"; None: the recipe only reads
    blocked: list[str] = field(default_factory=list)  # "POST http://…", refused

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "run_id": self.run_id,
            "attempts": self.attempts,
            "pages": self.pages,
            "selectors": self.selectors,
            "gate": self.gate,
            "blocked": self.blocked,
            "yaml": self.text,
        }


async def draft_recipe(
    settings: Settings,
    store: EvidenceSink,
    site: str,
    task: str,
    *,
    name: str | None = None,
    force: bool = False,
    max_steps: int = DEFAULT_STEPS,
    attempts: int = DEFAULT_ATTEMPTS,
) -> Draft:
    """Explore `site` read-only for `task` and write recipe `name` (default: named after the
    task's first words); see the module doc."""
    from agent.ai.llm import LLM
    from agent.browser.login import account_of
    from agent.engine.setup import plan_run
    from agent.recipes.model import Recipe
    from agent.recipes.scaffold import check_name, refuse_overwrite, site_folder

    name = name or name_from_task(task)
    check_name(name)
    llm = LLM.from_settings(settings)  # ConfigError "no LLM configured" before anything
    folder = site_folder(settings, site)
    target = folder / f"{name}.yaml"
    refuse_overwrite(target, force)
    session = "login" if name != "login" and (folder / "login.yaml").is_file() else None
    shell = Recipe(name=f"draft_{name}", site=site, session=session, steps=[])
    shell._source = (folder / f"draft_{name}.yaml").resolve()  # finds the login recipe
    plan = plan_run(shell, {}, settings=settings, store=store, site=site)

    record = store.create_run(
        recipe=shell.name,
        recipe_version="draft",
        site=site,
        inputs={"task": task, "name": name},
        account=account_of(settings.sites[site].credentials),
    )
    run_id = record.run_id
    store.transition(run_id, RunState.PENDING, RunState.RUNNING)
    try:
        draft = await _draft_in_browser(
            settings, store, plan, llm, run_id=run_id, task=task, name=name,
            folder=folder, session=session, max_steps=max_steps, attempts=attempts,
        )  # fmt: skip
        refuse_overwrite(target, force)  # written by someone else while we explored?
        folder.mkdir(parents=True, exist_ok=True)
        target.write_text(draft.text, encoding="utf-8")
    except BaseException as exc:
        message = str(exc) if isinstance(exc, AgentError) else f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(Exception):
            store.finish_run(run_id, outputs={}, error=message)
            store.transition(run_id, RunState.RUNNING, RunState.FAILED, reason=message[:200])
        raise
    draft.path = target
    store.finish_run(run_id, outputs={"path": str(target), "blocked": len(draft.blocked)})
    store.transition(run_id, RunState.RUNNING, RunState.DONE)
    return draft


async def _draft_in_browser(
    settings: Settings,
    store: EvidenceSink,
    plan: Any,
    llm: Any,
    *,
    run_id: str,
    task: str,
    name: str,
    folder: Path,
    session: str | None,
    max_steps: int,
    attempts: int,
) -> Draft:
    from playwright.async_api import async_playwright

    from agent.browser.launch import cdp_url, launch
    from agent.browser.login import SessionManager
    from agent.engine.setup import run_context
    from agent.recipes.draft_explore import explore

    sessions = SessionManager(settings)
    async with async_playwright() as pw:
        # a DevTools port on loopback, for browser-use; only this draft's browser has one
        chromium = await launch(pw, settings.browser, cdp=True)
        try:
            async with run_context(
                chromium, recipe=plan.recipe, settings=settings, site_name=plan.site_name,
                store=store, run_id=run_id, inputs={}, masker=plan.masker, sessions=sessions,
            ) as ctx:  # fmt: skip
                if plan.login is not None:
                    await sessions.ensure_logged_in(ctx, plan.login)  # it POSTs: before
                blocked: list[str] = []
                await ctx.browser_context.route("**/*", _read_only(ctx, blocked))
                seen = await explore(
                    ctx, llm, task=task, cdp_url=str(cdp_url(chromium)), max_steps=max_steps
                )
                blocked = seen.blocked + blocked
                explored = {"pages": list(seen.pages), "answer_page": seen.answer_page,
                            "notes": seen.notes, "steps": seen.steps,
                            "blocked": blocked}  # fmt: skip
                ctx.event("draft_explored", explored)
                draft = await _compose(
                    ctx, llm, seen.pages, task=task, name=name, folder=folder,
                    session=session, attempts=attempts,
                )  # fmt: skip
                draft.blocked = blocked
                drafted = {"name": name, "yaml": draft.text, "attempts": draft.attempts}
                ctx.event("recipe_drafted", drafted)
                return draft
        finally:
            await chromium.close()


def name_from_task(task: str, words: int = 5) -> str:
    """A snake_case recipe name from the task's first words ("look up an order …" ->
    look_up_an_order_and)."""
    import re

    name = "_".join(re.findall(r"[a-z0-9]+", task.lower())[:words])[:40].rstrip("_")
    return name if name[:1].isalpha() else f"draft_{name}".rstrip("_")


def _read_only(ctx: Any, blocked: list[str]) -> Any:
    """A route for the whole draft after signing in (the explorer adds its own while it
    runs): every request that is not GET/HEAD/OPTIONS is aborted and listed."""

    async def handle(route: Any) -> None:
        request = route.request
        if request.method.upper() in ("GET", "HEAD", "OPTIONS"):
            await route.fallback()
            return
        blocked.append(f"{request.method} {request.url}")
        ctx.event("draft_blocked", {"method": request.method, "url": request.url})
        await route.abort("blockedbyclient")

    return handle


async def _compose(
    ctx: Any,
    llm: Any,
    pages: dict[str, str],
    *,
    task: str,
    name: str,
    folder: Path,
    session: str | None,
    attempts: int,
) -> Draft:
    """Ask for the recipe until it validates, `attempts` times at most."""
    scratch = ctx.settings.data_dir / "drafts" / ctx.run_id
    problems: list[str] = []
    previous: str | None = None
    for attempt in range(1, attempts + 1):
        answer = await llm.structured(
            ctx,
            purpose="draft_recipe",
            instructions=compose.instructions(task, ctx.site.base_url, problems),
            data=compose.pages_data(pages, previous),
            schema=compose.DRAFT_SCHEMA,
        )
        text = compose.render_yaml(answer, name=name, site=ctx.site_name, session=session,
                                   task=task)  # fmt: skip
        problems = compose.check_draft(answer)
        found = compose.validate_text(
            text, name=name, folder=folder, scratch=scratch / f"attempt-{attempt}"
        )
        problems += compose.problem_lines(found)
        ctx.event("draft_checked", {"attempt": attempt, "problems": problems})
        if not problems:
            return Draft(
                path=folder / f"{name}.yaml", text=text, run_id=ctx.run_id, attempts=attempt,
                pages=list(pages), selectors=compose.selectors_of(text), gate=compose.gate_of(text),
            )  # fmt: skip
        previous = text
    kept = scratch / f"attempt-{attempts}" / folder.name / f"{name}.yaml"
    raise RecipeError(
        compose.as_problems(problems, kept),
        hint=f"the model's last draft never validated ({attempts} attempts); it is kept in "
        f"{kept} for inspection, and every call is in run {ctx.run_id}'s evidence",
    )
