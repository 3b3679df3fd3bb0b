"""Building a run, once for all three ways of running: a first run, a resume, a reconcile.

    plan = plan_run(recipe, raw_inputs, settings=s, store=store, site="shoplane")
    async with open_run(plan, settings=s, store=store, run_id=run_id, browser=b,
                        sessions=sessions) as ctx:
        await run_prepare_phase(ctx, plan.login, sessions)

`plan_run` does everything that needs no browser and may refuse (site, inputs, secrets);
`open_run` gives a fresh browser context (saved session, domain guard) and the RunContext.
`agent.engine.prepare`, `agent.engine.commit` and `agent.engine.reconcile` are built from
these, so all three see the same sessions, domain guard, masking and evidence.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.ai.preflight import check_llm
from agent.browser.containment import Containment
from agent.browser.guard import SiteGuard
from agent.browser.login import SessionManager, account_of, login_recipe_for
from agent.browser.pool import ContextPool, PooledContext
from agent.browser.slots import session_slot
from agent.core.errors import ConfigError, InputError, StepError
from agent.core.secrets import Masker
from agent.core.settings import Settings
from agent.engine.context import RunContext
from agent.engine.execute import execute_steps
from agent.engine.secrets import resolve_secrets
from agent.recipes.inputs import bind_inputs
from agent.recipes.model import Recipe, find_recipe, load_recipe
from agent.recipes.templating import render
from agent.steps.agent_task import needs_cdp

if TYPE_CHECKING:
    from playwright.async_api import Browser

    from evidence.api import EvidenceSink

MAX_CALL_DEPTH = 5


@contextlib.asynccontextmanager
async def open_browser(
    settings: Settings, browser: Browser | None, headed: bool, *, cdp: bool = False
) -> AsyncIterator[Any]:
    """The given browser, or a new Chromium closed on exit (with a loopback DevTools port
    when `cdp`: a recipe with an `agent` step shares it with browser-use)."""
    if browser is not None:
        yield browser
        return
    from playwright.async_api import async_playwright

    from agent.browser.launch import launch

    async with async_playwright() as pw:
        own = await launch(pw, settings.browser, headless=False if headed else None, cdp=cdp)
        try:
            yield own
        finally:
            await own.close()


def site_name_for(recipe: Recipe, settings: Settings, site: str | None) -> str:
    name = site or recipe.site
    if not name:
        raise ConfigError(f"recipe {recipe.name} names no site", hint="pass --site NAME")
    _check_site(settings, name)
    return name


def _check_site(settings: Settings, name: str) -> None:
    """ConfigError naming the known sites unless `name` is configured."""
    if name not in settings.sites:
        known = ", ".join(settings.sites) or "none"
        raise ConfigError(
            f"site {name!r} is not in {settings.source or 'config.yaml'} (sites: {known})",
            hint="add it under `sites:` with base_url and credentials",
        )


def recipe_folder(settings: Settings, site: str | None) -> str | None:
    """The recipe folder (flavor) of a configured site; None: any folder."""
    if site is None:
        return None
    _check_site(settings, site)
    return settings.sites[site].flavor or site


@dataclass(frozen=True)
class RunPlan:
    """What a run needs before any browser starts."""

    recipe: Recipe
    site_name: str
    inputs: dict[str, Any]  # bound to the recipe's input schema
    login: Recipe | None  # the `session:` recipe, when the recipe reuses a login
    masker: Masker  # every secret the run may type, registered with the store too


def plan_run(
    recipe: Recipe,
    raw_inputs: Mapping[str, Any],
    *,
    settings: Settings,
    store: EvidenceSink,
    site: str | None = None,
    row: int | None = None,
) -> RunPlan:
    """ConfigError (site, a model the recipe needs), InputError (inputs) or SecretError
    (secrets) before anything runs."""
    site_name = site_name_for(recipe, settings, site)
    bound = bind_inputs(recipe, raw_inputs, row=row)
    login = login_recipe_for(recipe)
    check_llm(recipe, settings)
    masker = resolve_secrets([recipe], settings, site_name, store)
    return RunPlan(recipe, site_name, bound, login, masker)


@contextlib.asynccontextmanager
async def open_run(
    plan: RunPlan,
    *,
    settings: Settings,
    store: EvidenceSink,
    run_id: str,
    browser: Browser | None,
    sessions: SessionManager,
    dry_run: bool = False,
    headed: bool = False,
    pool: ContextPool | None = None,
) -> AsyncIterator[RunContext]:
    """The browser (the given one, or a new one closed on exit) and the run's context."""
    async with (
        open_browser(settings, browser, headed, cdp=needs_cdp(plan.recipe)) as chromium,
        run_context(
            chromium,
            recipe=plan.recipe,
            settings=settings,
            site_name=plan.site_name,
            store=store,
            run_id=run_id,
            inputs=plan.inputs,
            masker=plan.masker,
            sessions=sessions,
            dry_run=dry_run,
            headed=headed,
            pool=pool,
        ) as ctx,
    ):
        yield ctx


