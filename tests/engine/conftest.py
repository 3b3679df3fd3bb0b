"""Engine fixtures: a local back office over HTTP, a real evidence store, settings pointing
at both, and `aijia`: the facade over them and the session's Chromium, with the test policy
(`tester` runs, `reviewer` approves). (`loop`, `chromium` and `run` come from
tests/conftest.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agent.core.settings import BrowserSettings, EvidenceSettings, Settings, SiteSettings
from tests.conftest import TEST_USERS, aijia_for
from tests.engine.site import PASSWORD, USER, LocalSite

if TYPE_CHECKING:
    from agent import AsyncAijia

RECIPES = Path(__file__).parent / "recipes"
RUNNER = "tester"  # the policy user the engine tests start runs as


@pytest.fixture(scope="session")
def local_site_server() -> Iterator[LocalSite]:
    site = LocalSite().start()
    yield site
    site.stop()


@pytest.fixture
def local_site(local_site_server: LocalSite) -> Iterator[LocalSite]:
    yield local_site_server
    local_site_server.reset()


@pytest.fixture
def settings(tmp_path: Path, local_site: LocalSite, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("AIJIA_TEST_PASSWORD", PASSWORD)
    monkeypatch.setenv("AIJIA_RECIPES", str(RECIPES))
    return Settings(
        data_dir=tmp_path / "var",
        browser=BrowserSettings(default_timeout_ms=3_000, navigation_timeout_ms=5_000),
        evidence=EvidenceSettings(capture="on_failure"),
        sites={
            "local": SiteSettings(
                base_url=local_site.url,
                title="Local back office",
                flavor="local",
                credentials={"username": USER, "password": {"$env": "AIJIA_TEST_PASSWORD"}},
            )
        },
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Any]:
    from evidence.store import EvidenceStore

    with EvidenceStore.open(settings) as opened:
        yield opened


@pytest.fixture
def aijia(settings: Settings, store: Any, chromium: Any, run: Any) -> Iterator[AsyncAijia]:
    facade = aijia_for(settings, store, chromium, users=TEST_USERS)
    yield facade
    run(facade.close())
