"""Source recipes against the sandbox: the lists a schedule fans out over."""

from __future__ import annotations

from typing import Any

from agent.core.states import RunState
from tests.recipes.conftest import Runner


def test_list_return_requests_lists_every_order_on_the_return_refund_tab(
    sandbox: Any, run: Any, chromium: Any, product: Any, store: Any
) -> None:
    shoplane = Runner("shoplane", run, chromium, product, store)
    result = shoplane("list_return_requests")
    assert result.state is RunState.DONE, result.error
    expected = {o.order_id for o in sandbox.find_orders("shoplane", "return_requested")}
    listed = [row["order_id"] for row in result.outputs["orders"]]
    assert len(listed) == len(set(listed))
    assert set(listed) == expected and expected


def test_list_orders_needing_attention_finds_the_delayed_and_lost_storefront_orders(
    sandbox: Any, run: Any, chromium: Any, product: Any, store: Any
) -> None:
    storefront = Runner("storefront", run, chromium, product, store)
    result = storefront("list_orders_needing_attention", max_orders=10)
    assert result.state is RunState.DONE, result.error
    in_transit = [o for o in sandbox.find_orders("storefront") if o.status == "shipping"]
    assert result.outputs["in_transit"] == len(in_transit) and result.outputs["checked"] == 10
    first = in_transit[
        -10:
    ]  # the tab lists newest first, as find_orders does; checked oldest first
    expected = {o.order_id for o in first if {"delayed", "lost"} & set(o.cases)}
    listed = {row["order_id"] for row in result.outputs["orders"]}
    assert listed == expected and expected


def test_list_open_refund_requests_lists_every_markethub_order_with_an_open_request(
    sandbox: Any, run: Any, chromium: Any, product: Any, store: Any
) -> None:
    markethub = Runner("markethub", run, chromium, product, store)
    result = markethub("list_open_refund_requests")
    assert result.state is RunState.DONE, result.error
    expected = {o.order_id for o in sandbox.find_orders("markethub", "return_requested")}
    listed = [row["order_id"] for row in result.outputs["orders"]]
    assert len(listed) == len(set(listed))
    assert set(listed) == expected and expected
