"""What a step sees while it runs: the page, the values, and a few careful helpers.

`RunContext` is deliberately the only way a step touches the browser or the evidence store,
so that strict selectors, allowed domains, masking and evidence capture happen in one place.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from agent.browser.elements import ElementFinder
from agent.browser.selectors import Selector, selector_fields
from agent.core.errors import NavigationBlocked, StepError, TransientSiteError
from agent.core.secrets import Masker, SecretRef, resolve
from agent.core.settings import Settings, SiteSettings
from agent.recipes.templating import render
from agent.steps.base import PauseRun, Step
from evidence.api import PendingEvent
from evidence.ids import utc_now

if TYPE_CHECKING:
    from playwright.async_api import BrowserContext, Locator, Page, Response

    from agent.browser.containment import Containment
    from agent.browser.guard import SiteGuard
    from agent.recipes.model import Recipe
    from evidence.api import ArtifactRef, EvidenceSink

Phase = Literal["prepare", "commit"]
StepsRunner = Callable[["RunContext", list[Step]], Awaitable[None]]
RecipeCaller = Callable[["RunContext", str, dict[str, Any]], Awaitable[dict[str, Any]]]

# Network failures worth retrying: the server was not there or hung up, this time.
_TRANSIENT_NET_ERRORS = (
    "ERR_CONNECTION_REFUSED",
    "ERR_CONNECTION_RESET",
    "ERR_CONNECTION_CLOSED",
    "ERR_EMPTY_RESPONSE",
    "ERR_TIMED_OUT",
)


@dataclass
class RunContext(ElementFinder):
    recipe: Recipe
    settings: Settings
    site_name: str
    site: SiteSettings
    sink: EvidenceSink
    run_id: str
    page: Page
    browser_context: BrowserContext
    guard: SiteGuard
    containment: Containment
    inputs: dict[str, Any]
    run_steps_impl: StepsRunner
    call_recipe_impl: RecipeCaller
    masker: Masker = field(default_factory=Masker)
    values: dict[str, Any] = field(default_factory=dict)
    phase: Phase = "prepare"
    # The prepare phase again, on resume: `evidence.capture`'s pages after each action were
    # taken on the first pass (the reviewer saw those); the recipe's own screenshot steps
    # still run (a drift gate shows them), and so does everything from the commit on.
    repeating: bool = False
    dry_run: bool = False
    headed: bool = False
    current: Step | None = None
    act_started: bool = False  # an act step ran in the commit phase (failure => in_doubt)
    tracing: bool = False  # a Playwright trace is being recorded (evidence.trace)
    call_stack: list[str] = field(default_factory=list)  # recipes being `call`ed, innermost last
    # Set when the recipe uses a saved session: the login form, whose presence after a goto
    # means the session expired (the login recipe's `logged_out`)
    login_form: Selector | None = None
    # Events kept in memory to be written in one commit (read-only runs); None: write each
    deferred: list[PendingEvent] | None = None
    _navigation: tuple[int, str, str] | None = None  # last main-frame response
    _unwatch: Callable[[], None] | None = None  # removes watch_navigation's listener
    # fetch/XHR answers of HTTP 5xx since the page loaded: part of the page never arrived
    _late_failures: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------ values & templates

    def scope(self) -> dict[str, Any]:
        site = {
            "name": self.site_name,
            "base_url": self.site.base_url,
            "title": self.site.title,
            "flavor": self.site.flavor,
            # only plain (non-secret) credentials, e.g. the username
            "credentials": {k: v for k, v in self.site.credentials.items() if isinstance(v, str)},
        }
        run = {"id": self.run_id, "dry_run": self.dry_run, "phase": self.phase}
        return {**self.values, "inputs": self.inputs, "site": site, "run": run}

    def render(self, value: Any) -> Any:
        try:
            return render(value, self.scope())
        except StepError as exc:  # the same kind of error (a TemplateLimitError stays one)
            raise type(exc)(self.masker.text(exc.message), hint=exc.hint) from None

    def render_selector(self, sel: Selector) -> Selector:
        """The selector with its templates rendered. Render once: a rendered value (an input,
        say) may itself contain `{{`, and must never be evaluated as a template."""
        raw = Selector(**selector_fields(sel)).model_dump(exclude_none=True, exclude_defaults=True)
        return Selector.model_validate(self.render(raw))

    def set_value(self, name: str, value: Any) -> None:
        self.values[name] = value

    def timeout_ms(self, step: Step) -> float:
        if step.timeout is not None:
            return step.timeout * 1000
        if step.key == "goto":
            return float(self.settings.browser.navigation_timeout_ms)
        return float(self.settings.browser.default_timeout_ms)

    def top_level_index(self, step: Step) -> int:
        first = step.number.split(".")[0].lstrip("r")  # "r2": the 2nd reconcile step
        return int(first) - 1 if first.isdigit() else 0

    # ------------------------------------------------------------------ secrets

    def secret(self, ref: str | SecretRef) -> str:
        """A site credential by name, or a reference; registered for masking everywhere."""
        if isinstance(ref, str):
            if ref not in self.site.credentials:
                known = ", ".join(self.site.credentials) or "none"
                raise StepError(
                    f"site {self.site_name} has no credential {ref!r} (it has: {known})",
                    hint=f"add sites.{self.site_name}.credentials.{ref} to config.yaml",
                )
            raw = self.site.credentials[ref]
            value = raw if isinstance(raw, str) else self._resolve(SecretRef.model_validate(raw))
        else:
            value = self._resolve(ref)
        self.register_secret(value)
        return value

    def _resolve(self, ref: SecretRef) -> str:
        base = self.settings.source.parent if self.settings.source else None
        return resolve(ref, site=self.site_name, base_dir=base)

    def register_secret(self, value: str) -> None:
        self.masker.add(value)
        self.sink.register_secret(value)

    # ------------------------------------------------------------------ evidence

    def event(
        self, kind: str, data: dict[str, Any], artifacts: list[ArtifactRef] | None = None
    ) -> None:
        """Append an event to the run's trail. A read-only run keeps its events for one
        commit (`flush_events`): it changes nothing, so a crash loses no fact about the site."""
        masked = self.masker.data(data)
        if self.deferred is not None:
            self.deferred.append(PendingEvent(kind, masked, tuple(artifacts or ()), utc_now()))
            return
        self.sink.append_event(self.run_id, kind, masked, artifacts or ())

    def flush_events(self) -> None:
        """Write the kept events in one transaction (before the run's state changes)."""
        if self.deferred:
            pending, self.deferred[:] = list(self.deferred), []
            self.sink.append_events(self.run_id, pending)

    async def capture_page(
        self,
        label: str,
        *,
        screenshot: bool = True,
        dom: bool = True,
        full_page: bool | None = None,
        highlight: Selector | None = None,
        timeout_ms: float = 10_000,
        kind: str = "page_captured",
    ) -> list[ArtifactRef]:
        refs: list[ArtifactRef] = []
        if screenshot:
            box = None
            if highlight is not None:
                loc = await self.locate(highlight, timeout_ms=timeout_ms)
                found = await loc.bounding_box()
                box = (found["x"], found["y"], found["width"], found["height"]) if found else None
            masks = await self._redaction_masks()
            whole = self.settings.evidence.full_page if full_page is None else full_page
            png = await self.page.screenshot(
                full_page=whole, mask=masks, timeout=timeout_ms, type="png"
            )
            refs += self.sink.put_screenshot(png, highlight=box)
        if dom:
            # Session cookies too: a page that echoes one must not put it in the evidence
            # (bundles leave the machine). The store masks secrets again and blanks
            # password fields' values, in the DOM and in every part of the MHTML.
            from evidence.redaction import MIN_SESSION_VALUE, is_session_name

            sessions = Masker()
            sessions.extend(
                c["value"]
                for c in await self.browser_context.cookies()
                if (c.get("httpOnly") or is_session_name(c["name"]))
                and len(c["value"]) >= MIN_SESSION_VALUE
            )
            html = sessions.text(self.masker.text(await self.page.content()))
            refs.append(self.sink.put_dom(html, site=self.site_name))
            if self.settings.evidence.mhtml:
                refs.append(await self._capture_mhtml(sessions))
        title = await self.page.title()
        self.event(kind, {"label": label, "url": self.page.url, "title": title}, refs)
        return refs

    async def _capture_mhtml(self, sessions: Masker | None = None) -> ArtifactRef:
        """The page as one MHTML file, through the Chrome DevTools Protocol. Masked here in
        its raw text (and `sessions`' values); the store decodes every part and masks it
        again, quoted-printable spellings and password fields' values included."""
        cdp = await self.browser_context.new_cdp_session(self.page)
        try:
            snap = await cdp.send("Page.captureSnapshot", {"format": "mhtml"})
        finally:
            await cdp.detach()
        mhtml = self.masker.text(str(snap["data"]))
        if sessions is not None:
            mhtml = sessions.text(mhtml)
        return self.sink.put_artifact(
            mhtml.encode("utf-8"), kind="mhtml", media_type="multipart/related"
        )

    async def save_trace(self) -> None:
        """Stop the run's Playwright trace (when `evidence.trace`) and store it, once.

        The raw trace exists only in a private (0700) temporary folder, for as long as the
        store takes to mask it: the store strips session headers, cookies, storage and
        password values from it and masks every secret in every member before writing."""
        if not self.tracing:
            return
        self.tracing = False
        with tempfile.TemporaryDirectory(prefix="aijia-trace-") as tmp:
            path = Path(tmp) / "trace.zip"
            await self.browser_context.tracing.stop(path=path)
            raw = path.read_bytes()
            path.unlink()
            ref = self.sink.put_artifact(raw, kind="trace", media_type="application/zip")
        self.event("trace_saved", {"phase": self.phase}, [ref])

    async def _redaction_masks(self) -> list[Locator]:
        """What the screenshot paints over: the configured selectors, and every element that
        shows a secret — as text (or placeholder) in any frame, or as the value of a field
        that is not a password field. Text is found by Playwright's own selector engine,
        which runs in an isolated world: the secret is never handed to the page's scripts.
        Field values are read (never written) and compared here."""
        chosen = self.settings.evidence.redaction.selectors
        css = [*chosen.get("*", []), *chosen.get(self.site_name, [])]
        masks = [self.page.locator(c) for c in css]
        if not self.masker.values:
            return masks
        import json
        from urllib.parse import quote, quote_plus

        shown = dict.fromkeys(
            spelled
            for value in self.masker.values
            for spelled in (
                value,
                quote(value, safe=""),
                quote_plus(value),
                json.dumps(value)[1:-1],
            )
        )
        fields = "input:not([type=password]):not([type=hidden]), textarea, select"
        for frame in self.page.frames:
            # one locator per frame: its alternatives share one pass over the page's text
            showing: Locator | None = None
            for spelled in shown:
                found = frame.get_by_text(spelled).or_(frame.get_by_placeholder(spelled))
                showing = found if showing is None else showing.or_(found)
            if showing is not None:
                masks.append(showing)
            candidates = frame.locator(fields)
            try:
                values = await candidates.evaluate_all("els => els.map(e => String(e.value))")
            except Exception:  # a frame gone meanwhile, or a page in the way: hide every field
                masks.append(candidates)
                continue
            masks += [candidates.nth(i) for i, v in enumerate(values) if self.masker.text(v) != v]
        return masks

    # ------------------------------------------------------------------ navigation

    def watch_navigation(self) -> None:
        """Remember the status of main-frame navigations (5xx pages are transient), and the
        page's own fetches that answered 5xx (content loaded late that never arrived)."""

        def on_response(response: Response) -> None:
            request = response.request
            if request.is_navigation_request() and response.frame == self.page.main_frame:
                self._navigation = (response.status, response.url, request.method)
                self._late_failures.clear()
            elif response.status >= 500 and request.resource_type in ("fetch", "xhr"):
                self._late_failures.append(
                    f"{request.method} {response.url} answered HTTP {response.status}"
                )

        self.page.on("response", on_response)
        self._unwatch = lambda: self.page.remove_listener("response", on_response)

    def unwatch_navigation(self) -> None:
        """Stop listening to the page (it is kept for the batch's next run)."""
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None

    def late_content_failure(self) -> str | None:
        """The last fetch of the current page that answered HTTP 5xx, if any: an element
        missing from such a page may be content that failed to load (transient)."""
        return self._late_failures[-1] if self._late_failures else None

    async def navigate(self, url: str, *, wait_until: Any, timeout_ms: float) -> None:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        target = self.guard.absolute(url)
        reason = self.guard.refusal(target)
        if reason is not None:
            self.event("navigation_blocked", {"url": target, "reason": reason})
            raise NavigationBlocked(
                f"refused to open {target}: {reason}",
                hint=f"add the origin to sites.{self.site_name}.allowed_origins if it is trusted",
            )
        try:
            response = await self.page.goto(target, wait_until=wait_until, timeout=timeout_ms)
        except PlaywrightTimeout:
            self.check_still_on_site()
            raise TransientSiteError(
                f"opening {target} timed out after {timeout_ms / 1000:g}s",
                hint="the site is slow or down; raise the step's timeout if it is just slow",
            ) from None
        except PlaywrightError as exc:
            self.check_still_on_site()  # a redirect off-site is refused, never retried
            if any(code in str(exc) for code in _TRANSIENT_NET_ERRORS):
                first = str(exc).strip().splitlines()[0]
                raise TransientSiteError(
                    f"opening {target} failed: {first}",
                    hint="the site did not answer; it may be restarting or overloaded",
                ) from None
            raise
        if response is not None and response.status >= 500:
            raise TransientSiteError(f"{target} answered HTTP {response.status}")

    def check_still_on_site(self) -> None:
        """NavigationBlocked when the page tried to take the main frame off the site (a
        redirect, a form posted elsewhere, a script setting location) since the last check."""
        left = self.containment.take_left_site()
        if left is not None:
            raise NavigationBlocked(
                f"the page tried to leave the site: {left} was blocked",
                hint="a redirect, link, form or script of the site pointed outside its origins; "
                f"if that origin is the site's own, add it to sites.{self.site_name}"
                ".allowed_origins",
            )

    @property
    def navigated(self) -> bool:
        """Did the last click/press load a page?"""
        return self._navigation is not None

    async def act(self, action: Callable[[], Awaitable[Any]]) -> None:
        """Run a click/press; a 5xx page it leads to is a transient error."""
        self._navigation = None
        if self.phase == "commit":
            self.act_started = True
        await action()
        if self._navigation is not None:
            # the page may be navigating again; the next step waits anyway
            with contextlib.suppress(Exception):
                await self.page.wait_for_load_state("domcontentloaded")
        nav = self._navigation
        if nav is not None and nav[0] >= 500:
            raise TransientSiteError(f"{nav[2]} {nav[1]} answered HTTP {nav[0]}")

    # ------------------------------------------------------------------ people & recipes

    async def handoff(
        self,
        message: str,
        *,
        until_visible: Selector | None = None,
        until_hidden: Selector | None = None,
        until_url: str | None = None,
        timeout_ms: float,
    ) -> None:
        """Wait for a human (headed), or pause the run for one (headless)."""
        from agent.browser.challenge import wait_for_human

        await wait_for_human(
            self,
            message,
            until_visible=until_visible,
            until_hidden=until_hidden,
            until_url=until_url,
            timeout_ms=timeout_ms,
        )

    async def run_steps(self, steps: list[Step], *, parent: Step, iteration: int = 0) -> None:
        await self.run_steps_impl(self, steps)

    async def call_recipe(self, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        return await self.call_recipe_impl(self, name, inputs)


__all__ = ["PauseRun", "RunContext"]
