"""Interaction: `click`, `fill`, `select`, `check`, `press`.

`fill`, `select` and `check` only stage a form in the browser (effect "stage"); `click` and
`press` may send something (effect "act"): before the gate they must target a link or be
declared `safe: true`.

Example::

    - click: {role: link, name: "{{ inputs.order_id }}"}
      not_found: {text: No orders found, message: "order {{ inputs.order_id }} not found"}
    - click: {role: button, name: Refund}
      safe: true                          # opens the refund dialog; sends nothing
    - fill: {label: Amount, value: "{{ inputs.amount }}"}
    - fill: {label: Password, secret: password}        # site credential, typed, never logged
    - select: {label: Reason, value: "{{ inputs.reason }}"}
    - check: {label: Notify the customer, checked: false}
    - press: {label: Search orders, key: Enter}
      safe: true
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from agent.browser.not_found import NotFoundSpec, not_found_field
from agent.browser.selectors import KINDS, Selector, check_selector
from agent.core.secrets import SecretRef
from agent.steps.base import Step

if TYPE_CHECKING:
    from agent.engine.context import RunContext


class TargetParams(Selector):
    """A selector (see agent/selectors.py) plus the step's own fields."""


class Click(Step):
    """Click one element (strict: exactly one match); with `not_found`, fail at once when
    the page says there is no such element (agent/browser/not_found.py).

    Example::

        - click: {role: link, name: "{{ inputs.order_id }}"}
          not_found: {text: No orders found, message: "order {{ inputs.order_id }} not found"}
    """

    key: ClassVar[str] = "click"
    effect: ClassVar = "act"
    click: TargetParams = Field(description="The element to click.")
    not_found: NotFoundSpec | None = not_found_field()

    def may_change_back_office(self) -> bool:
        # following a link is a GET: it reads, it does not submit
        if self.click.role == "link" and not self.mutates:
            return False
        return super().may_change_back_office()

    async def run(self, ctx: RunContext) -> None:
        timeout = ctx.timeout_ms(self)
        await ctx.fail_if_not_found(self.click, self.not_found, timeout_ms=timeout)
        await ctx.act(
            lambda: ctx.on_element(
                self.click, lambda loc: loc.click(timeout=timeout), timeout_ms=timeout
            )
        )


class FillParams(Selector):
    value: Any = Field(None, description="Text to type (a template).")
    secret: str | SecretRef | None = Field(
        None,
        description="Instead of value: a site credential name (e.g. password) or a secret "
        "reference ({$env: NAME}); typed into the page, never logged.",
    )

    @model_validator(mode="after")
    def _value_or_secret(self) -> FillParams:
        if (self.value is None) == (self.secret is None):
            raise ValueError("fill needs exactly one of `value` or `secret`")
        if isinstance(self.value, dict | list):
            raise ValueError("fill `value` is text; for a secret use `secret: {$env: NAME}`")
        return self


class Fill(Step):
    """Type into a text field (replacing its content).

    Example::

        - fill: {label: Amount, value: "{{ inputs.amount }}"}
    """

    key: ClassVar[str] = "fill"
    effect: ClassVar = "stage"
    fill: FillParams = Field(description="The field and what to type.")

    async def run(self, ctx: RunContext) -> None:
        p = self.fill
        text = ctx.secret(p.secret) if p.secret is not None else _text(ctx.render(p.value))
        timeout = ctx.timeout_ms(self)
        await ctx.on_element(p, lambda loc: loc.fill(text, timeout=timeout), timeout_ms=timeout)


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class SelectParams(Selector):
    value: Any = Field(description="The option to choose: its label, or its value attribute.")


class Select(Step):
    """Choose an option of a <select> by its label (or value).

    Example::

        - select: {label: Reason, value: "{{ inputs.reason }}"}
    """

    key: ClassVar[str] = "select"
    effect: ClassVar = "stage"
    select: SelectParams = Field(description="The dropdown and the option.")

    async def run(self, ctx: RunContext) -> None:
        wanted = _text(ctx.render(self.select.value))
        await ctx.select_option(self.select, wanted, timeout_ms=ctx.timeout_ms(self))


class CheckParams(Selector):
    checked: bool = Field(True, description="true to tick the box, false to clear it.")


class Check(Step):
    """Tick (or clear) a checkbox or choose a radio button.

    Example::

        - check: {label: Notify the customer, checked: false}
    """

    key: ClassVar[str] = "check"
    effect: ClassVar = "stage"
    check: CheckParams = Field(description="The checkbox and its wanted state.")

    async def run(self, ctx: RunContext) -> None:
        timeout, checked = ctx.timeout_ms(self), self.check.checked
        await ctx.on_element(
            self.check, lambda loc: loc.set_checked(checked, timeout=timeout), timeout_ms=timeout
        )


class PressParams(Selector):
    key: str = Field(description="Key or chord, e.g. Enter, Escape, Control+A.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"key": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _one_kind(self) -> PressParams:
        if any(getattr(self, k) is not None for k in KINDS):
            check_selector(self)
        return self


class Press(Step):
    """Press a key in an element (or on the page when no selector is given).

    Example::

        - press: {label: Search orders, key: Enter}
          safe: true
    """

    key: ClassVar[str] = "press"
    effect: ClassVar = "act"
    press: PressParams = Field(description="The key, and optionally where to press it.")

    async def run(self, ctx: RunContext) -> None:
        p = self.press
        if any(getattr(p, k) is not None for k in KINDS):
            timeout = ctx.timeout_ms(self)
            await ctx.act(
                lambda: ctx.on_element(
                    p, lambda loc: loc.press(p.key, timeout=timeout), timeout_ms=timeout
                )
            )
        else:
            await ctx.act(lambda: ctx.page.keyboard.press(p.key))
