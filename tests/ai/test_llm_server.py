"""The scripted server speaks the real protocol: one round trip with each real client.

openai (chat, stream, tools, response_format), langchain-openai (invoke, stream, bind_tools,
with_structured_output by json_schema and by function calling) and browser-use's own
ChatOpenAI, all over HTTP. Plus the script's edges: an empty queue, faults, slow answers,
malformed output.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from tests.ai.llm_server import (
    MODEL,
    Fault,
    Json,
    Malformed,
    Respond,
    ScriptedLLM,
    Slow,
    Text,
    ToolCall,
    last_user_text,
    llm_settings,
)

pytest.importorskip("langchain_openai", reason="the ai extra is not installed")
import langchain_openai
import openai

KEY = "sk-test-not-a-secret"


class Tracking(BaseModel):
    """The courier's latest status."""

    status: str
    days_since_update: int


TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "read_tracking",
            "description": "Read a tracking status",
            "parameters": {
                "type": "object",
                "properties": {"number": {"type": "string"}},
                "required": ["number"],
            },
        },
    }
]


@pytest.fixture
def clients() -> Iterator[list[openai.OpenAI]]:
    """Closes the openai clients a test made (an open one warns when collected)."""
    made: list[openai.OpenAI] = []
    yield made
    for made_client in made:
        made_client.close()


def client(server: ScriptedLLM, made: list[openai.OpenAI], **kwargs: object) -> openai.OpenAI:
    new = openai.OpenAI(base_url=server.base_url, api_key=KEY, **kwargs)  # type: ignore[arg-type]
    made.append(new)
    return new


def chat_model(server: ScriptedLLM, **kwargs: object) -> langchain_openai.ChatOpenAI:
    return langchain_openai.ChatOpenAI(
        model=MODEL, base_url=server.base_url, api_key=KEY, max_retries=0, **kwargs
    )


# --------------------------------------------------------------------------- openai


def test_openai_chat_answers_text_and_usage(
    llm_server: ScriptedLLM, clients: list[openai.OpenAI]
) -> None:
    llm_server.script(Text("Your parcel is on its way."))
    reply = client(llm_server, clients).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "Where is my parcel?"}]
    )
    assert reply.choices[0].message.content == "Your parcel is on its way."
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert llm_server.requests[0]["messages"][0]["content"] == "Where is my parcel?"
    assert llm_server.headers[0]["authorization"] == f"Bearer {KEY}"


def test_openai_stream_sends_chunks_and_a_usage_chunk(
    llm_server: ScriptedLLM, clients: list[openai.OpenAI]
) -> None:
    text = "A fairly long answer, streamed in several pieces."
    llm_server.script(Text(text))
    stream = client(llm_server, clients).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert "".join(pieces) == text
    assert len(pieces) > 3
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0


def test_respond_answers_from_what_the_request_shows(
    llm_server: ScriptedLLM, clients: list[openai.OpenAI]
) -> None:
    llm_server.script(Respond(lambda body: Text(last_user_text(body).upper())))
    reply = client(llm_server, clients).chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "be loud"},
            {"role": "user", "content": [{"type": "text", "text": "parcel 42"}]},
        ],
    )
    assert reply.choices[0].message.content == "PARCEL 42"


def test_openai_tool_call(llm_server: ScriptedLLM, clients: list[openai.OpenAI]) -> None:
    llm_server.script(ToolCall("read_tracking", {"number": "SP0123456789"}))
    reply = client(llm_server, clients).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "track it"}], tools=TOOLS
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.function.name == "read_tracking"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"number": "SP0123456789"}  # type: ignore[union-attr]
    assert llm_server.requests[0]["tools"][0]["function"]["name"] == "read_tracking"


def test_openai_stream_tool_call_and_required_choice(
    llm_server: ScriptedLLM, clients: list[openai.OpenAI]
) -> None:
    llm_server.script(Json({"number": "SP0123456789"}))  # "required" + one tool: a call of it
    stream = client(llm_server, clients).chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "track it"}],
        tools=TOOLS,
        tool_choice="required",
        stream=True,
    )
    chunks = [c for c in stream if c.choices]
    deltas = [d for c in chunks for d in c.choices[0].delta.tool_calls or []]
    assert deltas[0].function is not None and deltas[0].function.name == "read_tracking"
    arguments = "".join((d.function.arguments or "") if d.function else "" for d in deltas)
    assert json.loads(arguments) == {"number": "SP0123456789"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_openai_structured_output_parses(
    llm_server: ScriptedLLM, clients: list[openai.OpenAI]
) -> None:
    llm_server.script(Json({"status": "Out for delivery", "days_since_update": 1}))
    reply = client(llm_server, clients).chat.completions.parse(
        model=MODEL, messages=[{"role": "user", "content": "read"}], response_format=Tracking
    )
    assert reply.choices[0].message.parsed == Tracking(
        status="Out for delivery", days_since_update=1
    )
    assert llm_server.requests[0]["response_format"]["type"] == "json_schema"


def test_empty_queue_fails_loudly(llm_server: ScriptedLLM, clients: list[openai.OpenAI]) -> None:
    with pytest.raises(openai.InternalServerError, match="no scripted answer"):
        client(llm_server, clients, max_retries=0).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )


