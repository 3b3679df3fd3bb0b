"""Finding elements and acting on them, strictly and with errors a person can act on.

Mixed into `RunContext`. Reads and actions lean on Playwright's own waiting and strict mode
(one message to the browser when all is well); only the failure paths count, describe and
explain: "matched nothing within 5s on <url> (<title>)", "matched 2 elements, expected one;
the first: <button> "Save"; …", "is on the page but could not be used".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from agent.browser.selectors import Selector, build_locator
from agent.core.errors import NotFound, SelectorError, StepError

if TYPE_CHECKING:
    from playwright.async_api import Locator, Page

    from agent.browser.not_found import NotFoundSpec
    from agent.core.secrets import Masker

_DESCRIBE_JS = """els => els.slice(0, 3).map(e => {
  const t = (e.innerText || e.value || '').trim().replace(/\\s+/g, ' ').slice(0, 60);
  const id = e.id ? '#' + e.id : '';
  return `<${e.tagName.toLowerCase()}${id}> ${JSON.stringify(t)}`;
})"""


class ElementFinder:
    """The element half of RunContext (which provides `page`, `masker`, `render_selector`)."""

    if TYPE_CHECKING:
        page: Page
        masker: Masker

        def render_selector(self, sel: Selector) -> Selector: ...

        def render(self, value: Any) -> Any: ...

    async def locate(
        self, sel: Selector, *, timeout_ms: float, root: Page | Locator | None = None
    ) -> Locator:
        """The one element `sel` names (strict), waiting for it up to `timeout_ms`.

        One round trip when all is well: Playwright's own strict mode refuses a locator that
        matches several elements, and only then do we count and describe them.
        """
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        rendered = self.render_selector(sel)
        loc = build_locator(root if root is not None else self.page, rendered)
        try:
            await loc.wait_for(state="attached", timeout=timeout_ms)
        except PlaywrightTimeout:
            raise await self._nothing_matched(rendered, timeout_ms) from None
        except PlaywrightError as exc:
            if "strict mode violation" not in str(exc):
                raise
            count = await loc.count()
            first = await loc.evaluate_all(_DESCRIBE_JS)
            raise SelectorError(
                self.masker.text(
                    f"{rendered.describe()} matched {count} elements, expected one; "
                    f"the first: {'; '.join(first)}"
                ),
                hint="make the selector more specific (exact: true, within: …) "
                "or pick one with nth",
            ) from None
        return loc

    async def evaluate_one(
        self,
        sel: Selector,
        js: str,
        arg: Any = None,
        *,
        timeout_ms: float,
        root: Page | Locator | None = None,
    ) -> Any:
        """Run `js` (`(el, arg) => …`) on the one element `sel` names.

        One message to the browser when the element is there (the usual case once a page has
        loaded): every match is evaluated at once, so strictness costs nothing. Only when
        nothing matches yet do we wait (strictly) and evaluate again.
        """
        rendered = self.render_selector(sel)
        loc = build_locator(root if root is not None else self.page, rendered)
        each = f"(els, arg) => els.map(el => ({js})(el, arg))"
        values = await loc.evaluate_all(each, arg)
        if len(values) == 1:
            return values[0]
        await self.locate(sel, timeout_ms=timeout_ms, root=root)  # waits for one, or raises
        values = await loc.evaluate_all(each, arg)
        if len(values) == 1:
            return values[0]
        raise SelectorError(f"{rendered.describe()} changed while it was read; try again")

    async def on_element(
        self, sel: Selector, action: Callable[[Locator], Awaitable[Any]], *, timeout_ms: float
    ) -> Any:
        """`action(locator)` on the one element `sel` names, relying on Playwright's own
        waiting and strict mode (one message); failures are explained like `locate`'s."""
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        rendered = self.render_selector(sel)
        loc = build_locator(self.page, rendered)
        try:
            return await action(loc)
        except PlaywrightTimeout as exc:
            if await loc.count() == 0:
                raise await self._nothing_matched(rendered, timeout_ms) from None
            first = str(exc).strip().splitlines()[0]
            raise SelectorError(
                f"{rendered.describe()} is on the page but could not be used within "
                f"{timeout_ms / 1000:g}s ({first})",
                hint="it may be hidden, disabled or covered; wait_for it to be ready first",
            ) from None
        except PlaywrightError as exc:
            if "strict mode violation" in str(exc):
                await self.locate(sel, timeout_ms=timeout_ms)  # raises, describing them
            raise

    async def wait_attached(self, loc: Locator, sel: Selector, *, timeout_ms: float) -> None:
        """Until at least one element matches (lists: not strict)."""
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        try:
            await loc.first.wait_for(state="attached", timeout=timeout_ms)
        except PlaywrightTimeout:
            raise await self._nothing_matched(sel, timeout_ms) from None

    async def first_to_show(
        self, sel: Selector, marker: Selector, *, timeout_ms: float
    ) -> Literal["element", "marker", "unsure"]:
        """Which shows up first: the element `sel` names or `marker` (a "no results" text).

        One wait on `sel.or_(marker)` (Playwright answers as soon as either is attached), so
        a page that says "No orders match" answers at once instead of after the timeout.
        "marker" only when the marker is visible and the element absent; a marker that is
        hidden (a template's empty-state kept in the DOM) leaves the element to the step's
        own wait ("unsure"). Neither within `timeout_ms`: the element's "matched nothing"
        SelectorError."""
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        rendered = self.render_selector(sel)
        element = build_locator(self.page, rendered)
        sign = build_locator(self.page, self.render_selector(marker))
        try:
            await element.or_(sign).first.wait_for(state="attached", timeout=timeout_ms)
        except PlaywrightTimeout:
            raise await self._nothing_matched(rendered, timeout_ms) from None
        if await element.count() > 0:
            return "element"
        if await sign.first.is_visible():
            return "marker"
        return "unsure"

    async def fail_if_not_found(
        self, target: Selector, spec: NotFoundSpec | None, *, timeout_ms: float
    ) -> None:
        """Wait for `target` or the `not_found` marker (agent/browser/not_found.py); raise
        NotFound with the recipe's rendered message when the marker shows first. Nothing to
        do without a marker: the step's own wait decides."""
        if spec is None:
            return
        if await self.first_to_show(target, spec, timeout_ms=timeout_ms) != "marker":
            return
        marker = self.render_selector(spec)
        raise NotFound(
            self.masker.text(str(self.render(spec.message))),
            hint=self.masker.text(
                f"the page shows {marker.describe()} ({self.page.url}); "
                "check the id, and the site it was looked up on"
            ),
        )

    async def _nothing_matched(self, sel: Selector, timeout_ms: float) -> SelectorError:
        return SelectorError(
            self.masker.text(
                f"{sel.describe()} matched nothing within {timeout_ms / 1000:g}s on "
                f"{self.page.url} ({await self.page.title()!r})"
            ),
            hint="check the label/role on the page (layouts change; labels should not)",
        )

    async def wait_visible(self, sel: Selector, *, timeout_ms: float, strict: bool = True) -> None:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        rendered = self.render_selector(sel)
        loc = build_locator(self.page, rendered)
        if not strict or rendered.nth is not None:
            loc = loc.first
        try:
            await loc.wait_for(state="visible", timeout=timeout_ms)
        except PlaywrightTimeout:
            raise SelectorError(
                f"{rendered.describe()} was not visible within {timeout_ms / 1000:g}s "
                f"on {self.page.url}"
            ) from None
        except Exception as exc:
            if "strict mode violation" in str(exc):
                await self.locate(sel, timeout_ms=timeout_ms)  # raises the clear error
            raise

    async def wait_hidden(self, sel: Selector, *, timeout_ms: float) -> None:
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        rendered = self.render_selector(sel)
        try:
            await build_locator(self.page, rendered).first.wait_for(
                state="hidden", timeout=timeout_ms
            )
        except PlaywrightTimeout:
            raise SelectorError(
                f"{rendered.describe()} was still visible after {timeout_ms / 1000:g}s"
            ) from None

    async def wait_url(self, pattern: str, *, timeout_ms: float) -> None:
        import re

        from playwright.async_api import TimeoutError as PlaywrightTimeout

        target: Any = re.compile(pattern[3:]) if pattern.startswith("re:") else pattern
        try:
            await self.page.wait_for_url(target, timeout=timeout_ms, wait_until="commit")
        except PlaywrightTimeout:
            raise StepError(
                f"the URL did not match {pattern!r} within {timeout_ms / 1000:g}s; "
                f"it is {self.page.url}"
            ) from None

    async def select_option(self, sel: Selector, wanted: str, *, timeout_ms: float) -> None:
        """Choose by visible label (case-insensitive), else by value; say what there is."""
        options: list[list[str]] = await self.evaluate_one(
            sel,
            "s => Array.from(s.options || []).map(o => [o.value, o.textContent.trim()])",
            timeout_ms=timeout_ms,
        )
        fold = wanted.strip().casefold()
        value = next((v for v, label in options if label.casefold() == fold), None)
        if value is None:
            value = next((v for v, _ in options if v == wanted), None)
        if value is None:
            shown = ", ".join(f"{label!r}" for _, label in options) or "no options"
            raise SelectorError(f"the dropdown has no option {wanted!r}; it has: {shown}")
        await self.on_element(
            sel,
            lambda loc: loc.select_option(value=value, timeout=timeout_ms),
            timeout_ms=timeout_ms,
        )
