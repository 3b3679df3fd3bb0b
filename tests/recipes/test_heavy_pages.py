"""The shipped lookup on heavy pages (tens of assets, one script on a CDN origin): the CDN
listed in `allowed_origins` loads; not listed, it is blocked and recorded, and the lookup
still reads the order (a blocked asset is not a failed step)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from agent import RunState
from tests.recipes.conftest import Runner

FLAVOR = "shoplane"


@pytest.fixture
def heavy(sandbox: Any) -> Iterator[Any]:
    sandbox.set_faults(FLAVOR, heavy=True)
    yield sandbox
    sandbox.set_faults(FLAVOR, heavy=False)


def blocked(runner: Runner, run_id: str) -> list[dict[str, Any]]:
    return [dict(e.data) for e in runner.store.events(run_id) if e.kind == "network_blocked"]


def test_lookup_on_heavy_pages_with_the_cdn_allowed(run, chromium, product, store, heavy):
    product.sites[FLAVOR].allowed_origins = [heavy.cdn_url]
    runner = Runner(FLAVOR, run, chromium, product, store)
    order_id = heavy.find_orders(FLAVOR, None)[0].order_id
    result = runner("lookup_order", order_id=order_id)
    assert result.state is RunState.DONE, result.error
    assert result.outputs["order_id"] == order_id
    assert blocked(runner, result.run_id) == []


def test_cdn_not_allowed_is_blocked_and_recorded(run, chromium, product, store, heavy):
    runner = Runner(FLAVOR, run, chromium, product, store)
    order_id = heavy.find_orders(FLAVOR, None)[0].order_id
    result = runner("lookup_order", order_id=order_id)
    assert result.state is RunState.DONE, result.error
    script = {"kind": "script", "method": "GET", "target": f"{heavy.cdn_url}/lib/vendor.bundle.js"}
    assert script in blocked(runner, result.run_id)
