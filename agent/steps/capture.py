"""Evidence capture: `screenshot` and `snapshot` (the DOM) of the current page.

Both go to the evidence store as artifacts attached to an event (`page_reviewed`), with the
page URL and title, so the evidence trail shows which back-office pages were reviewed.

Example::

    - screenshot: order_page
    - screenshot: {label: refund_dialog, full_page: true, highlight: {role: dialog}}
    - snapshot: order_page
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from agent.browser.selectors import Selector
from agent.steps.base import Params, Step

if TYPE_CHECKING:
    from agent.engine.context import RunContext


class ScreenshotParams(Params):
    label: str = Field("page", description="What the picture shows, e.g. order_page.")
    full_page: bool | None = Field(None, description="Whole page (default: evidence.full_page).")
    highlight: Selector | None = Field(None, description="Outline this element in the picture.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"label": data} if isinstance(data, str) else data


class Screenshot(Step):
    """Store a screenshot of the page in the evidence store.

    Example::

        - screenshot: order_page
    """

    key: ClassVar[str] = "screenshot"
    effect: ClassVar = "read"
    screenshot: ScreenshotParams = Field(description="What to capture.")

    async def run(self, ctx: RunContext) -> None:
        p = self.screenshot
        await ctx.capture_page(
            str(ctx.render(p.label)),
            screenshot=True,
            dom=False,
            full_page=p.full_page,
            highlight=p.highlight,
            timeout_ms=ctx.timeout_ms(self),
        )


class SnapshotParams(Params):
    label: str = Field("page", description="What the snapshot shows.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"label": data} if isinstance(data, str) else data


class Snapshot(Step):
    """Store the page's DOM (HTML, password values blanked) in the evidence store.

    Example::

        - snapshot: order_page
    """

    key: ClassVar[str] = "snapshot"
    effect: ClassVar = "read"
    snapshot: SnapshotParams = Field(description="What to capture.")

    async def run(self, ctx: RunContext) -> None:
        await ctx.capture_page(
            str(ctx.render(self.snapshot.label)),
            screenshot=False,
            dom=True,
            timeout_ms=ctx.timeout_ms(self),
        )
