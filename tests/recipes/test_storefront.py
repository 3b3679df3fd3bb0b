"""The shipped Storefront recipes, end to end in real Chromium against the sandbox."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from agent.core.states import RunState
from sandbox.seed import SeedOrder, generate_orders
from tests.recipes.conftest import Runner

FLAVOR = "storefront"


@pytest.fixture
def storefront(run: Any, chromium: Any, product: Any, store: Any) -> Runner:
    return Runner(FLAVOR, run, chromium, product, store)


def seeded(sandbox: Any, order_id: str) -> SeedOrder:
    """The order as seeded, with its lines (sku, title, quantity, unit price in minor units)."""
    orders = generate_orders(FLAVOR, sandbox.seed, sandbox.orders, sandbox.today)
    return next(o for o in orders if o.order_id == order_id)


def cents(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))


def money(value: dict[str, Any]) -> Decimal:
    return Decimal(str(value["amount"])).quantize(Decimal("0.01"))


def test_lookup_order_matches_the_back_office(storefront: Runner, sandbox: Any, conditions: str):
    order = sandbox.find_orders(FLAVOR, "partially_refunded", limit=1)[0]
    truth, seed = sandbox.order(FLAVOR, order.order_id), seeded(sandbox, order.order_id)
    # the bare number works as well as "#1165"
    result = storefront("lookup_order", order_id=order.order_id.lstrip("#"))
    assert result.state is RunState.DONE, result.error
    out = result.outputs
    assert out["order_id"] == order.order_id and out["schema"] == "aijia.order/1"
    assert out["status"] == "delivered"
    assert out["status_raw"] == "Partially refunded / Delivered"
    assert out["extra"]["payment_status"] == "Partially refunded"
    assert out["extra"]["fulfillment_status"] == "Delivered"
    assert out["buyer"]["name"] == order.buyer_name and out["buyer"]["email"]
    assert money(out["totals"]["total"]) == Decimal(order.total)
    assert money(out["totals"]["refundable"]) == Decimal(order.refundable)
    assert money(out["totals"]["refunded"]) == Decimal(truth["refunded"])
    assert out["totals"]["total"]["currency"] == order.currency
    assert [(i["sku"], i["qty"], money(i["price"])) for i in out["items"]] == [
        (sku, qty, cents(price)) for sku, _, qty, price in seed.items
    ]
    assert [(r["refund_id"], money(r["amount"])) for r in out["refunds"]] == [
        (r["refund_id"], Decimal(r["amount"])) for r in truth["refunds"]
    ]
    assert out["refunds"], "a partially refunded order has refunds"
    assert out["tracking"]["number"] == seed.tracking_number
    assert out["tracking"]["carrier"] == seed.carrier
    texts = " ".join(entry["text"] for entry in out["extra"]["timeline"])
    assert all(r["refund_id"] in texts for r in truth["refunds"])


def test_check_logistics_tells_delayed_from_delivered(
    storefront: Runner, sandbox: Any, conditions: str
):
    delayed = sandbox.find_orders(FLAVOR, "delayed", limit=1)[0]
    delivered = sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    late = storefront("check_logistics", order_id=delayed.order_id)
    fine = storefront("check_logistics", order_id=delivered.order_id)
    assert late.state is RunState.DONE, late.error
    assert fine.state is RunState.DONE, fine.error
    assert late.outputs["delayed"] is True and late.outputs["days_without_update"] > 7
    assert late.outputs["tracking_number"] == seeded(sandbox, delayed.order_id).tracking_number
    assert fine.outputs["delayed"] is False and fine.outputs["delivered"] is True


def test_check_logistics_on_an_unfulfilled_order(storefront: Runner, sandbox: Any):
    order = sandbox.find_orders(FLAVOR, "to_ship", limit=1)[0]
    result = storefront("check_logistics", order_id=order.order_id)
    assert result.state is RunState.DONE, result.error
    assert result.outputs["fulfillment_status"] == "Unfulfilled"
    assert result.outputs["delayed"] is False and result.outputs["last_update"] is None


def test_capture_order_evidence_stores_pages(storefront: Runner, sandbox: Any, conditions: str):
    order = sandbox.find_orders(FLAVOR, "in_transit", limit=1)[0]
    result = storefront("capture_order_evidence", order_id=order.order_id)
    assert result.state is RunState.DONE, result.error
    assert result.run_id is not None
    assert result.outputs["status"] == "shipped"
    assert result.outputs["extra"]["fulfillment_status"] == "In transit"
    events = storefront.store.events(result.run_id)
    artifacts = [a for e in events for a in _artifacts(storefront, e)]
    assert {"screenshot", "dom"} <= {a.kind for a in artifacts}
    assert sum(a.kind == "screenshot" for a in artifacts) >= 5
    report = storefront.store.verify([result.run_id])
    assert report.ok, report


def test_prepare_refund_stops_at_the_gate_and_refunds_nothing(
    storefront: Runner, sandbox: Any, conditions: str
):
    order = next(o for o in sandbox.find_orders(FLAVOR, "delivered") if "multi_item" in o.cases)
    seed = seeded(sandbox, order.order_id)
    sku, _, _, price = seed.items[-1]
    result = storefront(
        "prepare_refund",
        order_id=order.order_id,
        sku=sku,
        quantity=1,
        refund_shipping=True,
        restock=True,
        reason="damaged",
    )
    assert result.state is RunState.PAUSED, result.error
    assert result.gate is not None and result.gate.action == "refund"
    binds = result.gate.binds
    assert binds["order_id"] == order.order_id
    assert (binds["sku"], binds["quantity"], binds["restock"]) == (sku, 1, True)
    assert Decimal(binds["shipping"]) == cents(seed.shipping_fee)
    assert Decimal(binds["amount"]) == cents(price + seed.shipping_fee)
    assert binds["currency"] == order.currency
    assert binds["status"] == "Paid" and binds["fulfillment_status"] == "Delivered"
    assert Decimal(binds["refundable_before"]) == Decimal(order.refundable)
    assert sandbox.ledger(FLAVOR)["refunds"] == []


def test_prepare_refund_by_amount_alone_sends_no_items(storefront: Runner, sandbox: Any):
    """The same inputs as every site (order_id, amount, reason): the dialog's refund amount is
    typed, every line's quantity stays 0 and nothing is restocked."""
    order = next(o for o in sandbox.find_orders(FLAVOR, "delivered") if "multi_item" in o.cases)
    result = storefront("prepare_refund", order_id=order.order_id, amount="2.5", reason="other")
    assert result.state is RunState.PAUSED, result.error
    binds = result.gate.binds if result.gate else {}
    assert (binds["amount"], binds["sku"], binds["quantity"]) == ("2.50", None, None)
    assert binds["restock"] is False and Decimal(binds["shipping"]) == 0
    assert "an amount, no items" in (result.gate.summary if result.gate else "")
    assert sandbox.ledger(FLAVOR)["refunds"] == []


