"""What every step has in common, and how a step says what it may change.

A step in YAML is a mapping with one action key (the registry key) plus common keys::

    - click: {role: button, name: Refund}
      name: open the refund dialog      # optional label for events and messages
      timeout: 5                        # seconds (default: browser.default_timeout_ms)
      retries: 0                        # transient failures retried with backoff
      when: "{{ status == 'paid' }}"    # skip the step unless true
      safe: true                        # this click does not change the back office
      fallback: ai                      # element not found: ask the LLM (prepare phase only)

`effect` classifies each step kind for the prepare/commit rule (see agent/recipe_checks.py):
read (looks only), stage (edits a form in the browser, nothing is sent), act (a click or key
press that may send something), control (runs other steps), gate (the door to commit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from agent.browser.selectors import Selector
from agent.core.errors import Location

if TYPE_CHECKING:
    from agent.engine.context import RunContext

Effect = Literal["read", "stage", "act", "control", "gate"]


class Params(BaseModel):
    """Base of every step's parameters: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Step(BaseModel):
    """Base of every step. Subclasses declare `key`, `effect` and one field named `key`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    key: ClassVar[str]
    effect: ClassVar[Effect] = "read"
    default_retries: ClassVar[int] = 0

    name: str | None = Field(None, description="A label for events, progress and messages.")
    timeout: float | None = Field(
        None, gt=0, description="Seconds this step may take (default: browser.default_timeout_ms)."
    )
    retries: int | None = Field(
        None,
        ge=0,
        le=5,
        description="Retries on transient errors (HTTP 5xx, navigation timeout), with backoff. "
        "Never used for act steps after the gate.",
    )
    when: str | None = Field(None, description="Run the step only when this template is true.")
    safe: bool = Field(
        False,
        description="The author asserts this click/press does not change the back office "
        "(opens a dialog, a tab, runs a search), so it may run before the gate.",
    )
    mutates: bool = Field(
        False, description="This step changes the back office: it must come after the gate."
    )
    fallback: Literal["ai"] | None = Field(
        None,
        description="`ai`: when the step's selector matches nothing, ask the LLM for the "
        "element in the page's accessibility tree ({role, name}) and use it for this run if it "
        "matches exactly one element; recorded as `locator_healed`, reviewed with `aijia "
        "recipes heal RUN`. Prepare phase only (before the gate); steps that locate one "
        "element (click, fill, select, check, press …).",
    )

    _location: Location | None = PrivateAttr(None)
    _number: str = PrivateAttr("")

    @model_validator(mode="after")
    def _fallback_needs_a_selector(self) -> Step:
        # healing replaces one selector: only a step whose parameters are one can be healed
        if self.fallback is not None and not isinstance(self.params, Selector):
            raise ValueError(
                f"`fallback: ai` works only on steps that locate one element (click, fill, "
                f"select, check, press …), not on `{self.key}`"
            )
        return self

    @property
    def params(self) -> Any:
        return getattr(self, self.key)

    @property
    def location(self) -> Location | None:
        return self._location

    @property
    def number(self) -> str:
        """ "3" for the third step, "3.2" for the second step inside it."""
        return self._number

    def label(self) -> str:
        return self.name or self.key

    def where(self) -> str:
        loc = f" ({self.location})" if self.location else ""
        return f"step {self.number} `{self.label()}`{loc}"

    def children(self) -> list[tuple[str, list[Step]]]:
        """Nested step lists (field name, steps): `then`/`else`, `for_each` bodies."""
        return []

    def defines(self) -> list[str]:
        """Names this step adds to the template scope for the steps after it."""
        return []

    def body_defines(self) -> list[str]:
        """Names visible only inside this step's nested steps (e.g. the loop variable)."""
        return []

    def may_change_back_office(self) -> bool:
        """The prepare/commit rule, per step: see agent/recipe_checks.py."""
        if self.mutates:
            return True
        return self.effect == "act" and not self.safe

    async def run(self, ctx: RunContext) -> None:
        raise NotImplementedError


class PauseRun(Exception):
    """Raised by `gate` and `handoff` to stop the run and persist it as `paused`."""

    def __init__(self, reason: str, data: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason  # "gate" or "handoff"
        self.data = data
