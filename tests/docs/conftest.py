"""Fixtures for the docs tests: settings for the fourth mini site (Kedai) on the real
sandbox, a real evidence store, and the facade over them and the session's Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.core.settings import BrowserSettings, EvidenceSettings, Settings, SiteSettings
from tests.conftest import TEST_USERS, aijia_for

REPO = Path(__file__).resolve().parents[2]
RUNNER = "tester"

# Settings for the Kedai site; `cdn=False` leaves the sandbox CDN out of allowed_origins.
KedaiSettings = Callable[..., Settings]


@pytest.fixture
def kedai_settings(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KedaiSettings:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)

    def make(*, cdn: bool = True) -> Settings:
        return Settings(
            data_dir=tmp_path / ("var" if cdn else "var-no-cdn"),
            browser=BrowserSettings(default_timeout_ms=5_000, navigation_timeout_ms=10_000),
            evidence=EvidenceSettings(capture="on_failure"),
            sites={
                "kedai": SiteSettings(
                    base_url=sandbox.url("kedai"),
                    flavor="kedai",
                    allowed_origins=[sandbox.cdn_url] if cdn else [],
                    credentials={
                        "username": sandbox.credentials("kedai").username,
                        "password": {"$env": "KEDAI_PASSWORD"},
                    },
                )
            },
        )

    return make


@pytest.fixture
def kedai_aijia(
    run: Any, chromium: Any, kedai_settings: KedaiSettings
) -> Iterator[Callable[..., Any]]:
    """`kedai_aijia(cdn=True)` -> the facade for Kedai (closed after the test)."""
    from evidence.store import EvidenceStore

    opened: list[Any] = []

    def make(*, cdn: bool = True) -> Any:
        settings = kedai_settings(cdn=cdn)
        store = EvidenceStore.open(settings)
        facade = aijia_for(settings, store, chromium, users=TEST_USERS)
        opened.append((facade, store))
        return facade

    yield make
    for facade, store in opened:
        run(facade.close())
        store.close()
