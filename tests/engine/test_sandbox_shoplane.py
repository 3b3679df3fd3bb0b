"""The engine against the real sandbox (ShopLane): layout v2, 5xx faults, latency, expiry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent import RunResult
from agent.core.settings import BrowserSettings, EvidenceSettings, Settings, SiteSettings
from agent.core.states import RunState
from agent.recipes.model import load_recipe
from tests.conftest import TEST_USERS, aijia_for
from tests.engine.conftest import RECIPES, RUNNER

LOOKUP = RECIPES / "shoplane" / "lookup_order.yaml"


@pytest.fixture
def shoplane(sandbox: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    return Settings(
        data_dir=tmp_path / "var",
        browser=BrowserSettings(default_timeout_ms=5_000, navigation_timeout_ms=10_000),
        evidence=EvidenceSettings(capture="on_failure"),
        sites={
            "shoplane": SiteSettings(
                base_url=sandbox.url("shoplane"),
                flavor="shoplane",
                credentials={
                    "username": sandbox.credentials("shoplane").username,
                    "password": {"$env": "SHOPLANE_PASSWORD"},
                },
            )
        },
    )


@pytest.fixture
def sl_store(shoplane: Settings) -> Any:
    from evidence.store import EvidenceStore

    with EvidenceStore.open(shoplane) as store:
        yield store


@pytest.fixture
def sl_aijia(run: Any, chromium: Any, shoplane: Settings, sl_store: Any) -> Iterator[Any]:
    facade = aijia_for(shoplane, sl_store, chromium, users=TEST_USERS)
    yield facade
    run(facade.close())


def lookup(run: Any, aijia: Any, order_id: str) -> RunResult:
    return run(aijia.run(load_recipe(LOOKUP), {"order_id": order_id}, as_user=RUNNER))


def test_lookup_order_matches_the_seed(run, sandbox, sl_aijia):
    order = sandbox.find_orders("shoplane", "partially_refunded", limit=1)[0]
    result = lookup(run, sl_aijia, order.order_id)
    assert result.state is RunState.DONE, result.error
    assert result.outputs["total"]["amount"] == float(order.total)
    assert result.outputs["refundable"]["amount"] == float(order.refundable)
    assert result.outputs["items"] and all(i["qty"] >= 1 for i in result.outputs["items"])


def test_layout_v2_latency_and_5xx_faults(run, sandbox, sl_aijia):
    sandbox.set_faults("shoplane", layout="v2", error_rate=0.2, latency=50)
    orders = sandbox.find_orders("shoplane", "delivered", limit=2)
    for order in orders:
        result = lookup(run, sl_aijia, order.order_id)
        assert result.state is RunState.DONE, result.error
        assert result.outputs["total"]["amount"] == float(order.total)


def test_session_expiry_mid_run_logs_in_again_once(run, sandbox, sl_aijia, sl_store):
    orders = sandbox.find_orders("shoplane", "delivered", limit=2)
    first = lookup(run, sl_aijia, orders[0].order_id)
    assert first.state is RunState.DONE, first.error
    sandbox.expire_sessions("shoplane")
    second = lookup(run, sl_aijia, orders[1].order_id)
    assert second.state is RunState.DONE, second.error
    kinds = [e.kind for e in sl_store.events(second.run_id)]
    assert kinds.count("session_login") == 1
    assert "session_expired" in kinds


def test_small_batch_on_two_contexts(run, sandbox, sl_aijia):
    orders = sandbox.find_orders("shoplane", None, limit=4)
    rows = [{"order_id": o.order_id} for o in orders]
    results = run(sl_aijia.run_batch(load_recipe(LOOKUP), rows, as_user=RUNNER, concurrency=2))
    assert [r.state for r in results] == [RunState.DONE] * 4, [r.error for r in results]
