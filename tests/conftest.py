"""Shared fixtures: the browser pytest-playwright launches, and (below) the sandbox server."""

from __future__ import annotations

from typing import Any

import pytest

from agent.browser import launch_options
from agent.config import BrowserSettings


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
