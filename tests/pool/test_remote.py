"""Runs on a remote browser (`browser.remote.ws_endpoint`, a `playwright launch-server`):
the worker launches no Chromium of its own, containment holds there (off-site requests never
reach the canary), and an endpoint that does not answer is a BrowserError with a hint."""

from __future__ import annotations

import socket
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import AsyncAijia, RunState
from agent.browser.launch import launch
from agent.core.errors import BrowserError
from agent.core.settings import (
    BrowserSettings,
    EvidenceSettings,
    RemoteBrowserSettings,
    Settings,
    SiteSettings,
)
from agent.doctor import run_checks
from agent.recipes.model import load_recipe
from tests.conftest import TEST_USERS, add_policy_users
from tests.security.escape_site import Canary, EscapeSite
from tests.servers.playwright_server import PlaywrightServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    found = Canary()
    yield found
    found.close()


@pytest.fixture(scope="module")
def escape_site(canary: Canary) -> Iterator[EscapeSite]:
    site = EscapeSite(canary)
    yield site
    site.close()


def dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}/secret-path"


@pytest.fixture
def remote_aijia(
    tmp_path: Path,
    escape_site: EscapeSite,
    browser_server: PlaywrightServer,
    run: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[AsyncAijia]:
    # a local launch would fail: any run that works ran on the remote browser
    monkeypatch.setenv("AIJIA_BROWSER", str(tmp_path / "no-chromium-here"))
    settings = Settings(
        data_dir=tmp_path / "var",
        browser=BrowserSettings(
            default_timeout_ms=4_000,
            navigation_timeout_ms=5_000,
            remote=RemoteBrowserSettings(ws_endpoint=browser_server.ws_endpoint),
        ),
        evidence=EvidenceSettings(capture="off"),
        sites={"hostile": SiteSettings(base_url=escape_site.url, title="Hostile")},
    )
    add_policy_users(settings, TEST_USERS)
    facade = AsyncAijia(settings)  # opens its own store and browser (the remote one)
    yield facade
    run(facade.close())


@pytest.mark.parametrize(
    ("case", "kinds", "leaves"),
    [
        ("redirect_image", {"image"}, False),
        ("fetch_xhr_beacon", {"fetch", "beacon"}, False),
        ("websocket", {"websocket"}, False),
        ("form_action", {"navigation"}, True),
    ],
)
def test_containment_holds_on_the_remote_browser(
    case: str,
    kinds: set[str],
    leaves: bool,
    run: Any,
    remote_aijia: AsyncAijia,
    tmp_path: Path,
    canary: Canary,
) -> None:
    path = tmp_path / "hostile" / "escape.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        "name: escape\nsite: hostile\nsteps:\n"
        + textwrap.indent(f"- goto: /case/{case}\n- expect: {{text: Settled}}\n", "  ")
    )
    before = len(canary.hits)
    result = run(remote_aijia.run(load_recipe(path), {}, as_user="tester"))
    assert canary.hits[before:] == []
    events = list(remote_aijia.store.events(result.run_id))
    recorded = {e.data["kind"] for e in events if e.kind == "network_blocked"}
    assert kinds <= recorded, (case, recorded, result.error)
    if leaves:
        assert result.state is RunState.FAILED
        assert "the page tried to leave the site" in (result.error or "")
    else:
        assert result.state is RunState.DONE, result.error


def test_an_endpoint_that_does_not_answer_is_a_browser_error(run: Any) -> None:
    from playwright.async_api import async_playwright

    endpoint = dead_endpoint()
    settings = BrowserSettings(remote=RemoteBrowserSettings(ws_endpoint=endpoint, timeout_ms=3_000))

    async def attempt() -> BrowserError:
        async with async_playwright() as pw:
            with pytest.raises(BrowserError) as caught:
                await launch(pw, settings)
            return caught.value

    error = run(attempt())
    assert error.exit_code == 4
    assert "browser.remote.ws_endpoint" in error.message
    assert "did not answer" in error.message
    assert "secret-path" not in error.message  # the path is the server's secret
    assert error.hint and "launch-server" in error.hint


def test_doctor_says_whether_the_remote_browser_answers(
    tmp_path: Path, browser_server: PlaywrightServer
) -> None:
    config = tmp_path / "config.yaml"
    for endpoint, ok in ((browser_server.ws_endpoint, True), (dead_endpoint(), False)):
        config.write_text(
            f"data_dir: {tmp_path / 'var'}\n"
            f"browser:\n  remote: {{ws_endpoint: '{endpoint}', timeout_ms: 3000}}\n"
        )
        checks = {c.name: c for c in run_checks(config)}
        check = checks["remote browser"]
        assert check.ok is ok, check
        if ok:
            assert "answers: chromium" in check.detail
        else:
            assert "did not answer" in check.detail and check.fix
