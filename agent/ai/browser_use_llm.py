"""The chat model the `agent` step gives browser-use: our `llm:` endpoint, our rules.

browser-use asks a chat model for its next actions (`ainvoke(messages, output_format)`).
This one answers through the same rules as every other AI call (agent/ai/llm.py):

- every secret the run knows is masked out of the messages before they are sent (browser-use
  already swaps `sensitive_data` values for placeholders; this is the second layer);
- the run's budget (agent/ai/budget.py) is checked before each call, the answer capped to
  what is left, and the call counted after;
- `llm.timeout_s` per attempt and `llm.max_retries` retries (the openai client's own loop);
- one `llm_call` event per call (agent/ai/record.py), also when it failed or was unusable.

browser-use treats a failed model call as one more failed step and goes on; a budget, an
endpoint or a malformed answer must end the step instead. So the first such error is kept
in `fatal`: the sub-agent's stop callback reads it, and the step raises it afterwards.

browser-use and openai are the optional `ai` extra, imported inside the calls only.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, cast

from agent.ai.budget import Budget, estimate_tokens, run_usage
from agent.ai.record import CallRecord, record_call
from agent.core.errors import StepError

if TYPE_CHECKING:
    import httpx

    from agent.ai.llm import LLM
    from agent.engine.context import RunContext


class RecordedChat:
    """A browser-use chat model (its `BaseChatModel` protocol) over the run's `LLM`."""

    _verified_api_keys = True  # browser-use would otherwise make a test call first

    def __init__(self, llm: LLM, ctx: RunContext, http: httpx.AsyncClient, purpose: str) -> None:
        self._llm, self._ctx, self._http, self._purpose = llm, ctx, http, purpose
        self.model = llm.model
        self.fatal: StepError | None = None
        self.calls = 0

    @property
    def provider(self) -> str:
        return "openai"

    @property
    def name(self) -> str:
        return self.model

    @property
    def model_name(self) -> str:
        return self.model

    async def ainvoke(self, messages: list[Any], output_format: Any = None, **_: Any) -> Any:
        """browser-use's call: the answer parsed into `output_format` (or plain text)."""
        if self.fatal is not None:  # browser-use may try once more before it sees the stop
            raise self.fatal
        try:
            return await self._invoke(messages, output_format)
        except StepError as exc:
            self.fatal = exc
            raise

    async def _invoke(self, messages: list[Any], output_format: Any) -> Any:
        import openai
        from browser_use.llm.openai.serializer import OpenAIMessageSerializer
        from browser_use.llm.schema import SchemaOptimizer
        from browser_use.llm.views import ChatInvokeCompletion, ChatInvokeUsage

        ctx, settings = self._ctx, self._llm.settings
        self.calls += 1
        purpose = f"{self._purpose}, call {self.calls}"
        sent = [_masked(ctx, m) for m in OpenAIMessageSerializer.serialize_messages(messages)]
        record = CallRecord(
            purpose=purpose,
            model=self.model,
            endpoint=self._llm.endpoint,
            messages=[{"role": str(m["role"]), "content": _text_of(m)} for m in sent],
        )
        budget = Budget(settings, run_usage(ctx))
        try:
            cap = budget.answer_cap(
                purpose, estimate_tokens(*(m["content"] for m in record.messages))
            )
        except StepError as exc:
            record.outcome, record.error = "refused", exc.message
            record_call(ctx, record)
            raise
        options: dict[str, Any] = {"temperature": settings.temperature}
        if cap is not None:
            options["max_tokens"] = cap
        if output_format is not None:
            schema = SchemaOptimizer.create_optimized_json_schema(output_format)
            options["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "agent_output", "schema": schema, "strict": True},
            }
        client = openai.AsyncOpenAI(
            base_url=settings.base_url,
            api_key=self._llm.api_key or "no-key",
            timeout=settings.timeout_s,
            max_retries=settings.max_retries,
            http_client=cast(Any, self._http),  # openai types its own httpx import
        )
        started = time.monotonic()
        try:
            response = await client.chat.completions.create(
                model=self.model, messages=sent, **options
            )
        except openai.APIError as exc:
            record.duration_ms = (time.monotonic() - started) * 1000
            error = self._llm.endpoint_error(ctx, exc)
            record.outcome, record.error = "error", error.message
            record_call(ctx, record)
            raise error from None
        record.duration_ms = (time.monotonic() - started) * 1000
        content = (response.choices[0].message.content if response.choices else None) or ""
        used = response.usage
        tokens_in = used.prompt_tokens if used else estimate_tokens(*sent_texts(record))
        tokens_out = used.completion_tokens if used else estimate_tokens(content)
        record.tokens_in, record.tokens_out = tokens_in, tokens_out
        record.cost = budget.add(tokens_in, tokens_out)
        record.response = ctx.masker.text(content)
        try:
            budget.check_after(purpose)
        except StepError as exc:
            record.outcome, record.error = "over_budget", exc.message
            record_call(ctx, record)
            raise
        usage = ChatInvokeUsage(
            prompt_tokens=tokens_in,
            prompt_cached_tokens=None,
            prompt_cache_creation_tokens=None,
            prompt_image_tokens=None,
            completion_tokens=tokens_out,
            total_tokens=tokens_in + tokens_out,
        )
        if output_format is None:
            record_call(ctx, record)
            return ChatInvokeCompletion(completion=content, usage=usage)
        try:
            parsed = output_format.model_validate_json(content)
        except ValueError as exc:
            problem = " ".join(str(exc).split())[:300]
            record.outcome, record.error = "malformed", problem
            record_call(ctx, record)
            raise StepError(
                f"the model's answer for {purpose} is unusable: {problem}",
                hint="the raw answer is in the run's evidence (event llm_call); the `agent` "
                "step needs a model that follows browser-use's JSON action format",
            ) from None
        record_call(ctx, record)
        return ChatInvokeCompletion(completion=parsed, usage=usage)


def sent_texts(record: CallRecord) -> list[str]:
    return [m["content"] for m in record.messages]


def _text_of(message: Any) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return json.dumps(content, ensure_ascii=False, default=str) if content else ""


def _masked(ctx: RunContext, message: Any) -> Any:
    """The serialized message with every known secret masked (text parts only)."""
    out = dict(message)
    content = out.get("content")
    if isinstance(content, str):
        out["content"] = ctx.masker.text(content)
    elif isinstance(content, list):
        out["content"] = [
            {**p, "text": ctx.masker.text(p["text"])} if isinstance(p, dict) and "text" in p else p
            for p in content
        ]
    return out