def _refusal(sandbox: Any, problem: str) -> tuple[str, dict[str, Any]]:
    """An order and inputs the back office would refuse, from the seed."""
    if problem == "over_refundable":
        order = next(
            o
            for o in sandbox.find_orders(FLAVOR, "partially_refunded")
            if any(
                cents(q * p + seeded(sandbox, o.order_id).shipping_fee) > Decimal(o.refundable)
                for _, _, q, p in seeded(sandbox, o.order_id).items
            )
        )
        seed = seeded(sandbox, order.order_id)
        sku, _, qty, _ = max(seed.items, key=lambda item: item[2] * item[3])
        return order.order_id, {"sku": sku, "quantity": qty, "refund_shipping": True}
    order = sandbox.find_orders(FLAVOR, "cancelled" if problem == "cancelled" else "delivered")[0]
    sku, _, qty, _ = seeded(sandbox, order.order_id).items[0]
    if problem == "too_many":
        return order.order_id, {"sku": sku, "quantity": qty + 1}
    if problem == "unknown_sku":
        return order.order_id, {"sku": "NO-SUCH-SKU", "quantity": 1}
    if problem == "nothing_to_refund":
        return order.order_id, {}
    return order.order_id, {"sku": sku, "quantity": 1}


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("cancelled", "a Voided order cannot be refunded"),
        ("too_many", "were ordered"),
        ("unknown_sku", "the order has no line with SKU NO-SUCH-SKU"),
        ("over_refundable", "more than the refundable amount"),
        ("nothing_to_refund", "give the amount to refund, or the sku"),
    ],
)
def test_prepare_refund_refuses_what_the_back_office_would(
    storefront: Runner, sandbox: Any, problem: str, message: str
):
    order_id, inputs = _refusal(sandbox, problem)
    result = storefront("prepare_refund", order_id=order_id, reason="other", **inputs)
    assert result.state is RunState.FAILED
    assert message in (result.error or "")
    assert sandbox.ledger(FLAVOR)["refunds"] == []


