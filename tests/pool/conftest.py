"""Pool fixtures: a Playwright browser server (`playwright launch-server`, our Chromium and
flags) for the session, a slow local back office that counts concurrent requests, and the
escape site + canary of tests/security for containment over a remote browser."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pool.slow_site import SlowSite
from tests.servers.playwright_server import PlaywrightServer


@pytest.fixture(scope="session")
def browser_server() -> Iterator[PlaywrightServer]:
    with PlaywrightServer.start() as server:
        yield server


@pytest.fixture(scope="session")
def slow_site_server() -> Iterator[SlowSite]:
    site = SlowSite().start()
    yield site
    site.stop()


@pytest.fixture
def slow_site(slow_site_server: SlowSite) -> Iterator[SlowSite]:
    slow_site_server.reset()
    yield slow_site_server
