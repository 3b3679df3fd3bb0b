"""Fixtures for the shipped recipes (recipes/<flavor>/) against the real sandbox.

`product` gives settings loaded from the shipped config.yaml with every site pointed at the
sandbox, the sandbox's demo passwords in the environment (as `aijia demo` does), and a fresh
data dir; `store` is a real evidence store in it. `run` and `chromium` come from tests/conftest.py:
one event loop and one Chromium for the whole session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.core.settings import PROJECT_ROOT, Settings, load_config
from agent.engine.prepare import RunResult, run_recipe
from agent.recipes.model import Recipe, find_recipe, load_recipe

RECIPES = PROJECT_ROOT / "recipes"
HOSTILE = {"layout": "v2", "latency": 80, "error_rate": 0.2}


@pytest.fixture
def product(sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIJIA_RECIPES", str(RECIPES))
    settings = load_config(PROJECT_ROOT / "config.yaml")
    settings.data_dir = tmp_path / "var"
    settings.browser.default_timeout_ms = 6_000
    settings.browser.navigation_timeout_ms = 10_000
    for name, url in sandbox.base_urls.items():
        settings.sites[name].base_url = url.rstrip("/")
    return settings


@pytest.fixture(params=["normal", "hostile"])
def conditions(request: pytest.FixtureRequest, sandbox: Any) -> str:
    """The test runs on the plain site, then on layout v2 with latency and 20% HTTP 500s
    (on the test module's FLAVOR)."""
    if request.param == "hostile":
        sandbox.set_faults(request.module.FLAVOR, **HOSTILE)
    return str(request.param)


@pytest.fixture
def store(product: Settings) -> Iterator[Any]:
    from evidence.store import EvidenceStore

    with EvidenceStore.open(product) as opened:
        yield opened


def recipe(flavor: str, name: str) -> Recipe:
    return load_recipe(find_recipe(name, flavor, root=RECIPES))


class Runner:
    """Runs shipped recipes of one flavor in the session's Chromium."""

    def __init__(self, flavor: str, run: Any, chromium: Any, product: Settings, store: Any):
        self.flavor, self._run, self._chromium = flavor, run, chromium
        self.settings, self.store = product, store

    def __call__(self, name: str, **inputs: Any) -> RunResult:
        return self._run(  # type: ignore[no-any-return]
            run_recipe(
                recipe(self.flavor, name),
                inputs,
                settings=self.settings,
                store=self.store,
                browser=self._chromium,
            )
        )

    def event_kinds(self, result: RunResult) -> list[str]:
        assert result.run_id is not None
        return [e.kind for e in self.store.events(result.run_id)]
