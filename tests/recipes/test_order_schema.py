"""One order shape on every site: the shipped lookup_order, capture_order_evidence and
prepare_refund recipes, run for real (Chromium, the sandbox over HTTP), hand out documents the
order schema (agent/recipes/order_schema.py, docs/order-schema.md) accepts, and the common keys
mean the same thing on all three sites."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from agent.core.states import RunState
from agent.recipes.order_schema import ORDER, REFUND, validate
from tests.recipes.conftest import Runner

SITES = ["shoplane", "markethub", "storefront"]


@pytest.fixture(params=SITES)
def site(request: pytest.FixtureRequest, run: Any, chromium: Any, product: Any, store: Any):
    return Runner(request.param, run, chromium, product, store)


def test_lookup_and_capture_give_one_order_shape(site: Runner, sandbox: Any):
    order = sandbox.find_orders(site.flavor, "partially_refunded", limit=1)[0]
    truth = sandbox.order(site.flavor, order.order_id)
    looked = site("lookup_order", order_id=order.order_id)
    captured = site("capture_order_evidence", order_id=order.order_id)
    for result in (looked, captured):
        assert result.state is RunState.DONE, result.error
        validate(result.outputs)
        out = result.outputs
        assert out["schema"] == ORDER and out["site"] == site.flavor
        assert out["order_id"].lstrip("#") == order.order_id.lstrip("#")
        assert out["totals"]["total"] == {"amount": order.total, "currency": order.currency}
        assert Decimal(out["totals"]["refunded"]["amount"]) == Decimal(truth["refunded"]) > 0
        # a partly refunded order is still in its lifecycle status, not "refunded"
        assert out["status"] in ("paid", "shipped", "delivered"), out["status_raw"]
    out = looked.outputs
    assert out["buyer"]["name"] and out["items"] and out["refunds"]
    assert all(isinstance(i["price"]["amount"], str) for i in out["items"])
    assert Decimal(out["totals"]["refundable"]["amount"]) == Decimal(order.refundable)


@pytest.mark.parametrize(
    ("case", "status"),
    [("cancelled", "cancelled"), ("delivered", "delivered"), ("fully_refunded", "refunded")],
)
def test_the_status_is_normalised_with_the_sites_word_beside_it(
    site: Runner, sandbox: Any, case: str, status: str
):
    order = next(
        o for o in sandbox.find_orders(site.flavor, case) if "partially_refunded" not in o.cases
    )
    result = site("capture_order_evidence", order_id=order.order_id)
    assert result.state is RunState.DONE, result.error
    validate(result.outputs)
    assert result.outputs["status"] == status
    raw = result.outputs["status_raw"]
    assert raw and raw != status  # the site's words: "Completed", "Canceled", "Paid / Delivered"


def test_an_issued_refund_gives_a_refund_document(site: Runner, sandbox: Any):
    order = next(
        o
        for o in sandbox.find_orders(site.flavor, "delivered")
        if Decimal(o.refundable) >= 2 and "partially_refunded" not in o.cases
    )
    paused = site("prepare_refund", order_id=order.order_id, amount="1.25", reason="damaged")
    assert paused.state is RunState.PAUSED, paused.error
    assert paused.gate is not None and paused.gate.binds["amount"] == "1.25"
    assert site.approve(paused).complete
    done = site.resume(paused)
    assert done.state is RunState.DONE, done.error
    validate(done.outputs)
    [refund] = sandbox.ledger(site.flavor)["refunds"]
    assert done.outputs["schema"] == REFUND and done.outputs["refund_id"] == refund["refund_id"]
    assert done.outputs["amount"] == {"amount": "1.25", "currency": order.currency}
    assert done.outputs["reason"] == "damaged" and refund["amount"] == "1.25"


def test_validate_says_which_key_is_wrong():
    with pytest.raises(ValueError, match=r"expected 'aijia\.order/1'"):
        validate({"order_id": "1"})
    bad = {
        "schema": ORDER,
        "site": "x",
        "order_id": "1",
        "status": "Shipped",
        "status_raw": "Shipped",
        "totals": {"total": {"amount": 12.5, "currency": "USD"}},
    }
    with pytest.raises(ValueError) as caught:
        validate(bad)
    assert "status: 'Shipped' is not one of" in str(caught.value)
    assert "totals/total/amount: 12.5 is not of type 'string'" in str(caught.value)
