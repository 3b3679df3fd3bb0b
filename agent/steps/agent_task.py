"""The `agent` step: an open-ended reading task for a browser-use sub-agent in the run's page.

For pages a recipe cannot describe in advance ("find the courier's latest status on this
tracking page"): browser-use reads and navigates, inside the site's allowed origins, in the
run's own browser context, and ends with the values the recipe declares (`output`), checked
and converted like `ai_extract`'s. It only reads: it may not run after the gate or in
`reconcile` (the same check as `ai_extract`, agent/recipes/checks.py), and every request that
is not a read is aborted while it runs. The run's Chromium opens a loopback DevTools port for
it (only when the recipe has an `agent` step). How it is fenced in: agent/ai/subagent.py and
docs/ai.md, "The agent step".

Example::

    - agent:
        task: "Find the courier's latest status for tracking number {{ tracking }}"
        start_url: "/track/{{ tracking }}"
        output:
          status: {description: the latest tracking status}
          last_update: {description: when that status was posted}
        max_steps: 6
        save_as: courier
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, create_model

from agent.ai.fields import AiField, checked_values
from agent.core.errors import StepError
from agent.steps.ai import keep_values
from agent.steps.base import Params, Step

if TYPE_CHECKING:
    from agent.engine.context import RunContext
    from agent.recipes.model import Recipe

KEY = "agent"
_PY_TYPES: dict[str, Any] = {"string": str, "number": float, "integer": int, "boolean": bool}


class AgentParams(Params):
    task: str = Field(
        description="What to find out, in plain words (a template). Only read-and-navigate "
        "tasks: the sub-agent cannot type, submit or change anything."
    )
    start_url: str | None = Field(
        None,
        description="Open this page first (a template; a path is joined to the site's "
        "base_url). Empty: start on the run's current page.",
    )
    output: dict[str, AiField] = Field(
        min_length=1,
        description="value name -> {type, description, as, format, optional, default}: what "
        "the sub-agent must return, checked and converted like `ai_extract`'s `schema`.",
    )
    max_steps: int = Field(
        8, gt=0, le=50, description="The most browser-use steps (one model call each)."
    )
    secrets: list[str] = Field(
        default_factory=list,
        description="Names of the site's credentials the sub-agent may use, as placeholders "
        "only: the model sees `<secret>name</secret>`, never the value.",
    )
    save_as: str | None = Field(
        None,
        description="Keep the values as one mapping under this name. Empty: each value under "
        "its own name.",
    )


class AgentTask(Step):
    """Hand an open-ended reading task to a browser-use sub-agent in the run's page.

    Example::

        - agent:
            task: "Find the courier's latest status for tracking number {{ tracking }}"
            start_url: "/track/{{ tracking }}"
            output: {status: {description: the latest tracking status}}
            max_steps: 6
    """

    key: ClassVar[str] = KEY
    effect: ClassVar = "read"
    # like ai_extract: never after the gate, what is committed is only what was approved
    prepare_only: ClassVar[bool] = True
    agent: AgentParams = Field(description="The task, where to start, what to return.")

    def defines(self) -> list[str]:
        if self.agent.save_as:
            return [self.agent.save_as]
        return list(self.agent.output)

    async def run(self, ctx: RunContext) -> None:
        from agent.ai.llm import LLM
        from agent.ai.subagent import run_subagent
        from agent.browser.launch import cdp_url

        params = self.agent
        llm = LLM.from_settings(ctx.settings)  # "no LLM configured" before touching the page
        browser = ctx.browser_context.browser
        url = cdp_url(browser) if browser is not None else None
        if url is None:
            raise StepError(
                "the `agent` step needs the run's Chromium to share it over DevTools (CDP), "
                "and this one was started without it",
                hint="run the recipe with `aijia run` (it opens the port when a recipe has an "
                "`agent` step), or launch the browser you pass in with "
                "agent.browser.launch.launch(..., cdp=True)",
            )
        llm.protect(ctx)  # every secret maskable before anything is sent
        sensitive = {name: ctx.secret(name) for name in params.secrets}
        if params.start_url:
            await ctx.navigate(
                str(ctx.render(params.start_url)),
                wait_until="load",
                timeout_ms=ctx.timeout_ms(self),
            )
        purpose = f"agent (step {self.number or '?'})"
        result = await run_subagent(
            ctx,
            llm,
            cdp_url=url,
            task=str(ctx.render(params.task)),
            output_model=output_model(params.output),
            max_steps=params.max_steps,
            purpose=purpose,
            sensitive_data=sensitive,
        )
        if not result.success:
            why = (
                f"it reached max_steps {params.max_steps} without finishing the task"
                if result.steps >= params.max_steps
                else f"it gave up after {result.steps} step(s)"
            )
            raise StepError(
                f"{purpose}: the sub-agent did not finish: {why} (its answer: {result.data})"[:400],
                hint="raise `max_steps`, give a closer `start_url`, or a narrower `task`; the "
                "run's evidence has every model call (event llm_call)",
            )
        values = checked_values(params.output, result.data)
        await keep_values(ctx, self, values, label=KEY, save_as=params.save_as)
        ctx.event(
            "agent_finished",
            {"steps": result.steps, "urls": result.urls, "blocked": result.blocked},
        )


def output_model(fields: dict[str, AiField]) -> type[Any]:
    """The pydantic model browser-use's `done` action must fill (every value nullable)."""
    spec: dict[str, Any] = {
        name: (_PY_TYPES.get(f.type, str) | None, Field(description=f.description or name))
        for name, f in fields.items()
    }
    model: type[Any] = create_model("AgentOutput", **spec)
    return model


def needs_cdp(recipe: Recipe) -> bool:
    """Whether the recipe (at any depth) has an `agent` step: its Chromium then opens a
    loopback DevTools port (agent/browser/launch.py)."""
    todo = [*recipe.steps, *recipe.reconcile]
    while todo:
        step = todo.pop()
        if step.key == KEY:
            return True
        for _field, children in step.children():
            todo.extend(children)
    return False
