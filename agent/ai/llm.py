"""`LLM`: one OpenAI-compatible chat endpoint, through langchain-openai, for every AI step.

Every call goes the same way, so that no AI step can skip a rule:

1. page content goes only into `data`, fenced as data with a random boundary (data.py);
2. every secret the run knows (site credentials, the LLM key itself) is masked out of the
   messages and the schema before anything is sent (`ctx.masker`, every spelling);
3. the per-run budget is checked before (the answer is capped to what is left) and after
   (budget.py);
4. the endpoint gets `llm.timeout_s` per attempt and `llm.max_retries` retries with backoff
   on 5xx, 408/429 and connection errors (the openai client's own retry loop); then the step
   fails naming the endpoint, never the key;
5. one `llm_call` event records purpose, model, messages, answer, tokens, cost and duration
   (record.py) — also when the call failed or the answer was unusable.

langchain-openai is the optional `ai` extra, imported here only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.ai.budget import Budget, estimate_tokens, run_usage
from agent.ai.data import Prompt, fence
from agent.ai.record import CallRecord, record_call
from agent.core.errors import ConfigError, SecretError, StepError

if TYPE_CHECKING:
    import httpx

    from agent.core.settings import LlmSettings, Settings
    from agent.engine.context import RunContext

NO_LLM_HINT = (
    "add an `llm:` block to config.yaml (base_url, model, api_key …; see docs/ai.md), "
    "or remove the AI step from the recipe"
)
EXTRA_HINT = "pip install 'aijia[ai]' (installs langchain and langchain-openai)"
# Sent when `llm.api_key` is empty: the openai client needs some key; local servers ignore it.
_NO_KEY = "no-key"

_JSON_RULES = (
    "- Answer with one JSON object that matches the given JSON schema, and nothing else.\n"
)


@dataclass(frozen=True)
class Answer:
    """One usable answer and what it cost."""

    content: str
    record: CallRecord


class LLM:
    """The configured endpoint. Build it with `LLM.from_settings`; one per step is fine."""

    def __init__(self, settings: LlmSettings, *, api_key: str | None) -> None:
        self.settings = settings
        self._api_key = api_key

    @classmethod
    def from_settings(cls, settings: Settings) -> LLM:
        """The LLM of `settings.llm`. ConfigError when none is configured, when the `ai`
        extra is not installed, or when its key reference cannot be resolved."""
        if settings.llm is None:
            where = f" in {settings.source}" if settings.source else ""
            raise ConfigError(f"no LLM configured (no `llm:` block{where})", hint=NO_LLM_HINT)
        try:
            import langchain_openai  # noqa: F401  (the optional `ai` extra)
        except ImportError:
            raise ConfigError(
                "AI steps need langchain-openai, which is not installed", hint=EXTRA_HINT
            ) from None
        key = None
        if settings.llm.api_key is not None:
            from agent.core.secrets import SecretRef, resolve

            ref = SecretRef.model_validate(settings.llm.api_key)
            base = settings.source.parent if settings.source else None
            try:
                key = resolve(ref, site="llm", base_dir=base)
            except SecretError as exc:
                raise SecretError(
                    f"llm.api_key: {exc.message.replace(' (site llm)', '')}", hint=exc.hint
                ) from None
        return cls(settings.llm, api_key=key)

    @property
    def api_key(self) -> str | None:
        """The resolved key, for a client built elsewhere (the browser-use sub-agent's)."""
        return self._api_key

    @property
    def endpoint(self) -> str:
        return self.settings.base_url

    @property
    def model(self) -> str:
        return self.settings.model

    # ------------------------------------------------------------------ the two calls

    async def structured(
        self, ctx: RunContext, *, purpose: str, instructions: str, data: str, schema: dict[str, Any]
    ) -> dict[str, Any]:
        """A JSON object matching `schema` (a JSON Schema object), read from `data`.

        StepError when the answer is not JSON or does not match (the raw answer is kept in
        the evidence); a missing required value is such a mismatch."""
        self.protect(ctx)
        safe_schema = ctx.masker.data(schema)
        rules = _JSON_RULES + "- The JSON schema:\n" + json.dumps(safe_schema, ensure_ascii=False)
        prompt = self._prompt(ctx, instructions, data, rules)
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": _schema_name(purpose), "schema": safe_schema, "strict": True},
        }
        answer = await self._call(ctx, purpose, prompt, response_format=response_format)
        try:
            value = json.loads(answer.content)
            problems = schema_problems(value, schema)
        except ValueError as exc:
            problems = [f"not JSON ({exc})"]
        if problems:
            answer.record.outcome = "malformed"
            answer.record.error = "; ".join(problems)
            record_call(ctx, answer.record)
            raise StepError(
                f"the model's answer for {purpose} is unusable: {'; '.join(problems)[:300]}",
                hint="the raw answer is in the run's evidence (event llm_call); a clearer "
                "`description` per value, or a smaller `from:` region, usually helps",
            )
        record_call(ctx, answer.record)
        return dict(value)

    async def text(self, ctx: RunContext, *, purpose: str, instructions: str, data: str) -> str:
        """Plain text written from `data`; StepError when the answer is empty."""
        self.protect(ctx)
        prompt = self._prompt(ctx, instructions, data, "")
        answer = await self._call(ctx, purpose, prompt, response_format=None)
        if not answer.content.strip():
            answer.record.outcome = "malformed"
            answer.record.error = "empty answer"
            record_call(ctx, answer.record)
            raise StepError(f"the model gave an empty answer for {purpose}")
        record_call(ctx, answer.record)
        return answer.content

    def protect(self, ctx: RunContext) -> None:
        """Make every secret this run can know maskable before a prompt is built: the LLM
        key, and the site's secret credentials (a page may echo a password the run never
        typed, e.g. with a saved session). A credential that cannot be resolved now is not
        in this process, so it cannot leak from it."""
        if self._api_key:
            ctx.register_secret(self._api_key)
        for name, raw in ctx.site.credentials.items():
            if not isinstance(raw, str):
                try:
                    ctx.secret(name)
                except (SecretError, StepError):
                    continue

    # ------------------------------------------------------------------ the one path

    def _prompt(self, ctx: RunContext, instructions: str, data: str, rules: str) -> Prompt:
        raw = fence(instructions, data, extra_rules=rules)
        return Prompt(
            system=ctx.masker.text(raw.system),
            user=ctx.masker.text(raw.user),
            boundary=raw.boundary,
        )

    async def _call(
        self,
        ctx: RunContext,
        purpose: str,
        prompt: Prompt,
        *,
        response_format: dict[str, Any] | None,
    ) -> Answer:
        import httpx
        import openai
        from langchain_core.messages import HumanMessage, SystemMessage

        record = CallRecord(
            purpose=purpose, model=self.model, endpoint=self.endpoint, messages=prompt.messages()
        )
        budget = Budget(self.settings, run_usage(ctx))
        try:
            cap = budget.answer_cap(purpose, estimate_tokens(prompt.system, prompt.user))
        except StepError as exc:
            record.outcome, record.error = "refused", exc.message
            record_call(ctx, record)
            raise
        options: dict[str, Any] = {}
        if cap is not None:
            options["max_tokens"] = cap
        if response_format is not None:
            options["response_format"] = response_format
        started = time.monotonic()
        # our own HTTP client, closed after the call: langchain's default one is shared and
        # never closed (its sockets outlive the run)
        async with httpx.AsyncClient() as http:
            chat = self._chat(http).bind(**options)
            try:
                message = await chat.ainvoke(
                    [SystemMessage(prompt.system), HumanMessage(prompt.user)]
                )
            except openai.APIError as exc:
                record.duration_ms = (time.monotonic() - started) * 1000
                error = self.endpoint_error(ctx, exc)
                record.outcome, record.error = "error", error.message
                record_call(ctx, record)
                raise error from None
        record.duration_ms = (time.monotonic() - started) * 1000
        content = _content_text(message)
        refusal = message.additional_kwargs.get("refusal")
        usage = message.usage_metadata or {}
        tokens_in = int(usage.get("input_tokens") or estimate_tokens(prompt.system, prompt.user))
        tokens_out = int(usage.get("output_tokens") or estimate_tokens(content))
        record.tokens_in, record.tokens_out = tokens_in, tokens_out
        record.cost = budget.add(tokens_in, tokens_out)
        record.response = ctx.masker.text(content if not refusal else f"refusal: {refusal}")
        try:
            budget.check_after(purpose)
        except StepError as exc:
            record.outcome, record.error = "over_budget", exc.message
            record_call(ctx, record)
            raise
        return Answer(content=content, record=record)

    def _chat(self, http: httpx.AsyncClient) -> Any:
        from langchain_openai import ChatOpenAI

        s = self.settings
        return ChatOpenAI(
            model=s.model,
            base_url=s.base_url,
            api_key=self._api_key or _NO_KEY,
            timeout=s.timeout_s,
            max_retries=s.max_retries,
            temperature=s.temperature,
            use_responses_api=False,  # chat completions: what every compatible server speaks
            http_async_client=http,
        )

    def endpoint_error(self, ctx: RunContext, exc: Exception) -> StepError:
        """A clear StepError naming the endpoint (never the key) for a failed call."""
        import openai

        s = self.settings
        attempts = f"{s.max_retries + 1} attempt{'s' if s.max_retries else ''}"
        if isinstance(exc, openai.APITimeoutError):
            return StepError(
                f"the LLM endpoint {s.base_url} did not answer within {s.timeout_s:g}s "
                f"({attempts})",
                hint="the endpoint is slow or down; check it, or raise llm.timeout_s",
            )
        if isinstance(exc, openai.APIConnectionError):
            return StepError(
                f"cannot reach the LLM endpoint {s.base_url} ({attempts})",
                hint="check llm.base_url and that the server is running",
            )
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            body = ctx.masker.text(" ".join(str(exc.message).split()))[:200]
            hint = (
                "check llm.api_key (the secret it refers to) and the endpoint's access rules"
                if status in (401, 403)
                else "check llm.model and the endpoint's logs"
                if status < 500
                else "the endpoint failed; try again later or check its logs"
            )
            return StepError(
                f"the LLM endpoint {s.base_url} answered HTTP {status} ({attempts}): {body}",
                hint=hint,
            )
        first = ctx.masker.text(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        return StepError(f"the LLM endpoint {s.base_url} failed: {type(exc).__name__} {first}")


def _content_text(message: Any) -> str:
    content = message.content
    if isinstance(content, str):
        return content
    parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in content]
    return "".join(parts)


def _schema_name(purpose: str) -> str:
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in purpose)[:64]
    return name or "answer"


def schema_problems(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """What in `value` does not match `schema`: the JSON Schema subset AI steps send (object
    properties/required, array items, the scalar types and null, enum). Empty: it matches."""
    where = f"`{path}`" if path else "the answer"
    types = schema.get("type")
    allowed = [types] if isinstance(types, str) else list(types or [])
    if allowed and not any(_is_type(value, t) for t in allowed):
        return [f"{where} should be {' or '.join(allowed)}, not {_json_type(value)}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{where} should be one of {schema['enum']}, not {value!r}"]
    problems: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                problems.append(f"`{_join(path, name)}` is missing")
        for name, sub in props.items():
            if name in value:
                problems += schema_problems(value[name], sub, _join(path, name))
        if schema.get("additionalProperties") is False:
            extra = [str(k) for k in value if k not in props]
            if extra:
                problems.append(f"{where} has unexpected keys: {', '.join(extra)}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problems += schema_problems(item, schema["items"], _join(path, str(i)))
    return problems


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _is_type(value: Any, name: str) -> bool:
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    return True


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _is_type(value, name):
            return name
    return type(value).__name__
