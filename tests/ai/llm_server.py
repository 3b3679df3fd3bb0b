"""A scripted OpenAI-compatible server: the LLM endpoint of the AI tests, offline.

The AI steps talk to any OpenAI-compatible endpoint through the real clients (openai,
langchain-openai, browser-use). Tests point those clients at this server, which speaks the
same protocol over real HTTP and answers from a script instead of a model::

    server = ScriptedLLM().start()
    server.script(Json({"status": "Delivered"}), Text("Hello"))
    ...  # the code under test calls server.base_url ("http://127.0.0.1:PORT/v1")
    assert server.requests[0]["model"] == "scripted-1"
    server.stop()

What it speaks:

- ``POST /v1/chat/completions``: plain answers, ``stream: true`` (SSE chunks, then a usage
  chunk when ``stream_options.include_usage`` is set, then ``[DONE]``), tool calls (an
  assistant message with ``tool_calls``) and structured output (``response_format``
  ``json_schema``/``json_object``: the content is the JSON). ``usage`` counts tokens roughly
  (about four characters a token).
- ``GET /v1/models``: one model, ``scripted-1``.

Answers are queued with ``script(...)`` and used one per request, first in first out. A
request with nothing queued gets HTTP 500 whose message starts "no scripted answer", so a test
that forgot to script fails loudly. The openai client retries 5xx and 429 answers (twice by
default, browser-use five times): each retry takes the next answer, so script one ``Fault``
per attempt or build the client with ``max_retries=0``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.threaded_server import ThreadedServer

MODEL = "scripted-1"


@dataclass(frozen=True)
class Text:
    """The assistant answers `content` as plain text (even when a tool or a schema was asked:
    that is how a test scripts a model that ignores the request)."""

    content: str


@dataclass(frozen=True)
class Json:
    """Structured output: `value` as JSON. When the request forces one tool (`tool_choice`
    naming a function, or "required" with a single tool), it is that tool's call arguments,
    the name taken from the request; otherwise it is the message content."""

    value: Any


@dataclass(frozen=True)
class ToolCall:
    """The assistant calls tool `name` with `args` (whatever the request offered)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fault:
    """An HTTP error with an OpenAI-style error body (429 and 5xx are retried by clients)."""

    status: int = 500
    message: str = "scripted fault"


@dataclass(frozen=True)
class Slow:
    """Wait `seconds`, then give `then` (to exercise client timeouts)."""

    seconds: float
    then: Answer = field(default_factory=lambda: Text("slow answer"))


@dataclass(frozen=True)
class Malformed:
    """Model output that is not what was asked, verbatim: `raw_text` is the message content,
    or the arguments of the forced tool call (e.g. ``'{"amount": '``, truncated JSON)."""

    raw_text: str


@dataclass(frozen=True)
class Respond:
    """An answer computed from the request: `fn(body)` returns the answer to give (any other
    kind, `Respond` excepted). A scripted model that must read what it was shown — browser-use
    numbers the page's elements in its prompt, and the answer names one by that number —
    uses it: ``Respond(lambda body: Json(action_for(last_user_text(body))))``."""

    fn: Callable[[dict[str, Any]], Answer]


Answer = Text | Json | ToolCall | Fault | Slow | Malformed | Respond


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user message of a chat request (parts joined), for `Respond`."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(
                str(part.get("text", "")) for part in content if isinstance(part, dict)
            )
    return ""