@contextlib.asynccontextmanager
async def run_context(
    chromium: Browser,
    *,
    recipe: Recipe,
    settings: Settings,
    site_name: str,
    store: EvidenceSink,
    run_id: str,
    inputs: dict[str, Any],
    masker: Masker,
    sessions: SessionManager,
    dry_run: bool = False,
    headed: bool = False,
    pool: ContextPool | None = None,
) -> AsyncIterator[RunContext]:
    """A browser context contained to the site's origins (with the saved session), a page
    of its own, and the run's RunContext. A read-only recipe given a `pool` borrows a context
    of the batch and gives it back; anything else gets a fresh one, closed on exit."""
    site = settings.sites[site_name]
    guard = SiteGuard(site)
    read_only = recipe.gate_index() is None
    key = (site_name, account_of(site.credentials))
    # sites.<name>.max_sessions: a slot (shared by every worker of the store) is held from
    # before the context opens until it is closed or back in the pool
    slot = await session_slot(store, site_name, key[1], site.max_sessions)
    try:
        pooled = await pool.take(key) if pool is not None and read_only else None
        if pooled is None:
            pooled = await _new_context(chromium, sessions, guard, key)
    except BaseException:
        await slot.aclose()
        raise
    context, containment = pooled.context, pooled.containment
    reusable = False
    try:
        page = pooled.page if pooled.page is not None else await context.new_page()
        pooled.page = None
        ctx = RunContext(
            recipe=recipe,
            settings=settings,
            site_name=site_name,
            site=site,
            sink=store,
            run_id=run_id,
            page=page,
            browser_context=context,
            guard=guard,
            containment=containment,
            inputs=inputs,
            run_steps_impl=execute_steps,
            call_recipe_impl=call_recipe,
            masker=masker,
            dry_run=dry_run,
            headed=headed,
            deferred=[] if read_only else None,
        )
        containment.bind(page, ctx.event)
        if pooled.runs:  # a warm context: its cookies and HTTP cache come from earlier runs
            ctx.event("context_reused", {"earlier_runs": pooled.runs})
        if slot.held is not None:
            ctx.event("session_slot_taken", slot.describe())
        if settings.evidence.trace:
            await context.tracing.start(screenshots=True, snapshots=True)
            ctx.tracing = True
        ctx.watch_navigation()
        try:
            yield ctx
            await ctx.save_trace()  # no-op when the run already saved it before it was sealed
            reusable = pool is not None and read_only and not page.is_closed()
        finally:
            containment.unbind()
            ctx.unwatch_navigation()
            with contextlib.suppress(Exception):
                ctx.flush_events()  # a run that failed outside its steps keeps its trail
            if reusable:
                try:
                    await page.goto("about:blank")  # the next run never sees this one's page
                    pooled.page = page
                except Exception:
                    reusable = False
    finally:
        if reusable and pool is not None:
            pool.give_back(key, pooled)
        else:
            with contextlib.suppress(Exception):  # the browser may have died with the run
                await context.close()
            await containment.close()
        await slot.aclose()


