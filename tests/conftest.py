"""Shared fixtures: the browser pytest-playwright launches, and (below) the sandbox server."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from agent.browser import launch_options
from agent.config import BrowserSettings

T = TypeVar("T")


@pytest.fixture(scope="session")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for the async runner across the session (Chromium lives in it)."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def chromium(loop: asyncio.AbstractEventLoop) -> Iterator[Any]:
    """One async-Playwright Chromium for the session; each run opens its own context."""
    from playwright.async_api import async_playwright

    from agent.browser import launch

    pw = loop.run_until_complete(async_playwright().start())
    browser = loop.run_until_complete(launch(pw, BrowserSettings()))
    yield browser
    loop.run_until_complete(browser.close())
    loop.run_until_complete(pw.stop())


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Any:
    """`run(coroutine)` -> its result, on the session's loop."""

    def runner(coro: Coroutine[Any, Any, T]) -> T:
        return loop.run_until_complete(coro)

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
