"""The engine against the real sandbox (ShopLane): layout v2, 5xx faults, latency, expiry."""

from __future__ import annotations

from typing import Any

import pytest

from agent.core.settings import BrowserSettings, EvidenceSettings, Settings, SiteSettings
from agent.core.states import RunState
from agent.engine.prepare import run_batch, run_recipe
from agent.recipes.model import load_recipe
from tests.engine.conftest import RECIPES

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


def test_lookup_order_matches_the_seed(run, chromium, sandbox, shoplane, sl_store):
    order = sandbox.find_orders("shoplane", "partially_refunded", limit=1)[0]
    result = run(
        run_recipe(
            load_recipe(LOOKUP),
            {"order_id": order.order_id},
            settings=shoplane,
            store=sl_store,
            browser=chromium,
        )
    )
    assert result.state is RunState.DONE, result.error
    assert result.outputs["total"]["amount"] == float(order.total)
    assert result.outputs["refundable"]["amount"] == float(order.refundable)
    assert result.outputs["items"] and all(i["qty"] >= 1 for i in result.outputs["items"])


def test_layout_v2_latency_and_5xx_faults(run, chromium, sandbox, shoplane, sl_store):
    sandbox.set_faults("shoplane", layout="v2", error_rate=0.2, latency=50)
    orders = sandbox.find_orders("shoplane", "delivered", limit=2)
    recipe = load_recipe(LOOKUP)
    for order in orders:
        result = run(
            run_recipe(
                recipe,
                {"order_id": order.order_id},
                settings=shoplane,
                store=sl_store,
                browser=chromium,
            )
        )
        assert result.state is RunState.DONE, result.error
        assert result.outputs["total"]["amount"] == float(order.total)


def test_session_expiry_mid_run_logs_in_again_once(run, chromium, sandbox, shoplane, sl_store):
    orders = sandbox.find_orders("shoplane", "delivered", limit=2)
    recipe = load_recipe(LOOKUP)
    first = run(
        run_recipe(
            recipe,
            {"order_id": orders[0].order_id},
            settings=shoplane,
            store=sl_store,
            browser=chromium,
        )
    )
    assert first.state is RunState.DONE, first.error
    sandbox.expire_sessions("shoplane")
    second = run(
        run_recipe(
            recipe,
            {"order_id": orders[1].order_id},
            settings=shoplane,
            store=sl_store,
            browser=chromium,
        )
    )
    assert second.state is RunState.DONE, second.error
    kinds = [e.kind for e in sl_store.events(second.run_id)]
    assert kinds.count("session_login") == 1
    assert "session_expired" in kinds


def test_small_batch_on_two_contexts(run, chromium, sandbox, shoplane, sl_store):
    orders = sandbox.find_orders("shoplane", None, limit=4)
    rows = [{"order_id": o.order_id} for o in orders]
    results = run(
        run_batch(
            load_recipe(LOOKUP),
            rows,
            settings=shoplane,
            store=sl_store,
            concurrency=2,
            browser=chromium,
        )
    )
    assert [r.state for r in results] == [RunState.DONE] * 4, [r.error for r in results]
