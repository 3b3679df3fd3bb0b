"""Navigation: `goto` a page of the site, `wait_for` something to happen.

Example::

    - goto: /portal/sale/order?search={{ inputs.order_id }}
    - goto: {url: "/orders", wait_until: networkidle}
    - wait_for: {visible: {role: heading, name: Order details}}
    - wait_for: {url: "**/orders/*"}
    - wait_for: {text: Refund submitted}
    - wait_for: {network_idle: true}
    - wait_for: label=Amount        # a selector: wait until visible
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from agent.browser.selectors import Selector
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
        url = str(ctx.render(self.goto.url))
        await ctx.navigate(url, wait_until=self.goto.wait_until, timeout_ms=ctx.timeout_ms(self))


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
    """Wait until an element, a URL, a text or network idle.

    Example::

        - wait_for: {visible: {role: heading, name: Order details}}
    """

    key: ClassVar[str] = "wait_for"
    effect: ClassVar = "read"
    wait_for: WaitForParams = Field(description="What to wait for.")

    async def run(self, ctx: RunContext) -> None:
        p = self.wait_for
        timeout = ctx.timeout_ms(self)
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
