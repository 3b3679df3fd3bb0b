"""Fixtures for the shipped recipes (recipes/<flavor>/) against the real sandbox.

`product` gives settings loaded from the shipped config.yaml with every site pointed at the
sandbox, the sandbox's demo passwords in the environment (as `aijia demo` does), and a fresh
data dir; `store` is a real evidence store in it. `run` and `chromium` come from tests/conftest.py:
one event loop and one Chromium for the whole session. `Runner` runs recipes through the facade
as the shipped policy's `lead`, and approves and resumes them as the users it names.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent import Decision, Reconciled, RunResult
from agent.core.settings import PROJECT_ROOT, Settings, load_config
from agent.recipes.model import Recipe, find_recipe, load_recipe
from tests.conftest import aijia_for

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
    """Runs shipped recipes of one flavor through the facade, in the session's Chromium."""

    def __init__(self, flavor: str, run: Any, chromium: Any, product: Settings, store: Any):
        self.flavor, self._run = flavor, run
        self.settings, self.store = product, store
        self.aijia = aijia_for(product, store, chromium)

    def __call__(self, name: str, *, as_user: str = "lead", **inputs: Any) -> RunResult:
        return self._run(self.aijia.run(recipe(self.flavor, name), inputs, as_user=as_user))

    def approve(self, result: RunResult) -> Decision:
        """Approve the gate `result` stopped at, by as many of the users policy lists as it
        takes (one, or two distinct people above the limit)."""
        assert result.gate is not None and result.gate.gate_id is not None, result.error
        view = self._run(self.aijia.gate(result.gate.gate_id))
        decision: Decision | None = None
        for user in view.approvers:
            decision = self._run(self.aijia.approve(result.gate.gate_id, as_user=user))
            if decision.complete:
                return decision
        raise AssertionError(f"nobody policy lists could approve gate {result.gate.gate_id}")

    def resume(self, result: RunResult, as_user: str = "reviewer") -> RunResult:
        assert result.run_id is not None
        return self._run(self.aijia.resume(result.run_id, as_user=as_user))

    def reconcile(self, result: RunResult, as_user: str = "supervisor") -> Reconciled:
        assert result.run_id is not None
        return self._run(self.aijia.reconcile(result.run_id, as_user=as_user))

    def event_kinds(self, result: RunResult) -> list[str]:
        assert result.run_id is not None
        return [e.kind for e in self.store.events(result.run_id)]
