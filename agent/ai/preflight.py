"""Before a run starts: a recipe that uses a model gets a usable one, or nothing runs.

A step that cannot work without a model (`ai_extract`, `agent`) in a project with no `llm:`
block, or an `llm:` block whose key reference does not resolve or whose `ai` extra is missing,
used to surface only when the step ran: after the login, with a browser open, the draft
silently falling back to its template. `check_llm` is called by `plan_run` with the inputs and
secrets checks, so such a run exits 2 before anything runs, saying which step needs what.

`draft_reply` and `fallback: ai` also work without a model (the template; the original
selector error), so an absent `llm:` block is fine for them — only a broken one is refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from agent.core.errors import ConfigError

if TYPE_CHECKING:
    from agent.core.settings import Settings
    from agent.recipes.model import Recipe
    from agent.steps.base import Step

# steps that need a model to do anything at all
NEEDS_MODEL = frozenset({"ai_extract", "agent"})
# steps that use a model when one is configured, and work without one
USES_MODEL = frozenset({"draft_reply"})


def ai_steps(steps: list[Step]) -> Iterator[Step]:
    """Every step of `steps`, nested ones included, that needs or uses a model."""
    for step in steps:
        if step.key in NEEDS_MODEL or step.key in USES_MODEL or getattr(step, "fallback", None):
            yield step
        for _, children in step.children():
            yield from ai_steps(children)


def check_llm(recipe: Recipe, settings: Settings) -> None:
    """ConfigError/SecretError (exit 2) when `recipe` needs a model it cannot have."""
    steps = list(ai_steps(recipe.steps))
    if not steps:
        return
    from agent.ai.llm import LLM, NO_LLM_HINT

    if settings.llm is None:
        needing = [s for s in steps if s.key in NEEDS_MODEL]
        if needing:
            step = needing[0]
            where = f" in {settings.source}" if settings.source else ""
            raise ConfigError(
                f"recipe {recipe.name}: step {step.number or '?'} (`{step.key}`) needs an LLM, "
                f"and there is no LLM configured (no `llm:` block{where})",
                hint=NO_LLM_HINT,
            )
        return
    LLM.from_settings(settings)  # the extra installed and the key resolvable, else it raises


__all__ = ["NEEDS_MODEL", "USES_MODEL", "ai_steps", "check_llm"]