def test_fault_then_retry_succeeds(llm_server: ScriptedLLM, clients: list[openai.OpenAI]) -> None:
    llm_server.script(Fault(503, "overloaded"), Text("ok"))
    reply = client(llm_server, clients, max_retries=1).chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "ok"
    assert len(llm_server.requests) == 2


def test_rate_limit_fault_raises(llm_server: ScriptedLLM, clients: list[openai.OpenAI]) -> None:
    llm_server.script(Fault(429, "slow down"))
    with pytest.raises(openai.RateLimitError, match="slow down"):
        client(llm_server, clients, max_retries=0).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )


def test_slow_answer_times_the_client_out(
    llm_server: ScriptedLLM, clients: list[openai.OpenAI]
) -> None:
    llm_server.script(Slow(1.0, then=Text("late")))
    with pytest.raises(openai.APITimeoutError):
        client(llm_server, clients, max_retries=0, timeout=0.2).chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi"}]
        )


def test_models_lists_the_scripted_model(
    llm_server: ScriptedLLM, clients: list[openai.OpenAI]
) -> None:
    assert [m.id for m in client(llm_server, clients).models.list()] == [MODEL]


def test_llm_settings_points_at_the_server(llm_server: ScriptedLLM) -> None:
    settings = llm_settings(llm_server, timeout_s=1)
    assert settings == {"base_url": llm_server.base_url, "model": MODEL, "timeout_s": 1}
    assert httpx.get(settings["base_url"] + "/models").status_code == 200


def test_script_rejects_what_is_not_an_answer(llm_server: ScriptedLLM) -> None:
    with pytest.raises(TypeError, match="not a scripted answer"):
        llm_server.script("plain string")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- langchain-openai


def test_langchain_invoke_and_stream(llm_server: ScriptedLLM) -> None:
    llm_server.script(Text("Hello there"), Text("Streamed hello"))
    model = chat_model(llm_server)
    assert model.invoke("hi").content == "Hello there"
    streamed = model.stream("hi")
    assert "".join(str(c.content) for c in streamed) == "Streamed hello"
    assert llm_server.requests[1]["stream"] is True


def test_langchain_bind_tools(llm_server: ScriptedLLM) -> None:
    llm_server.script(ToolCall("Tracking", {"status": "Delivered", "days_since_update": 0}))
    reply = chat_model(llm_server).bind_tools([Tracking]).invoke("read it")
    assert reply.tool_calls[0]["name"] == "Tracking"
    assert reply.tool_calls[0]["args"] == {"status": "Delivered", "days_since_update": 0}
    assert llm_server.requests[0]["tools"][0]["function"]["name"] == "Tracking"


@pytest.mark.parametrize("method", ["json_schema", "function_calling"])
def test_langchain_structured_output(llm_server: ScriptedLLM, method: str) -> None:
    llm_server.script(Json({"status": "In transit", "days_since_update": 9}))
    structured = chat_model(llm_server).with_structured_output(Tracking, method=method)  # type: ignore[arg-type]
    assert structured.invoke("read it") == Tracking(status="In transit", days_since_update=9)
    sent = llm_server.requests[0]
    if method == "json_schema":
        assert sent["response_format"]["type"] == "json_schema"
    else:
        assert sent["tool_choice"]["function"]["name"] == "Tracking"


def test_langchain_malformed_output(llm_server: ScriptedLLM) -> None:
    """Truncated JSON: json_schema raises; function_calling quietly gives None (worth knowing
    for the AI steps: check for None, or use include_raw=True)."""
    llm_server.script(Malformed('{"status": "In tra'), Malformed('{"status": "In tra'))
    model = chat_model(llm_server)
    with pytest.raises(ValidationError, match="Invalid JSON"):
        model.with_structured_output(Tracking, method="json_schema").invoke("read it")
    assert model.with_structured_output(Tracking, method="function_calling").invoke("x") is None
    assert llm_server.requests[1]["tool_choice"]["function"]["name"] == "Tracking"


# --------------------------------------------------------------------------- browser-use


def test_browser_use_chat_model_structured_output(llm_server: ScriptedLLM) -> None:
    llm = pytest.importorskip("browser_use.llm", reason="browser-use is not installed")
    from browser_use.llm.messages import UserMessage

    llm_server.script(Text("plain"), Json({"status": "Delivered", "days_since_update": 2}))

    async def ask() -> tuple[object, object]:
        # browser-use builds an AsyncOpenAI per call and never closes it: pass our own client
        async with httpx.AsyncClient() as http:
            model = llm.ChatOpenAI(
                model=MODEL,
                base_url=llm_server.base_url,
                api_key=KEY,
                max_retries=0,
                http_client=http,
            )
            plain = await model.ainvoke([UserMessage(content="hi")])
            parsed = await model.ainvoke([UserMessage(content="read")], output_format=Tracking)
        return plain.completion, parsed.completion

    plain, parsed = asyncio.run(ask())
    assert plain == "plain"
    assert parsed == Tracking(status="Delivered", days_since_update=2)
    assert llm_server.requests[1]["response_format"]["type"] == "json_schema"
