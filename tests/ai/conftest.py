"""Fixtures for AI tests: one scripted OpenAI-compatible server per session, reset per test.

The server needs only Starlette and uvicorn, so this file imports nothing from the `ai`
extra; a test module that uses the real clients skips itself when they are missing::

    pytest.importorskip("langchain_openai", reason="the ai extra is not installed")

    def test_extract(llm_server):
        llm_server.script(Json({"status": "Delivered"}))
        settings = llm_settings(llm_server)   # the `llm:` config block
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ai.llm_server import ScriptedLLM


@pytest.fixture(scope="session")
def llm_server_session() -> Iterator[ScriptedLLM]:
    server = ScriptedLLM().start()
    yield server
    server.stop()


@pytest.fixture
def llm_server(llm_server_session: ScriptedLLM) -> Iterator[ScriptedLLM]:
    """The session's scripted server, with no queued answers and no recorded requests."""
    llm_server_session.reset()
    yield llm_server_session
    llm_server_session.reset()
