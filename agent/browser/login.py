"""Logging in once and reusing it: the `session:` of a recipe.

Before the steps run, `SessionManager.prepare_context` gives the run a browser context with the
saved storage state of the site+account (when fresh), checks it with the login recipe's
`logged_in` selector, and runs the login recipe when it does not work; after a successful
login the state is saved (0600). Mid-run, seeing the login recipe's `logged_out` element means
the session expired: the runner logs in again once and repeats the prepare phase.

In a batch, one lock per site+account makes the contexts take turns at logging in, so that a
batch logs in once, not N times.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import TYPE_CHECKING, Any

from agent.browser.selectors import build_locator
from agent.browser.sessions import SessionStore
from agent.core.errors import StepError
from agent.recipes.model import Recipe, find_recipe, load_recipe

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext

    from agent.core.settings import Settings
    from agent.engine.context import RunContext

CHECK_TIMEOUT_MS = 5_000
TRUST_FRESH_S = 30.0  # a state saved or checked this recently is not checked again


def account_of(credentials: dict[str, Any]) -> str:
    user = credentials.get("username")
    return user if isinstance(user, str) and user else "default"


def login_recipe_for(recipe: Recipe) -> Recipe | None:
    if not recipe.session:
        return None
    folder = recipe.flavor_dir
    root = folder.parent if folder else None
    path = find_recipe(recipe.session, folder.name if folder else None, root=root)
    return load_recipe(path)


class SessionManager:
    """Saved sessions for the runs of one process (one per batch, or per single run)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = SessionStore(settings.data_dir)
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._trusted_at: dict[tuple[str, str], float] = {}
        self._with_state: weakref.WeakSet[BrowserContext] = weakref.WeakSet()

    def lock(self, site: str, account: str) -> asyncio.Lock:
        return self._locks.setdefault((site, account), asyncio.Lock())

    async def new_context(
        self, browser: Browser, site: str, account: str, **network: Any
    ) -> BrowserContext:
        """A context with the saved session of (site, account); `network` are the
        containment's options (proxy, service workers)."""
        b = self.settings.browser
        lifetime = self.settings.sites[site].session_lifetime_s
        state = self.store.load(site, account, lifetime_s=lifetime)
        context = await browser.new_context(
            storage_state=state,  # type: ignore[arg-type]
            viewport={"width": b.viewport_width, "height": b.viewport_height},
            accept_downloads=False,
            **network,
        )
        context.set_default_timeout(b.default_timeout_ms)
        context.set_default_navigation_timeout(b.navigation_timeout_ms)
        if state and state.get("cookies"):
            self._with_state.add(context)
        return context

    async def ensure_logged_in(self, ctx: RunContext, login: Recipe) -> None:
        """Reuse the saved session when it works, else log in (and save it)."""
        key = (ctx.site_name, account_of(ctx.site.credentials))
        async with self.lock(*key):
            has_state = ctx.browser_context in self._with_state
            if not has_state and self._trusted(key):
                # another context of this batch logged in while this one was created
                lifetime = ctx.site.session_lifetime_s
                saved = self.store.load(*key, lifetime_s=lifetime) or {}
                if saved.get("cookies"):
                    await ctx.browser_context.add_cookies(saved["cookies"])
                    has_state = True
            # Off the hot path: a saved session is used unchecked when it was checked moments
            # ago, or when the site's login form is known — a page that shows it instead of the
            # back office is caught by the runner, which logs in again and repeats the steps.
            if has_state and (self._trusted(key) or login.logged_out is not None):
                ctx.event("session_reused", {"checked": False})
                return
            if has_state and login.logged_in is not None and await self._works(ctx, login):
                self._trusted_at[key] = time.monotonic()
                ctx.event("session_reused", {"checked": True})
                return
            if has_state:
                ctx.event("session_expired", {"url": ctx.page.url})
                await ctx.browser_context.clear_cookies()
            await self.log_in(ctx, login)

    async def log_in(self, ctx: RunContext, login: Recipe) -> None:
        ctx.event("session_login", {"recipe": login.name})
        hook, ctx.login_form = ctx.login_form, None  # the login page is expected here
        try:
            await ctx.call_recipe(login.name, {})
        finally:
            ctx.login_form = hook
        if login.logged_in is not None and not await self._works(ctx, login, navigate=False):
            raise StepError(
                f"logging in with recipe {login.name} did not reach a logged-in page "
                f"(no {login.logged_in.visible.describe()} on {ctx.page.url})",
                hint="check the site's credentials in config.yaml and the login recipe",
            )
        key = (ctx.site_name, account_of(ctx.site.credentials))
        state: Any = await ctx.browser_context.storage_state()
        path = self.store.save(*key, state)
        self._trusted_at[key] = time.monotonic()
        ctx.event("session_saved", {"file": path.name})

    async def expired(self, ctx: RunContext, login: Recipe) -> bool:
        """Does the page show the login form (the login recipe's `logged_out`)?"""
        if login.logged_out is None:
            return False
        loc = build_locator(ctx.page, ctx.render_selector(login.logged_out)).first
        return await loc.count() > 0 and await loc.is_visible()

    async def relogin(self, ctx: RunContext, login: Recipe) -> None:
        key = (ctx.site_name, account_of(ctx.site.credentials))
        self._trusted_at.pop(key, None)
        ctx.event("session_expired", {"url": ctx.page.url, "mid_run": True})
        async with self.lock(*key):
            await ctx.browser_context.clear_cookies()
            await self.log_in(ctx, login)

    def _trusted(self, key: tuple[str, str]) -> bool:
        """Saved or checked moments ago (by this process or another): skip the check."""
        at = self._trusted_at.get(key)
        if at is not None and time.monotonic() - at < TRUST_FRESH_S:
            return True
        try:
            return time.time() - self.store.path(*key).stat().st_mtime < TRUST_FRESH_S
        except OSError:
            return False

    async def _works(self, ctx: RunContext, login: Recipe, *, navigate: bool = True) -> bool:
        """Is the logged-in element visible (waiting for it, or for the login form)?"""
        check = login.logged_in
        assert check is not None
        if navigate:
            await ctx.navigate(
                check.url or "/", wait_until="domcontentloaded", timeout_ms=CHECK_TIMEOUT_MS * 2
            )
        logged_in = build_locator(ctx.page, ctx.render_selector(check.visible)).first
        either = logged_in
        if login.logged_out is not None:  # whichever shows first decides, no timeout to wait
            either = logged_in.or_(build_locator(ctx.page, ctx.render_selector(login.logged_out)))
        try:
            await either.first.wait_for(state="visible", timeout=CHECK_TIMEOUT_MS)
        except Exception:
            return False
        return await logged_in.is_visible()
