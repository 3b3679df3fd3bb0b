"""Shared fixtures: one event loop and one Chromium for the session, the facade over them
(`aijia_for`), the installed `aijia` command, the sandbox server, and the two test tiers.

Tiers: every test that needs Chromium or the sandbox is marked `browser` (automatically, from
the fixtures it uses, below in `pytest_collection_modifyitems`; by hand where a test starts
browsers in a subprocess). `make unit` runs `pytest -m "not browser"`; `make test` runs all.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from agent.browser.launch import launch_options
from agent.core.settings import BrowserSettings, PolicySettings, RolePolicy, Settings

if TYPE_CHECKING:
    from agent import AsyncAijia

T = TypeVar("T")

# Fixtures that start Chromium or the sandbox: a test using any of them (directly or through
# another fixture) is in the `browser` tier. pytest-playwright's own are included.
BROWSER_FIXTURES = frozenset(
    {"chromium", "sandbox", "sandbox_server", "page", "context", "browser", "browser_type"}
)


def pytest_configure(config: pytest.Config) -> None:
    """Keep the suite out of the user's own config: the evidence signing key (default
    $XDG_CONFIG_HOME/aijia/signing.key) and anything else read from there lives in a
    directory made for this session, for this process and every `aijia` it starts."""
    if not os.environ.get("AIJIA_TEST_KEEP_XDG"):
        home = Path(tempfile.mkdtemp(prefix="aijia-test-config-"))
        os.environ["XDG_CONFIG_HOME"] = str(home)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)


# --------------------------------------------------------------------------- the CLI


def aijia_command() -> str:
    """The installed `aijia` console script: the one next to this Python (a venv's bin/),
    else the first on PATH."""
    found = shutil.which("aijia", path=str(Path(sys.executable).parent)) or shutil.which("aijia")
    if found is None:
        pytest.fail("the `aijia` command is not installed: pip install -e '.[dev]'")
    return found


# --------------------------------------------------------------------------- the facade

# Roles for tests whose settings come without a policy (the engine's local back office).
TEST_ROLES = {
    "runner": RolePolicy(run=["*"]),
    "reviewer": RolePolicy(approve=["*"]),
    "supervisor": RolePolicy(run=["*"], approve=["*"]),
}
# user -> roles; `tester` starts runs, `reviewer` approves them (never their own).
TEST_USERS = {"tester": ["runner"], "reviewer": ["reviewer"], "supervisor": ["supervisor"]}


def add_policy_users(settings: Settings, users: Mapping[str, Sequence[str]]) -> None:
    """List `users` (user -> roles) in the settings' policy, declaring the TEST_ROLES they
    name that it lacks; validated as config.yaml would be."""
    raw = settings.policy.model_dump()
    for roles in users.values():
        for role in roles:
            if role not in raw["roles"] and role in TEST_ROLES:
                raw["roles"][role] = TEST_ROLES[role].model_dump()
    if raw["roles"] and raw["supervisor_role"] not in raw["roles"]:
        raw["roles"][raw["supervisor_role"]] = TEST_ROLES["supervisor"].model_dump()
    raw["users"] = {**raw["users"], **{u: list(r) for u, r in users.items()}}
    settings.policy = PolicySettings.model_validate(raw)


def aijia_for(
    settings: Settings,
    store: Any,
    chromium: Any,
    *,
    users: Mapping[str, Sequence[str]] | None = None,
) -> AsyncAijia:
    """The facade over a test's settings and store and the session's Chromium (its coroutines
    run on the session loop: `run(aijia.run(...))`). `users` are added to the policy first;
    the facade reads the policy when built, so later edits of settings.policy's rules (limits,
    users) still apply, but a replaced `settings.policy` does not."""
    from agent import AsyncAijia

    if users:
        add_policy_users(settings, users)
    return AsyncAijia(settings, store=store, browser=chromium)


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