def count_tokens(value: Any) -> int:
    """A rough token count (about four characters a token): enough for budgets in tests."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return max(1, len(text) // 4)


def forced_tool(body: dict[str, Any]) -> str | None:
    """The tool the request forces the model to call, if any."""
    choice = body.get("tool_choice")
    tools = body.get("tools") or []
    if isinstance(choice, dict):
        return str(choice.get("function", {}).get("name") or "") or None
    if choice == "required" and len(tools) == 1:
        return str(tools[0].get("function", {}).get("name") or "") or None
    return None


def message_for(answer: Answer, body: dict[str, Any], call_number: int) -> dict[str, Any]:
    """The assistant message that `answer` gives for the request `body`."""
    tool = forced_tool(body)
    if isinstance(answer, ToolCall):
        return _tool_message(answer.name, json.dumps(answer.args), call_number)
    if isinstance(answer, Json):
        text = json.dumps(answer.value, ensure_ascii=False)
        if tool:
            return _tool_message(tool, text, call_number)
        return {"role": "assistant", "content": text}
    if isinstance(answer, Malformed):
        if tool:
            return _tool_message(tool, answer.raw_text, call_number)
        return {"role": "assistant", "content": answer.raw_text}
    if isinstance(answer, Text):
        return {"role": "assistant", "content": answer.content}
    raise TypeError(f"not a message answer: {answer!r}")


def _tool_message(name: str, arguments: str, call_number: int) -> dict[str, Any]:
    call = {
        "id": f"call_{call_number:04d}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call]}


def usage_for(body: dict[str, Any], message: dict[str, Any]) -> dict[str, int]:
    prompt = count_tokens(body.get("messages", [])) + (
        count_tokens(body["tools"]) if body.get("tools") else 0
    )
    completion = count_tokens(message.get("content") or message.get("tool_calls") or "")
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def error_response(status: int, message: str, kind: str = "server_error") -> JSONResponse:
    """An error in the shape OpenAI clients parse (`error.message` ends up in the exception)."""
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": None}},
        status_code=status,
    )


class ScriptedLLM:
    """The server: a Starlette app under uvicorn in a background thread, on 127.0.0.1."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.requests: list[dict[str, Any]] = []  # JSON bodies received, in order
        self.headers: list[dict[str, str]] = []  # their headers (Authorization …), same order
        self._answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._calls = 0
        self._server: ThreadedServer | None = None

    @property
    def base_url(self) -> str:
        """What an OpenAI client takes as `base_url`."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def pending(self) -> int:
        """How many scripted answers are still unused."""
        with self._lock:
            return len(self._answers)

    def script(self, *answers: Answer) -> ScriptedLLM:
        """Queue `answers` for the next requests, in order."""
        for answer in answers:
            if not isinstance(answer, Text | Json | ToolCall | Fault | Slow | Malformed | Respond):
                raise TypeError(f"not a scripted answer: {answer!r} (use Text, Json, ToolCall …)")
        with self._lock:
            self._answers.extend(answers)
        return self

    def reset(self) -> None:
        """Forget queued answers and received requests (the fixture does it between tests)."""
        with self._lock:
            self._answers.clear()
            self.requests.clear()
            self.headers.clear()

    def start(self) -> ScriptedLLM:
        """Listen on a free port and serve in a daemon thread; returns once it accepts."""
        self._server = ThreadedServer(self.app(), "scripted LLM server", self.host).start()
        self.port = self._server.port
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
        self._server = None

    def __enter__(self) -> ScriptedLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ the HTTP side

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
            ]
        )

    async def _models(self, request: Request) -> Response:
        del request
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "aijia-tests"}],
            }
        )

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[Answer | None, int]:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            self._calls += 1
            return (self._answers.popleft() if self._answers else None), self._calls

    async def _chat(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return error_response(400, "the request body is not JSON", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return error_response(400, "expected a JSON object with messages", "invalid_request")
        answer, number = self._next(body, dict(request.headers))
        while isinstance(answer, Slow | Respond):
            if isinstance(answer, Respond):
                answer = answer.fn(body)
                continue
            await asyncio.sleep(answer.seconds)
            answer = answer.then
        if answer is None:
            return error_response(
                500,
                f"no scripted answer for request #{number} (queue empty); "
                "hint: call llm_server.script(...) before the code under test asks the model",
            )
        if isinstance(answer, Fault):
            kind = "rate_limit_error" if answer.status == 429 else "server_error"
            return error_response(answer.status, answer.message, kind)
        message = message_for(answer, body, number)
        completion_id = f"chatcmpl-scripted-{number:04d}"
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        usage = usage_for(body, message)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = stream_chunks(completion_id, message, finish, usage if include_usage else None)
            return StreamingResponse(chunks, media_type="text/event-stream")
        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model") or MODEL,
                "choices": [
                    {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
                ],
                "usage": usage,
            }
        )


async def stream_chunks(
    completion_id: str,
    message: dict[str, Any],
    finish: str,
    usage: dict[str, int] | None,
) -> AsyncIterator[str]:
    """Server-sent events as OpenAI sends them: role, content (or tool call) pieces, the finish
    reason, an optional usage chunk with no choices, then ``[DONE]``."""
    created = int(time.time())

    def chunk(delta: dict[str, Any] | None, finish_reason: str | None = None) -> str:
        data: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
        if delta is None:
            data["usage"] = usage
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for call in message.get("tool_calls") or []:
        head = {
            "index": 0,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        yield chunk({"tool_calls": [head]})
        for piece in _pieces(call["function"]["arguments"]):
            yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
    for piece in _pieces(message.get("content") or ""):
        yield chunk({"content": piece})
    yield chunk({}, finish)
    if usage is not None:
        yield chunk(None)
    yield "data: [DONE]\n\n"


def _pieces(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def llm_settings(server: ScriptedLLM, **overrides: Any) -> dict[str, Any]:
    """The `llm:` config block that points Aijia at `server` (no API key: the server needs
    none; a short timeout so slow-endpoint tests finish quickly). `overrides` win."""
    settings: dict[str, Any] = {"base_url": server.base_url, "model": MODEL, "timeout_s": 5}
    settings.update(overrides)
    return settings
