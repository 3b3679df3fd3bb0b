"""The permission gate: the only door from the prepare phase to the commit phase.

The runner stops at the gate: it renders the summary and the binds (the exact values the
action will use), records them (the evidence store computes their canonical hash) and
persists the run as `paused` with the gate's step number. A reviewer approves that bound
action (agent/gates, a later piece); on resume the prepare phase is repeated and the binds
must hash the same.

Example::

    - gate:
        action: refund
        summary: "Refund {{ inputs.amount }} {{ refundable.currency }} on {{ inputs.order_id }}"
        binds: {order_id: "{{ inputs.order_id }}", amount: "{{ inputs.amount }}"}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from agent.steps.base import Params, PauseRun, Step

if TYPE_CHECKING:
    from agent.engine.context import RunContext


class GateParams(Params):
    action: str = Field(description="What will happen after approval, e.g. refund, cancel.")
    summary: str = Field(description="One line a reviewer reads (a template).")
    binds: dict[str, Any] = Field(
        default_factory=dict,
        description="The exact values the commit phase will act on (templates); approval signs "
        "their hash, and resume refuses to commit when they drift.",
    )


class Gate(Step):
    """Stop for approval; everything after this step is the commit phase.

    Example::

        - gate:
            action: refund
            summary: "Refund {{ inputs.amount }}"
            binds: {amount: "{{ inputs.amount }}"}
    """

    key: ClassVar[str] = "gate"
    effect: ClassVar = "gate"
    gate: GateParams = Field(description="The action awaiting approval.")

    async def run(self, ctx: RunContext) -> None:
        binds = {k: ctx.render(v) for k, v in self.gate.binds.items()}
        data = {
            "step": self.number,
            "step_index": ctx.top_level_index(self),
            "action": self.gate.action,
            "summary": str(ctx.render(self.gate.summary)),
            "binds": binds,
        }
        raise PauseRun("gate", data)
