"""AI steps: read what a recipe cannot locate exactly, through the configured LLM.

`ai_extract` sends one page region (its visible text, or its accessibility tree) to the
model as fenced data, asks for the values the recipe declares (structured output), then
checks and converts them like `extract` and sets them into the run's scope. It only reads:
it never clicks, and it may not run in the commit phase (agent/recipes/checks.py). Every
call is in the evidence (event `llm_call`); docs/ai.md says what the model sees.

Example::

    - ai_extract:
        from: {testid: tracking}
        as: text
        schema:
          courier_status: {description: the latest tracking status}
          delivered_on: {as: date, optional: true, description: the delivery date}
        instructions: "Read the courier's latest status."
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field

from agent.ai.fields import AiField, checked_values, json_schema
from agent.browser.selectors import Selector
from agent.steps.base import Params, Step

if TYPE_CHECKING:
    from agent.engine.context import RunContext

_DEFAULT_TASK = (
    "Read the values described by the JSON schema from the DATA block. Copy text exactly as "
    "shown; use null for a value the DATA block does not contain."
)


class AiExtractParams(Params):
    from_: Selector | None = Field(
        None,
        alias="from",
        description="The page region to read (a selector matching one element). Empty: the "
        "whole page. Smaller regions cost fewer tokens and read more steadily.",
    )
    as_: Literal["text", "aria"] = Field(
        "text",
        alias="as",
        description="text: the region's visible text; aria: its accessibility tree (roles, "
        "names, states), for pages whose meaning is in their structure.",
    )
    schema_: dict[str, AiField] = Field(
        alias="schema",
        min_length=1,
        description="value name -> {type, description, as, format, optional, default}: what to "
        "read, converted like `extract` (`as: money` …).",
    )
    instructions: str | None = Field(
        None,
        description="Extra instructions for the model (a template). Page values belong in the "
        "region, not here: what is rendered here is read as the recipe author's words.",
    )
    max_chars: int = Field(
        20_000, gt=0, description="Send at most this many characters of the region."
    )


class AiExtract(Step):
    """Read values from a page region with the LLM (structured output), checked like `extract`.

    Example::

        - ai_extract:
            from: {role: main}
            schema:
              courier_status: {description: the latest tracking status}
              delivered_on: {as: date, optional: true}
    """

    key: ClassVar[str] = "ai_extract"
    effect: ClassVar = "read"
    # AI steps never run after the gate: what is committed is only what was approved.
    prepare_only: ClassVar[bool] = True
    ai_extract: AiExtractParams = Field(description="The region, the values, the instructions.")

    def defines(self) -> list[str]:
        return list(self.ai_extract.schema_)

    async def run(self, ctx: RunContext) -> None:
        from agent.ai.llm import LLM

        params = self.ai_extract
        llm = LLM.from_settings(ctx.settings)  # "no LLM configured" before touching the page
        instructions = _DEFAULT_TASK
        if params.instructions:
            instructions += "\n" + str(ctx.render(params.instructions))
        region = await _read_region(ctx, params, ctx.timeout_ms(self))
        answer = await llm.structured(
            ctx,
            purpose=f"ai_extract (step {self.number or '?'})",
            instructions=instructions,
            data=region,
            schema=json_schema(params.schema_),
        )
        values = checked_values(params.schema_, answer)
        await keep_values(ctx, self, values, label="ai_extract")


async def _read_region(ctx: RunContext, params: AiExtractParams, timeout_ms: float) -> str:
    """The region's visible text or aria snapshot, cut to `max_chars`."""
    if params.from_ is not None:
        loc = await ctx.locate(params.from_, timeout_ms=timeout_ms)
    else:
        loc = ctx.page.locator("body")
    if params.as_ == "aria":
        text = await loc.aria_snapshot(timeout=timeout_ms)
    else:
        text = await loc.inner_text(timeout=timeout_ms)
    if len(text) > params.max_chars:
        text = text[: params.max_chars] + "\n[… cut at max_chars]"
    return text


async def keep_values(
    ctx: RunContext, step: Step, values: dict[str, Any], *, label: str, save_as: str | None = None
) -> None:
    """What a model read, checked: into the run's values (each by name, or all as `save_as`)
    and into the evidence as `page_reviewed`, like `extract`. Shared by `ai_extract` and
    `agent`."""
    if save_as:
        ctx.set_value(save_as, values)
    else:
        for name, value in values.items():
            ctx.set_value(name, value)
    ctx.event(
        "page_reviewed",
        {
            "url": ctx.page.url,
            "title": await ctx.page.title(),
            "step": ctx.top_level_index(step) + 1,
            "extracted": values,
            "label": label,
        },
    )