def test_an_approved_refund_sends_what_was_bound(storefront: Runner, sandbox: Any):
    order = sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    sku, _, _, price = seeded(sandbox, order.order_id).items[0]
    paused = storefront(
        "prepare_refund", order_id=order.order_id, sku=sku, quantity=1, reason="wrong_item"
    )
    assert paused.state is RunState.PAUSED and paused.gate is not None, paused.error
    assert storefront.approve(paused).complete
    done = storefront.resume(paused)
    assert done.state is RunState.DONE, done.error
    [refund] = sandbox.ledger(FLAVOR)["refunds"]
    assert refund["order_id"] == order.order_id and refund["reason"] == "wrong_item"
    assert refund["amount"] == paused.gate.binds["amount"] == str(cents(price))
    assert refund["detail"] == {"quantities": {sku: 1}, "shipping": "0.00", "restock": False}
    assert done.outputs["refund_id"] == refund["refund_id"]
    assert done.outputs["items"] == [{"sku": sku, "qty": 1}]
    assert storefront.event_kinds(done).count("action_done") == 1


def test_add_internal_note_waits_at_its_gate(storefront: Runner, sandbox: Any):
    # the shipped policy approves internal notes by itself (tests/gates covers that); here
    # the recipe's own gate is what is tested
    del storefront.settings.policy.actions["internal_note"]
    order = sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    result = storefront("add_internal_note", order_id=order.order_id, note="Buyer called: กรุณา")
    assert result.state is RunState.PAUSED, result.error
    assert result.gate is not None and result.gate.binds["note"] == "Buyer called: กรุณา"
    assert result.gate.binds["order_id"] == order.order_id
    assert sandbox.ledger(FLAVOR)["notes"] == []


def test_an_expired_session_is_renewed_once(storefront: Runner, sandbox: Any):
    orders = sandbox.find_orders(FLAVOR, "delivered", limit=2)
    first = storefront("lookup_order", order_id=orders[0].order_id)
    assert first.state is RunState.DONE, first.error
    sandbox.expire_sessions(FLAVOR)
    second = storefront("lookup_order", order_id=orders[1].order_id)
    assert second.state is RunState.DONE, second.error
    assert storefront.event_kinds(second).count("session_login") == 1


def _artifacts(runner: Runner, event: Any) -> list[Any]:
    return [runner.store.artifact(sha) for sha in event.artifacts]


def test_a_refund_answered_500_is_in_doubt_and_reconcile_settles_it(
    storefront: Runner, sandbox: Any
):
    order = sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    sku = seeded(sandbox, order.order_id).items[0][0]
    paused = storefront(
        "prepare_refund", order_id=order.order_id, sku=sku, quantity=1, reason="damaged"
    )
    assert paused.state is RunState.PAUSED and paused.gate is not None, paused.error
    assert storefront.approve(paused).complete
    sandbox.set_faults(FLAVOR, commit_error_rate=1)  # the refund is saved, the answer is a 500
    doubt = storefront.resume(paused)
    assert doubt.state is RunState.IN_DOUBT, doubt.error
    sandbox.set_faults(FLAVOR, commit_error_rate=0)
    [refund] = sandbox.ledger(FLAVOR)["refunds"]
    settled = storefront.reconcile(paused)
    found = settled.values
    assert refund["refund_id"] in [r["refund_id"] for r in found["refunds"]]
    assert found["committed"] is True and settled.committed is True
    assert settled.state is RunState.DONE
    assert storefront.store.get_run(str(paused.run_id)).state is RunState.DONE
    assert len(sandbox.ledger(FLAVOR)["refunds"]) == 1, "reconcile only reads"
