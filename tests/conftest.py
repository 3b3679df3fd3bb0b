"""Shared fixtures: the browser pytest-playwright launches, and (below) the sandbox server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from agent.browser.launch import launch_options
from agent.core.settings import BrowserSettings

T = TypeVar("T")


@pytest.fixture(scope="session")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for the async runner, in its own thread for the whole session.

    pytest-playwright's sync `page` fixture keeps a loop running in the main thread once any
    test used it; a loop of our own there would refuse to run ("another loop is running").
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="aijia-test-loop", daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def _run_in(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run_coroutine_threadsafe(coro, loop).result()


@pytest.fixture(scope="session")
def chromium(loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    """One async-Playwright Chromium for the session; each run opens its own context."""
    from playwright.async_api import async_playwright

    from agent.browser.launch import launch

    pw = _run_in(loop, async_playwright().start())
    browser = _run_in(loop, launch(pw, BrowserSettings()))
    yield browser
    _run_in(loop, browser.close())
    _run_in(loop, pw.stop())


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Any:
    """`run(coroutine)` -> its result, computed on the session's loop thread."""

    def runner(coro: Coroutine[Any, Any, T]) -> T:
        return _run_in(loop, coro)

    return runner


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright launches the same Chromium, with the same flags, as the agent."""
    return {**browser_type_launch_args, **launch_options(BrowserSettings())}


@pytest.fixture(scope="session")
def base_url(pytestconfig: pytest.Config) -> str | None:
    """Replaces pytest-playwright's fallback `base_url`, an instance-method fixture that
    pytest 9 warns about (and warnings are errors here)."""
    return pytestconfig.getoption("--base-url", None) or None


# --------------------------------------------------------------------------- sandbox
# `sandbox_server`: one real sandbox (all three seller centers) per pytest session, in a
# subprocess, on free ports, with its own database. `sandbox`: the same server for one test,
# reset afterwards (data re-seeded, faults cleared) when the test changed anything.
# API: sandbox.url(flavor, path), .base_urls, .credentials(flavor), .find_orders(flavor, case),
# .set_faults(...), .ledger(flavor), .order(...), .mutate_order(...), .reset(), .env().
# See sandbox/testing.py.


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from sandbox.testing import SandboxServer

    server = SandboxServer(tmp_path_factory.mktemp("sandbox"), flavors="all").start()
    yield server
    server.stop()


@pytest.fixture
def sandbox(sandbox_server: Any) -> Any:
    yield sandbox_server
    if sandbox_server.is_dirty():
        sandbox_server.reset()
