"""The evidence of one LLM call: the `llm_call` event.

It goes through the run's normal event path (`RunContext.event`): masked once more, hashed
into the run's chain and sealed with everything else. The auditor's question "what did the
agent/AI suggest, from what?" is answered by it: the purpose, the model, the exact messages
sent, the answer as received (also when it was unusable), tokens, cost and duration.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agent.engine.context import RunContext

EVENT_KIND = "llm_call"


@dataclass
class CallRecord:
    """What one call did; `outcome` is ok, malformed, refused (budget) or error."""

    purpose: str
    model: str
    endpoint: str
    messages: list[dict[str, str]]
    outcome: str = "ok"
    response: str | None = None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)
    duration_ms: float = 0.0

    def data(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "model": self.model,
            "endpoint": self.endpoint,
            "outcome": self.outcome,
            "messages": self.messages,
            "response": self.response,
            "error": self.error,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": str(self.cost.normalize()) if self.cost else "0",
            "duration_ms": round(self.duration_ms, 1),
        }


def record_call(ctx: RunContext, record: CallRecord) -> None:
    """Append the call's event to the run's evidence trail (typed: evidence.events.LlmCall,
    checked by the store on append)."""
    ctx.event(EVENT_KIND, record.data())
