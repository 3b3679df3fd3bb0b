"""The client's patience with a passing Temporal service error (agent/backends/temporal/
client.py `patiently`): a dev server under a batch of 200 answered "Namespace default is not
found" for a moment, and `aijia run` died with a traceback, losing every row's result."""

from __future__ import annotations

import pytest
from temporalio.service import RPCError, RPCStatusCode

from agent.backends.temporal import client
from agent.core.aio import run_sync
from agent.core.errors import ConfigError


def failing(times: int, error: RPCError) -> tuple[list[int], object]:
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "answer"

    return calls, call


def test_a_passing_error_is_tried_again_and_an_answer_is_not() -> None:
    namespace = RPCError("Namespace default is not found.", RPCStatusCode.NOT_FOUND, b"")
    calls, call = failing(2, namespace)
    assert run_sync(lambda: client.patiently(call, "to describe run r1")) == "answer"  # type: ignore[arg-type]
    assert len(calls) == 3

    no_such = RPCError("workflow not found for ID: r1", RPCStatusCode.NOT_FOUND, b"")
    calls, call = failing(1, no_such)
    with pytest.raises(RPCError):  # an answer: the caller's to handle, at once
        run_sync(lambda: client.patiently(call, "to describe run r1"))  # type: ignore[arg-type]
    assert len(calls) == 1
    # a query no worker took (CANCELLED "Timeout expired") is not the service's fault
    assert not client.passing(RPCError("Timeout expired", RPCStatusCode.CANCELLED, b""))


def test_a_service_that_keeps_failing_is_a_clear_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client, "RPC_RETRY_S", 1.0)
    down = RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")
    calls, call = failing(100, down)
    with pytest.raises(ConfigError) as raised:
        run_sync(lambda: client.patiently(call, "to start run r1"))  # type: ignore[arg-type]
    assert "kept failing to start run r1 for 1s: connection refused" in str(raised.value)
    assert 2 <= len(calls) <= 3  # 0.5 s apart, then 1 s: within the second
