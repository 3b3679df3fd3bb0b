"""Expectations: a condition that must hold, or the run fails saying what was seen.

Example::

    - expect: "{{ inputs.amount <= refundable.amount }}"     # a condition on values
    - expect: {text: Refund submitted}                        # text visible on the page
    - expect: {url: "**/orders/*"}                            # the current URL (glob or re:)
    - expect: {visible: {role: heading, name: Order details}}
    - expect: {hidden: {text: Refund failed}}
    - expect: {that: "{{ status != 'refunded' }}", message: the order is already refunded}
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from agent.browser.selectors import Selector
from agent.core.errors import ExpectationFailed, StepError
from agent.recipes.templating import referenced_names, truthy
from agent.steps.base import Params, Step

if TYPE_CHECKING:
    from agent.engine.context import RunContext


class ExpectParams(Params):
    that: str | None = Field(None, description="A template condition on values.")
    text: str | None = Field(None, description="This text is visible on the page.")
    url: str | None = Field(None, description="The URL matches this glob (or `re:` regex).")
    visible: Selector | None = Field(None, description="This element is visible.")
    hidden: Selector | None = Field(None, description="This element is hidden or absent.")
    message: str | None = Field(None, description="What it means when the expectation fails.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"that": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one(self) -> ExpectParams:
        given = [k for k in ("that", "text", "url", "visible", "hidden") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("expect needs exactly one of that, text, url, visible, hidden")
        return self


def url_matches(pattern: str, url: str) -> bool:
    if pattern.startswith("re:"):
        return re.search(pattern[3:], url) is not None
    return fnmatch.fnmatchcase(url, pattern) or pattern == url


class Expect(Step):
    """Fail the run, with expected vs seen, unless the condition holds.

    Example::

        - expect: "{{ inputs.amount <= refundable.amount }}"
    """

    key: ClassVar[str] = "expect"
    effect: ClassVar = "read"
    expect: ExpectParams = Field(description="The condition.")

    async def run(self, ctx: RunContext) -> None:
        p = self.expect
        timeout = ctx.timeout_ms(self)
        because = f" ({ctx.render(p.message)})" if p.message else ""
        if p.that is not None:
            if truthy(ctx.render(p.that)):
                return
            seen = _values_seen(ctx, p.that)
            raise ExpectationFailed(
                f"expected {p.that.strip()} to be true{because}; seen: {seen}",
                hint="the back office does not look as the recipe expects; check the values",
            )
        if p.url is not None:
            pattern = str(ctx.render(p.url))
            if not url_matches(pattern, ctx.page.url):
                try:
                    await ctx.wait_url(pattern, timeout_ms=timeout)
                except StepError:
                    raise ExpectationFailed(
                        f"expected the URL to match {pattern!r}{because}; seen {ctx.page.url}"
                    ) from None
            return
        try:
            if p.text is not None:
                sel = Selector(text=str(ctx.render(p.text)))
                await ctx.wait_visible(sel, timeout_ms=timeout, strict=False)
            elif p.visible is not None:
                await ctx.wait_visible(p.visible, timeout_ms=timeout)
            elif p.hidden is not None:
                await ctx.wait_hidden(p.hidden, timeout_ms=timeout)
        except StepError as exc:
            what = (
                f"text {ctx.render(p.text)!r} to be visible"
                if p.text is not None
                else f"{exc.message}"
            )
            raise ExpectationFailed(
                f"expected {what}{because}; seen page {ctx.page.url!r}"
                f" titled {await ctx.page.title()!r}",
                hint=exc.hint,
            ) from None


def _values_seen(ctx: RunContext, template: str) -> str:
    scope = ctx.scope()
    parts = []
    for name in sorted(referenced_names(template)):
        value = scope.get(name, "<undefined>")
        parts.append(f"{name} = {ctx.masker.data(value)!r}")
    return ", ".join(parts) or "(no values)"
