"""Security fixtures: a hostile site of this package's own (`hostile_site`, reset after each
test), settings pointing a `hostile` site at it with every kind of evidence on, in a data dir
that other local users could reach if its own permissions let them (`exposed_data_dir`), and
the facade over them. (`loop`, `chromium` and `run` come from tests/conftest.py.)"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from agent.core.settings import BrowserSettings, EvidenceSettings, Settings, SiteSettings
from tests.conftest import TEST_USERS, aijia_for
from tests.security.hostile_site import USER, HostileSite

if TYPE_CHECKING:
    from agent import AsyncAijia

RECIPES = Path(__file__).parent / "recipes"
# Quotes, an ampersand, a less-than sign, latin-1 and windows-1252 letters, a space.
CANARY = "pa\"ss'w&rd<é€ 42"


@pytest.fixture(scope="session")
def hostile_site_server() -> Iterator[HostileSite]:
    site = HostileSite().start()
    yield site
    site.stop()


@pytest.fixture
def hostile_site(hostile_site_server: HostileSite) -> Iterator[HostileSite]:
    yield hostile_site_server
    hostile_site_server.reset()


@pytest.fixture
def exposed_data_dir() -> Iterator[Path]:
    """A data dir inside a world-readable folder: pytest's own tmp_path sits in a private
    (0700) folder, which would hide the data dir from other users whatever its own mode."""
    parent = Path(tempfile.mkdtemp(prefix="aijia-security-"))
    os.chmod(parent, 0o755)
    yield parent / "var"
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def hostile_settings(
    exposed_data_dir: Path, hostile_site: HostileSite, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("AIJIA_CANARY_PASSWORD", CANARY)
    monkeypatch.setenv("AIJIA_RECIPES", str(RECIPES))
    return Settings(
        data_dir=exposed_data_dir,
        browser=BrowserSettings(default_timeout_ms=5_000, navigation_timeout_ms=8_000),
        evidence=EvidenceSettings(capture="every_page", mhtml=True, trace=True, full_page=True),
        sites={
            "hostile": SiteSettings(
                base_url=hostile_site.url,
                title="Hostile back office",
                flavor="hostile",
                credentials={"username": USER, "password": {"$env": "AIJIA_CANARY_PASSWORD"}},
            )
        },
    )


@pytest.fixture
def hostile_store(hostile_settings: Settings) -> Iterator[Any]:
    from evidence.store import EvidenceStore

    with EvidenceStore.open(hostile_settings) as opened:
        yield opened


@pytest.fixture
def hostile_aijia(
    hostile_settings: Settings, hostile_store: Any, chromium: Any, run: Any
) -> Iterator[AsyncAijia]:
    facade = aijia_for(hostile_settings, hostile_store, chromium, users=TEST_USERS)
    yield facade
    run(facade.close())
