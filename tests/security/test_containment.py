"""The escape corpus: a hostile site tries every way out; nothing reaches the canary.

Each case runs a real recipe through the public API in real Chromium. For every case: the
canary (a TCP server standing for any foreign host) accepts **0 connections**, each attempt
is recorded as a `network_blocked` event with its kind, and a main-frame navigation off the
site fails the step with a clear error.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import RunState
from agent.core.settings import BrowserSettings, EvidenceSettings, Settings, SiteSettings
from agent.recipes.model import load_recipe
from tests.conftest import TEST_USERS, aijia_for
from tests.security.escape_site import Canary, EscapeSite

RUNNER = "tester"
LEFT = "the page tried to leave the site"

# case -> (kinds that must be recorded, does the main frame try to leave?)
CASES: dict[str, tuple[set[str], bool]] = {
    "redirect_image": ({"image"}, False),
    "subresources": ({"image", "script", "style", "font"}, False),
    "fetch_xhr_beacon": ({"fetch", "beacon"}, False),
    "websocket": ({"websocket"}, False),
    "shared_worker": (set(), False),  # SharedWorker is disabled in Aijia's Chromium
    "dedicated_worker": ({"fetch", "script"}, False),
    "service_worker": (set(), False),
    "popup": ({"navigation"}, False),
    "iframe": ({"frame"}, False),
    "resource_hints": ({"prefetch", "script"}, False),
    "ip_encodings": ({"image"}, False),
    "userinfo": ({"navigation"}, False),
    "host_spelling": ({"image"}, False),
    "schemes": ({"image"}, False),
    "other_scheme_and_port": ({"tunnel", "image"}, False),
    "meta_refresh": ({"navigation"}, True),
    "form_action": ({"navigation"}, True),
}


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


@pytest.fixture
def settings(tmp_path: Path, escape_site: EscapeSite) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        browser=BrowserSettings(default_timeout_ms=4_000, navigation_timeout_ms=5_000),
        evidence=EvidenceSettings(capture="off"),
        sites={"hostile": SiteSettings(base_url=escape_site.url, title="Hostile")},
    )


@pytest.fixture
def aijia(settings: Settings, chromium: Any, run: Any) -> Iterator[Any]:
    from evidence.store import EvidenceStore

    with EvidenceStore.open(settings) as store:
        facade = aijia_for(settings, store, chromium, users=TEST_USERS)
        yield facade
        run(facade.close())


def go(run: Any, aijia: Any, tmp_path: Path, steps: str) -> tuple[Any, dict[str, list[Any]]]:
    path = tmp_path / "hostile" / "escape.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("name: escape\nsite: hostile\nsteps:\n" + textwrap.dedent(steps))
    result = run(aijia.run(load_recipe(path), {}, as_user=RUNNER))
    found: dict[str, list[Any]] = {}
    for event in aijia.store.events(result.run_id):
        found.setdefault(event.kind, []).append(dict(event.data))
    return result, found


@pytest.mark.parametrize("case", sorted(CASES))
def test_escape_case_is_blocked_and_recorded(case, run, aijia, tmp_path, canary) -> None:
    kinds, leaves = CASES[case]
    before = len(canary.hits)
    result, events = go(
        run,
        aijia,
        tmp_path,
        f"""\
          - goto: /case/{case}
          - expect: {{text: Settled}}
        """,
    )
    assert canary.hits[before:] == []
    recorded = {e["kind"] for e in events.get("network_blocked", [])}
    assert kinds <= recorded, (case, events.get("network_blocked"))
    if leaves:
        assert result.state is RunState.FAILED
        assert LEFT in (result.error or "")
        assert any(e["frame"] == "main" for e in events["navigation_blocked"])
    else:
        assert result.state is RunState.DONE, result.error


def test_redirect_off_site_fails_the_goto(run, aijia, tmp_path, canary) -> None:
    before = len(canary.hits)
    result, events = go(run, aijia, tmp_path, f"  - goto: /r302?to={canary.url}/page\n")
    assert canary.hits[before:] == []
    assert result.state is RunState.FAILED
    assert f"{LEFT}: GET {canary.url}/page (redirected from " in result.error
    [nav] = events["navigation_blocked"]
    assert nav["redirected_from"].endswith(f"/r302?to={canary.url}/page")
    assert "step_retried" not in events  # refused, never retried as a flaky site


def test_form_post_redirected_off_site_sends_nothing(run, aijia, tmp_path, canary) -> None:
    before = len(canary.hits)
    result, events = go(
        run,
        aijia,
        tmp_path,
        """\
          - goto: /case/redirect_post
          - click: {role: button, name: Sign in}
            safe: true
        """,
    )
    assert canary.hits[before:] == []
    assert result.state is RunState.FAILED and LEFT in result.error
    assert {"kind": "navigation", "method": "POST", "target": f"{canary.url}/login"} in events[
        "network_blocked"
    ]


def test_url_taken_from_page_text_is_refused_before_the_browser(
    run, aijia, tmp_path, canary
) -> None:
    before = len(canary.hits)
    result, events = go(
        run,
        aijia,
        tmp_path,
        """\
          - goto: /case/url_in_page_text
          - extract: {next: {css: "#next"}}
          - goto: "{{ next }}"
        """,
    )
    assert canary.hits[before:] == []
    assert result.state is RunState.FAILED
    assert f"refused to open {canary.url}/next" in result.error
    assert "is not one of the site's origins" in result.error
    assert events["navigation_blocked"][-1]["url"] == f"{canary.url}/next"


def test_allowed_extra_origin_loads(run, aijia, tmp_path, canary, settings) -> None:
    """An origin listed in allowed_origins (a CDN) is reached; the canary proves it."""
    settings.sites["hostile"].allowed_origins = [canary.url]
    before = len(canary.hits)
    result, _ = go(run, aijia, tmp_path, "  - goto: /case/redirect_image\n")
    assert result.state is RunState.DONE, result.error
    assert len(canary.hits) > before
    assert canary.hits[before].startswith(b"GET /img.png")
