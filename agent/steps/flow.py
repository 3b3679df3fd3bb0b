"""Values and control flow: `set`, `if`, `for_each`, `call`.

Example::

    - set: {total: "{{ items | sum(attribute='price.amount') }}"}
    - if: "{{ status == 'shipped' }}"
      then:
        - extract: {tracking: {label: Tracking number}}
      else:
        - set: {tracking: null}
    - for_each: "{{ orders }}"
      as: order
      max: 50
      steps:
        - goto: "/orders/{{ order.id }}"
        - screenshot: "order {{ order.id }}"
    - call: {recipe: login}
    - call: {recipe: lookup_order, with: {order_id: "{{ inputs.order_id }}"}, as: order}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, model_validator

from agent.core.errors import StepError
from agent.recipes.templating import truthy
from agent.steps.base import Params, Step

if TYPE_CHECKING:
    from agent.engine.context import RunContext
    from agent.steps import AnyStep

MAX_ITERATIONS = 1000


class SetStep(Step):
    """Set values from templates (a whole `{{ expr }}` keeps its type).

    Example::

        - set: {customer: "{{ buyer_name | title }}", late: "{{ days_late > 3 }}"}
    """

    key: ClassVar[str] = "set"
    effect: ClassVar = "read"
    set: dict[str, Any] = Field(description="value name -> template or literal.")

    def defines(self) -> list[str]:
        return list(self.set)

    async def run(self, ctx: RunContext) -> None:
        for name, template in self.set.items():
            ctx.set_value(name, ctx.render(template))


class IfStep(Step):
    """Run `then` when the condition is true, else `else`.

    Example::

        - if: "{{ status == 'shipped' }}"
          then: [{extract: {tracking: {label: Tracking number}}}]
          else: [{set: {tracking: null}}]
    """

    key: ClassVar[str] = "if"
    effect: ClassVar = "control"
    if_: str = Field(alias="if", description="A template condition.")
    then: list[AnyStep] = Field(default_factory=list, description="Steps when true.")
    else_: list[AnyStep] = Field(
        default_factory=list, alias="else", description="Steps when false."
    )

    def children(self) -> list[tuple[str, list[Step]]]:
        return [("then", list(self.then)), ("else", list(self.else_))]

    def defines(self) -> list[str]:
        # names set in either branch; a branch not taken leaves them undefined at run time
        return [n for _, steps in self.children() for s in steps for n in s.defines()]

    async def run(self, ctx: RunContext) -> None:
        branch = self.then if truthy(ctx.render(self.if_)) else self.else_
        await ctx.run_steps(list(branch), parent=self)


class ForEach(Step):
    """Run `steps` once per item of a list (bounded by `max`).

    Example::

        - for_each: "{{ orders }}"
          as: order
          max: 50
          steps:
            - screenshot: "order {{ order.id }}"
    """

    key: ClassVar[str] = "for_each"
    effect: ClassVar = "control"
    for_each: str = Field(description="A template giving a list (e.g. an extracted table).")
    as_: str = Field("item", alias="as", description="Name of the current item in the body.")
    max: int = Field(
        100, gt=0, le=MAX_ITERATIONS, description="Stop after this many items (never unbounded)."
    )
    steps: list[AnyStep] = Field(description="The body.")

    def children(self) -> list[tuple[str, list[Step]]]:
        return [("steps", list(self.steps))]

    def body_defines(self) -> list[str]:
        return [self.as_, f"{self.as_}_index"]

    async def run(self, ctx: RunContext) -> None:
        items = ctx.render(self.for_each)
        if not isinstance(items, list | tuple):
            raise StepError(
                f"for_each needs a list, got {type(items).__name__}: {str(items)[:80]!r}",
                hint='use a whole expression like "{{ items }}" so the list keeps its type',
            )
        if len(items) > self.max:
            ctx.event(
                "for_each_truncated",
                {"step": self.number, "items": len(items), "max": self.max},
            )
        for index, item in enumerate(list(items)[: self.max]):
            ctx.set_value(self.as_, item)
            ctx.set_value(f"{self.as_}_index", index)
            await ctx.run_steps(list(self.steps), parent=self, iteration=index)


class CallParams(Params):
    recipe: str = Field(description="Name of a recipe of the same site flavor, e.g. login.")
    with_: dict[str, Any] = Field(
        default_factory=dict, alias="with", description="Its inputs (templates)."
    )
    as_: str | None = Field(None, alias="as", description="Keep its outputs under this name.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"recipe": data} if isinstance(data, str) else data


class Call(Step):
    """Run another recipe of the same site in this browser page (e.g. login).

    Example::

        - call: {recipe: lookup_order, with: {order_id: "{{ inputs.order_id }}"}, as: order}
    """

    key: ClassVar[str] = "call"
    effect: ClassVar = "control"
    call: CallParams = Field(description="The recipe and its inputs.")

    def defines(self) -> list[str]:
        return [self.call.as_] if self.call.as_ else []

    async def run(self, ctx: RunContext) -> None:
        outputs = await ctx.call_recipe(self.call.recipe, ctx.render(self.call.with_))
        if self.call.as_:
            ctx.set_value(self.call.as_, outputs)
