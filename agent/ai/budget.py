"""What one run may spend on the LLM, counted per run and checked around every call.

The count is the run's, not the process's: it starts from the run's recorded `llm_call`
events, so a resumed run cannot spend its budget twice.

Before a call: the prompt's estimated tokens must fit in what is left, and the answer is
capped (`max_tokens`) to the rest, so one call cannot overshoot the token budget by much.
After it: the endpoint's own counts are added; a run past its budget fails the step with a
message naming `llm.budget` (the answer is kept in the evidence, never used).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from agent.core.errors import StepError

if TYPE_CHECKING:
    from agent.core.settings import LlmSettings

# A rough count, on purpose: no tokenizer download (tiktoken fetches its tables from the
# internet). English text runs about 4 characters a token; 3 errs towards refusing early.
_CHARS_PER_TOKEN = 3
# The attribute on the run's context that holds its usage (one per run, across steps).
_USAGE_ATTR = "_ai_usage"


@dataclass
class Usage:
    """What a run spent so far."""

    calls: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    cost: Decimal = Decimal(0)

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


def run_usage(ctx: Any) -> Usage:
    """The run's usage, kept on its context. Created on the first call from the run's
    `llm_call` events already in the store, so a run resumed in another process (after a
    crash, a restart) goes on from what it spent instead of getting a fresh budget."""
    usage = getattr(ctx, _USAGE_ATTR, None)
    if usage is None:
        usage = spent_before(ctx)
        setattr(ctx, _USAGE_ATTR, usage)
    return usage


def spent_before(ctx: Any) -> Usage:
    """What the run's recorded `llm_call` events add up to (an empty Usage when the store
    cannot list events: a sink that only writes)."""
    usage = Usage()
    read = getattr(ctx.sink, "events", None)
    if read is None:
        return usage
    for event in read(ctx.run_id):
        if event.kind != "llm_call":
            continue
        usage.calls += 1
        usage.tokens_in += int(event.data.get("tokens_in") or 0)
        usage.tokens_out += int(event.data.get("tokens_out") or 0)
        usage.cost += Decimal(str(event.data.get("cost") or 0))
    return usage


def estimate_tokens(*texts: str) -> int:
    return sum(len(t) for t in texts) // _CHARS_PER_TOKEN + 16


def cost_of(settings: LlmSettings, tokens_in: int, tokens_out: int) -> Decimal:
    if settings.price is None:
        return Decimal(0)
    price = settings.price
    return (price.input_per_1k * tokens_in + price.output_per_1k * tokens_out) / 1000


class Budget:
    """The per-run limits of `llm.budget` over a run's `Usage`."""

    def __init__(self, settings: LlmSettings, usage: Usage) -> None:
        self.settings = settings
        self.limits = settings.budget
        self.usage = usage

    def answer_cap(self, purpose: str, prompt_tokens: int) -> int | None:
        """Check a call may start; the most answer tokens it may have (None: no limit)."""
        cap: int | None = None
        limit = self.limits.tokens_per_run
        if limit is not None:
            left = limit - self.usage.tokens - prompt_tokens
            if left <= 0:
                raise self._exhausted(
                    purpose,
                    f"tokens_per_run {limit}: {self.usage.tokens} used, this prompt needs "
                    f"about {prompt_tokens}",
                )
            cap = left
        cost_limit = self.limits.cost_per_run
        if cost_limit is not None:
            before = self.usage.cost + cost_of(self.settings, prompt_tokens, 0)
            if before >= cost_limit:
                raise self._exhausted(
                    purpose,
                    f"cost_per_run {cost_limit}: {_money(self.usage.cost)} spent, this prompt "
                    f"costs about {_money(before - self.usage.cost)}",
                )
        return cap

    def add(self, tokens_in: int, tokens_out: int) -> Decimal:
        """Count a finished call; its cost."""
        cost = cost_of(self.settings, tokens_in, tokens_out)
        self.usage.calls += 1
        self.usage.tokens_in += tokens_in
        self.usage.tokens_out += tokens_out
        self.usage.cost += cost
        return cost

    def check_after(self, purpose: str) -> None:
        """StepError when the run has now spent more than its budget."""
        limit = self.limits.tokens_per_run
        if limit is not None and self.usage.tokens > limit:
            raise self._exhausted(
                purpose, f"tokens_per_run {limit}: this call brought the run to {self.usage.tokens}"
            )
        cost_limit = self.limits.cost_per_run
        if cost_limit is not None and self.usage.cost > cost_limit:
            raise self._exhausted(
                purpose,
                f"cost_per_run {cost_limit}: this call brought the run to "
                f"{_money(self.usage.cost)}",
            )

    def _exhausted(self, purpose: str, detail: str) -> StepError:
        return StepError(
            f"the run's LLM budget is exhausted ({purpose}): llm.budget.{detail}",
            hint="raise llm.budget in config.yaml, or give the AI step a smaller page region "
            "(`from:`)",
        )


def _money(value: Decimal) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
