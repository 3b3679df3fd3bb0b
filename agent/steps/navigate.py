"""Navigation: `goto` a page of the site, `wait_for` something to happen.

A `goto` that finds nothing answering (connection refused, no such host, or the run's first
page timing out) fails with SiteUnreachable, exit 4, once its retries are spent.

Example::

    - goto: /portal/sale/order?search={{ inputs.order_id }}
    - goto: {url: "/orders", wait_until: networkidle}
    - wait_for: {visible: {role: heading, name: Order details}}
    - wait_for: {url: "**/orders/*"}
    - wait_for: {text: Refund submitted}
    - wait_for: {network_idle: true}
    - wait_for: label=Amount        # a selector: wait until visible
    - wait_for: {visible: {role: heading, name: Order details}}
      not_found: {text: No orders found, message: "order {{ inputs.order_id }} not found"}
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from agent.browser.not_found import NotFoundSpec, not_found_field
from agent.browser.selectors import Selector
from agent.core.errors import SiteUnreachable, TransientSiteError
from agent.steps.base import Params, Step

if TYPE_CHECKING:
    from agent.engine.context import RunContext


class GotoParams(Params):
    url: str = Field(description="Absolute URL, or a path joined to the site's base_url.")
    wait_until: Literal["load", "domcontentloaded", "networkidle", "commit"] = Field(
        "load", description="When the navigation counts as done."
    )

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"url": data} if isinstance(data, str) else data


class Goto(Step):
    """Open a page of the site (only the site's allowed domains).

    Example::

        - goto: /portal/sale/order?search={{ inputs.order_id }}
    """

    key: ClassVar[str] = "goto"
    effect: ClassVar = "read"
    default_retries: ClassVar[int] = 3
    goto: GotoParams = Field(description="The page to open.")

    async def run(self, ctx: RunContext) -> None:
        from playwright.async_api import Error as PlaywrightError

        url = str(ctx.render(self.goto.url))
        # nothing of the site answered yet (a failed earlier attempt leaves Chromium's error page)
        first_load = ctx.page.url in ("", "about:blank") or ctx.page.url.startswith("chrome-error:")
        try:
            await ctx.navigate(
                url, wait_until=self.goto.wait_until, timeout_ms=ctx.timeout_ms(self)
            )
        except TransientSiteError as exc:
            why = unreachable_reason(exc.__context__, first_load=first_load)
            if why is None:
                raise
            if first_load:
                await _cancel_pending_load(ctx)
            raise _unreachable(ctx, url, why) from None
        except PlaywrightError as exc:
            why = unreachable_reason(exc, first_load=first_load)
            if why is None:
                raise
            raise _unreachable(ctx, url, why) from None


# Chromium's net errors that mean "nothing answered": no host, no route, no listener. Not
# ERR_PROXY_CONNECTION_FAILED: that is containment refusing an origin outside the site.
UNREACHABLE_NET_ERRORS = (
    "ERR_CONNECTION_REFUSED",
    "ERR_CONNECTION_RESET",
    "ERR_CONNECTION_TIMED_OUT",
    "ERR_TIMED_OUT",
    "ERR_NAME_NOT_RESOLVED",
    "ERR_NAME_RESOLUTION_FAILED",
    "ERR_ADDRESS_UNREACHABLE",
    "ERR_ADDRESS_INVALID",
    "ERR_INTERNET_DISCONNECTED",
    "ERR_NETWORK_CHANGED",
    "ERR_EMPTY_RESPONSE",
)


def unreachable_reason(error: BaseException | None, *, first_load: bool) -> str | None:
    """Why a failed navigation means the site is unreachable, or None: a Chromium net error
    of UNREACHABLE_NET_ERRORS, or a timeout on the run's first page (a later page that is
    slow is the site being slow, not gone)."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    if isinstance(error, PlaywrightTimeout):
        return "it did not answer before the timeout" if first_load else None
    if isinstance(error, PlaywrightError):
        text = str(error)
        for code in UNREACHABLE_NET_ERRORS:
            if code in text:
                return f"net::{code}"
    return None


async def _cancel_pending_load(ctx: RunContext) -> None:
    """A timed-out first load is still pending in Chromium; the retry's `goto` of the same URL
    would only abort it (net::ERR_ABORTED) instead of trying again. Back to the blank page it
    came from (no request: nothing for containment to see)."""
    with contextlib.suppress(Exception):
        await ctx.page.goto("about:blank", timeout=5_000)


def _unreachable(ctx: RunContext, url: str, why: str) -> SiteUnreachable:
    """`site NAME (ORIGIN) is unreachable: WHY`: the origin that did not answer (the site's
    own, or one of its allowed_origins)."""
    from urllib.parse import urlsplit

    parts = urlsplit(ctx.guard.absolute(url))
    origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else ctx.site.base_url
    return SiteUnreachable(
        f"site {ctx.site_name} ({origin}) is unreachable: {why}",
        hint=f"check that the site is up and that sites.{ctx.site_name}.base_url is right; "
        "run again when it answers",
    )


class WaitForParams(Params):
    visible: Selector | None = Field(None, description="Until this element is visible.")
    hidden: Selector | None = Field(None, description="Until this element is hidden or gone.")
    url: str | None = Field(None, description="Until the URL matches this glob or regex.")
    text: str | None = Field(None, description="Until this text is visible on the page.")
    network_idle: bool = Field(False, description="Until there is no network traffic for 500 ms.")
    load: bool = Field(False, description="Until the load event fired.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"visible": data}
        if isinstance(data, dict) and not set(data) & set(cls.model_fields):
            return {"visible": data}  # a bare selector mapping
        return data

    @model_validator(mode="after")
    def _one(self) -> WaitForParams:
        given = [k for k in ("visible", "hidden", "url", "text") if getattr(self, k) is not None]
        given += [k for k in ("network_idle", "load") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(
                "wait_for needs exactly one of visible, hidden, url, text, network_idle, load"
            )
        return self


class WaitFor(Step):
    """Wait until an element, a URL, a text or network idle; with `not_found` (for
    `visible` and `text`), fail at once when the page says it does not exist.

    Example::

        - wait_for: {visible: {role: heading, name: Order details}}
    """

    key: ClassVar[str] = "wait_for"
    effect: ClassVar = "read"
    wait_for: WaitForParams = Field(description="What to wait for.")
    not_found: NotFoundSpec | None = not_found_field()

    @model_validator(mode="after")
    def _not_found_needs_an_element(self) -> WaitFor:
        if self.not_found is not None and self.wait_for.visible is None and not self.wait_for.text:
            raise ValueError("`not_found` goes with wait_for `visible` or `text` (an element)")
        return self

    async def run(self, ctx: RunContext) -> None:
        p = self.wait_for
        timeout = ctx.timeout_ms(self)
        target = p.visible if p.visible is not None else Selector(text=p.text) if p.text else None
        if target is not None:
            await ctx.fail_if_not_found(target, self.not_found, timeout_ms=timeout)
        if p.visible is not None:
            await ctx.wait_visible(p.visible, timeout_ms=timeout)
        elif p.hidden is not None:
            await ctx.wait_hidden(p.hidden, timeout_ms=timeout)
        elif p.url is not None:
            await ctx.wait_url(str(ctx.render(p.url)), timeout_ms=timeout)
        elif p.text is not None:
            await ctx.wait_visible(Selector(text=str(ctx.render(p.text))), timeout_ms=timeout)
        elif p.network_idle:
            await ctx.page.wait_for_load_state("networkidle", timeout=timeout)
        else:
            await ctx.page.wait_for_load_state("load", timeout=timeout)
