"""Record what a person does on a site, as Playwright's recorder sees it (JSONL actions).

    record_actions(settings, site, start, headless=False, drive=None) -> list[dict]

The browser is ours, not `playwright codegen`'s: the configured Chromium, the site's
containment (nothing outside its allowed origins is reached, as in a run) and the saved
session of the site's account, so that a recording usually starts signed in. Playwright's
recorder is switched on in the context (the engine behind codegen and the inspector) and
reports each action as the JSONL line codegen would write; the actions are kept in memory
only (a typed password is in them) and handed to agent/recipes/recorder.py, which never
writes a secret. The recording ends when the person closes the browser window, or, in tests,
when `drive(page)` returns.

The recorder is reached through Playwright's private `_start_recording` (the same call its
own tools make); a Playwright without it is a BrowserError that says to use `--from FILE`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from agent.core.errors import BrowserError

if TYPE_CHECKING:
    from playwright.async_api import Frame, Page

    from agent.core.settings import Settings


class _Sink:
    """Receives the recorder's events: a new action, or an update of the last one (a field
    typed into letter by letter)."""

    def __init__(self) -> None:
        self.actions: list[dict[str, Any]] = []

    def action_added(self, _page: Any, _data: Any, code: str) -> None:
        self.actions += [json.loads(line) for line in code.splitlines() if line.strip()]

    def action_updated(self, _page: Any, _data: Any, code: str) -> None:
        lines = [json.loads(line) for line in code.splitlines() if line.strip()]
        if self.actions and lines:
            self.actions[-1] = lines[0]

    def navigated(self, url: str) -> None:
        """A main-frame navigation: after a click it is that click's result (recorder.py
        makes it the click's signal), otherwise the person typed a URL."""
        if url.startswith("http"):
            self.actions.append({"name": "navigate", "url": url, "signals": []})

    def signal_added(self, _page: Any, _data: Any, code: str) -> None:
        lines = [json.loads(line) for line in code.splitlines() if line.strip()]
        if self.actions and lines and lines[0].get("name") == self.actions[-1].get("name"):
            self.actions[-1] = lines[0]  # the action again, with its new signal


async def record_actions(
    settings: Settings,
    site: str,
    start: str = "/",
    *,
    headless: bool = False,
    drive: Callable[[Page], Awaitable[None]] | None = None,
) -> list[dict[str, Any]]:
    """The actions recorded on `site`, starting at `start` (a path of the site): the first is
    the navigation to it."""
    from playwright.async_api import async_playwright

    from agent.browser.containment import Containment
    from agent.browser.guard import SiteGuard
    from agent.browser.launch import launch
    from agent.browser.login import SessionManager, account_of

    site_settings = settings.sites[site]
    guard = SiteGuard(site_settings)
    url = guard.absolute(start)
    sink = _Sink()
    async with async_playwright() as pw:
        browser = await launch(pw, settings.browser, headless=headless)
        containment = await Containment(guard.origins).start()
        try:
            context = await SessionManager(settings).new_context(
                browser,
                site,
                account_of(site_settings.credentials),
                **containment.context_options(),
            )
            recorder = getattr(context._impl_obj, "_start_recording", None)
            if recorder is None:
                raise BrowserError(
                    "this Playwright has no recorder hook (BrowserContext._start_recording)",
                    hint="record with `playwright codegen --target jsonl -o FILE URL` and "
                    "translate it: aijia recipes record SITE NAME --from FILE",
                )
            await recorder({"language": "jsonl"}, sink)
            page = await context.new_page()
            main = page.main_frame

            def on_navigated(frame: Frame) -> None:
                if frame == main:
                    sink.navigated(frame.url)

            page.on("framenavigated", on_navigated)
            await page.goto(url)
            if drive is not None:
                await drive(page)
            else:  # the person closes the window when done
                await page.wait_for_event("close", timeout=0)
            with contextlib.suppress(Exception):
                await context._impl_obj._stop_recording()
            with contextlib.suppress(Exception):
                await context.close()
        finally:
            await containment.close()
            with contextlib.suppress(Exception):
                await browser.close()
    return sink.actions


__all__ = ["record_actions"]