async def _new_context(
    chromium: Browser, sessions: SessionManager, guard: SiteGuard, key: tuple[str, str]
) -> PooledContext:
    containment = await Containment(guard.origins).start()
    try:
        context = await sessions.new_context(chromium, *key, **containment.context_options())
    except BaseException:
        await containment.close()
        raise
    containment.attach(context)
    return PooledContext(context, containment)


async def run_prepare_phase(
    ctx: RunContext, login: Recipe | None, sessions: SessionManager
) -> None:
    """Log in if needed, then the steps before the gate; on session expiry, once: log in
    again and repeat them (they change nothing, so repeating is safe)."""
    if login is not None:
        await sessions.ensure_logged_in(ctx, login)
        if login.logged_out is not None:
            ctx.login_form = login.logged_out
    relogged = False
    while True:
        ctx.values = {}
        try:
            await execute_steps(ctx, ctx.recipe.prepare_steps())
            return
        except StepError:
            if relogged or login is None or not await sessions.expired(ctx, login):
                raise
            relogged = True
            await sessions.relogin(ctx, login)


def render_outputs(ctx: RunContext, *, partial: bool = False) -> dict[str, Any]:
    """The recipe's `outputs`, masked; `partial` skips the ones not defined (yet)."""
    out: dict[str, Any] = {}
    scope = ctx.scope()
    for name, template in ctx.recipe.outputs.items():
        try:
            value = render(template, scope)
        except StepError:
            if not partial:
                raise
            continue
        if partial and _holds_undefined(value):
            continue  # e.g. {total: "{{ total }}"} | a_filter before `total` was read
        out[name] = value
    masked: dict[str, Any] = ctx.masker.data(out)
    return masked


def _holds_undefined(value: Any) -> bool:
    """A rendered value with a jinja Undefined inside (a filter passed one through): not
    defined yet, and not storable as evidence."""
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        return True
    if isinstance(value, Mapping):
        return any(_holds_undefined(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_holds_undefined(v) for v in value)
    return False


async def capture_failure(ctx: RunContext) -> None:
    """Screenshot + DOM of the page the failure happened on (per evidence.capture)."""
    from evidence.capture import wants_capture

    if not wants_capture(ctx.settings.evidence.capture, "failure"):
        return
    with contextlib.suppress(Exception):  # the page may be gone; the error still counts
        await ctx.capture_page("failure", timeout_ms=5_000, kind="failure_captured")


async def call_recipe(ctx: RunContext, name: str, raw_inputs: dict[str, Any]) -> dict[str, Any]:
    """The `call` step: another recipe of the same site, in this page, with its own scope."""
    folder = ctx.recipe.flavor_dir
    path = find_recipe(
        name, folder.name if folder else None, root=folder.parent if folder else None
    )
    sub = load_recipe(path)
    depth = sum(1 for _ in ctx.call_stack)
    if depth >= MAX_CALL_DEPTH or name in ctx.call_stack:
        chain = " -> ".join([*ctx.call_stack, name])
        raise StepError(f"recipe calls go round in a circle or too deep: {chain}")
    if sub.gate_index() is not None:
        raise StepError(f"recipe {name} has a gate; only recipes without a gate can be called")
    try:
        bound = bind_inputs(sub, raw_inputs)
    except InputError as exc:
        raise StepError(f"calling {name}: {exc.message}", hint=exc.hint) from None
    saved = (ctx.recipe, ctx.inputs, ctx.values)
    ctx.recipe, ctx.inputs, ctx.values = sub, bound, {}
    ctx.call_stack.append(name)
    try:
        await execute_steps(ctx, list(sub.steps))
        return render_outputs(ctx)
    finally:
        ctx.call_stack.pop()
        ctx.recipe, ctx.inputs, ctx.values = saved
