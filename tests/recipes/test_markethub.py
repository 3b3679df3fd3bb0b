"""The shipped MarketHub recipes, end to end in real Chromium against the sandbox."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from agent.core.states import RunState
from sandbox.seed import SeedOrder, generate_orders
from tests.recipes.conftest import Runner

FLAVOR = "markethub"


@pytest.fixture
def markethub(run: Any, chromium: Any, product: Any, store: Any) -> Runner:
    return Runner(FLAVOR, run, chromium, product, store)


def seeded(sandbox: Any, order_id: str) -> SeedOrder:
    """The order as the sandbox seeded it (items and tracking events are not in its admin API)."""
    orders = generate_orders(FLAVOR, sandbox.seed, sandbox.orders, sandbox.today)
    return next(o for o in orders if o.order_id == order_id)


def one_item(sandbox: Any, case: str) -> Any:
    """A seeded order of `case` with a single line item (no `sku` input needed)."""
    return next(
        o for o in sandbox.find_orders(FLAVOR, case) if len(seeded(sandbox, o.order_id).items) == 1
    )


def test_lookup_order_matches_the_back_office(markethub: Runner, sandbox: Any, conditions: str):
    order = next(
        o for o in sandbox.find_orders(FLAVOR, "partially_refunded") if "multi_item" in o.cases
    )
    truth, seed = sandbox.order(FLAVOR, order.order_id), seeded(sandbox, order.order_id)
    result = markethub("lookup_order", order_id=order.order_id)
    assert result.state is RunState.DONE, result.error
    out = result.outputs
    assert out["order_id"] == order.order_id and out["status"] == "delivered"
    assert out["status_raw"] == "Delivered"
    assert out["buyer"] == {"name": order.buyer_name, "email": None}
    assert Decimal(str(out["totals"]["total"]["amount"])) == Decimal(order.total)
    assert Decimal(str(out["totals"]["refundable"]["amount"])) == Decimal(order.refundable)
    assert Decimal(str(out["totals"]["refunded"]["amount"])) == Decimal(truth["refunded"])
    assert out["totals"]["total"]["currency"] == order.currency
    assert [(i["sku"], i["qty"]) for i in out["items"]] == [(s, q) for s, _, q, _ in seed.items]
    assert [r["refund_id"] for r in out["refunds"]] == [r["refund_id"] for r in truth["refunds"]]
    assert out["tracking"]["number"] == seed.tracking_number
    seen = {event["text"] for event in out["tracking"]["events"]}  # read after the late fetch
    assert seen >= {what for _, _, what in seed.events}


def test_check_logistics_tells_delayed_from_delivered(markethub: Runner, sandbox: Any, conditions):
    delayed = sandbox.find_orders(FLAVOR, "delayed", limit=1)[0]
    delivered = sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    late = markethub("check_logistics", order_id=delayed.order_id)
    fine = markethub("check_logistics", order_id=delivered.order_id)
    assert late.state is RunState.DONE, late.error
    assert fine.state is RunState.DONE, fine.error
    assert late.outputs["delayed"] is True and late.outputs["days_without_update"] > 7
    assert late.outputs["tracking_number"] == seeded(sandbox, delayed.order_id).tracking_number
    assert fine.outputs["delayed"] is False and fine.outputs["delivered"] is True


def test_capture_order_evidence_stores_pages(markethub: Runner, sandbox: Any, conditions: str):
    order = sandbox.find_orders(FLAVOR, "in_transit", limit=1)[0]
    result = markethub("capture_order_evidence", order_id=order.order_id)
    assert result.state is RunState.DONE, result.error
    assert result.run_id is not None
    artifacts = [a for e in markethub.store.events(result.run_id) for a in _artifacts(markethub, e)]
    assert {"screenshot", "dom"} <= {a.kind for a in artifacts}
    report = markethub.store.verify([result.run_id])
    assert report.ok, report


def test_prepare_refund_stops_at_the_gate_and_refunds_nothing(
    markethub: Runner, sandbox: Any, conditions: str
):
    order = one_item(sandbox, "partially_refunded")
    sku = seeded(sandbox, order.order_id).items[0][0]
    result = markethub("prepare_refund", order_id=order.order_id, amount="1.50", reason="damaged")
    assert result.state is RunState.PAUSED, result.error
    assert result.gate is not None and result.gate.action == "refund"
    assert result.gate.binds == {
        "order_id": order.order_id,
        "sku": sku,
        "amount": "1.50",
        "currency": order.currency,
        "reason": "damaged",
        "status": "Delivered",
        "refundable_before": order.refundable,
        "reference": f"aijia {result.run_id}",  # how reconcile finds the refund again
    }
    assert sandbox.ledger(FLAVOR)["refunds"] == []
    assert sandbox.order(FLAVOR, order.order_id)["refundable"] == order.refundable


def test_prepare_refund_picks_the_item_by_sku(markethub: Runner, sandbox: Any):
    order = next(
        o
        for o in sandbox.find_orders(FLAVOR, "multi_item")
        if o.status == "completed" and Decimal(o.refundable) >= 1
    )
    sku = seeded(sandbox, order.order_id).items[-1][0]
    result = markethub(
        "prepare_refund", order_id=order.order_id, amount="1", reason="wrong_item", sku=sku
    )
    assert result.state is RunState.PAUSED, result.error
    assert result.gate is not None and result.gate.binds["sku"] == sku
    assert result.gate.binds["amount"] == "1.00"
    assert sandbox.ledger(FLAVOR)["refunds"] == []


def test_an_amount_alone_goes_on_the_first_item_it_fits(markethub: Runner, sandbox: Any):
    """The same inputs as every site (order_id, amount, reason): on an order of several items
    the refund goes on the first item sold for at least the amount; the gate names it."""
    order = next(
        o
        for o in sandbox.find_orders(FLAVOR, "multi_item")
        if o.status == "completed" and Decimal(o.refundable) >= 1
    )
    first = seeded(sandbox, order.order_id).items[0][0]
    result = markethub("prepare_refund", order_id=order.order_id, amount="1", reason="other")
    assert result.state is RunState.PAUSED, result.error
    assert result.gate is not None and result.gate.binds["sku"] == first
    assert first in result.gate.summary
    assert sandbox.ledger(FLAVOR)["refunds"] == []


@pytest.mark.parametrize(
    ("case", "inputs", "message"),
    [
        ("cancelled", {"amount": "1.00"}, "cannot be refunded"),
        ("partially_refunded", {"amount": "99999"}, "more than the refundable amount"),
        ("multi_item", {"amount": "1.00", "sku": "NO-SUCH-SKU"}, "no item with SKU NO-SUCH-SKU"),
    ],
)
def test_prepare_refund_refuses_what_the_back_office_would(
    markethub: Runner, sandbox: Any, case: str, inputs: dict[str, str], message: str
):
    status = "cancelled" if case == "cancelled" else "completed"
    order = next(o for o in sandbox.find_orders(FLAVOR, case) if o.status == status)
    result = markethub("prepare_refund", order_id=order.order_id, reason="other", **inputs)
    assert result.state is RunState.FAILED
    assert message in (result.error or "")
    assert sandbox.ledger(FLAVOR)["refunds"] == []


def approved_refund(markethub: Runner, sandbox: Any, amount: str) -> tuple[Any, Any]:
    """A one-item delivered order and its prepare_refund run, paused at the gate as `lead`
    and approved by whom policy asks (the run is `approved`, nothing is committed yet)."""
    order = one_item(sandbox, "delivered")
    paused = markethub("prepare_refund", order_id=order.order_id, amount=amount, reason="damaged")
    assert paused.state is RunState.PAUSED and paused.gate is not None, paused.error
    assert markethub.approve(paused).complete
    assert sandbox.ledger(FLAVOR)["refunds"] == [], "approving alone commits nothing"
    return order, paused


def test_an_approved_refund_is_confirmed_once(markethub: Runner, sandbox: Any):
    order, paused = approved_refund(markethub, sandbox, "2.25")
    done = markethub.resume(paused)
    assert done.state is RunState.DONE, done.error
    [refund] = sandbox.ledger(FLAVOR)["refunds"]
    assert refund["order_id"] == order.order_id and refund["amount"] == "2.25"
    assert refund["reason"] == "damaged"
    assert done.outputs["refund_id"] == refund["refund_id"]
    assert done.outputs["amount"] == {"amount": "2.25", "currency": order.currency}
    assert done.outputs["items"] == [
        {"sku": seeded(sandbox, order.order_id).items[0][0], "qty": None}
    ]


def test_a_confirm_answered_500_is_in_doubt_and_reconcile_finds_the_refund(
    markethub: Runner, sandbox: Any
):
    order, paused = approved_refund(markethub, sandbox, "2.25")
    sandbox.set_faults(FLAVOR, commit_error_rate=1)  # the refund is saved, the answer is a 500
    doubt = markethub.resume(paused)
    assert doubt.state is RunState.IN_DOUBT, doubt.error
    [refund] = sandbox.ledger(FLAVOR)["refunds"]
    settled = markethub.reconcile(paused)
    found = settled.values
    assert refund["refund_id"] in [r["refund_id"] for r in found["refunds"]]
    expected = Decimal(order.refundable) - Decimal("2.25")
    assert Decimal(str(found["refundable"]["amount"])) == expected
    assert (settled.state, settled.committed) == (RunState.DONE, True)
    assert len(sandbox.ledger(FLAVOR)["refunds"]) == 1, "reconcile only reads"


def test_a_refund_issued_meanwhile_is_drift_not_a_second_refund(markethub: Runner, sandbox: Any):
    order, paused = approved_refund(markethub, sandbox, "3.00")
    sandbox.mutate_order(FLAVOR, order.order_id, refund_amount="5.00")
    again = markethub.resume(paused)
    assert again.state is RunState.PAUSED and again.pause_reason == "drift", again.error
    assert "refundable_before" in (again.error or "")
    assert [r["amount"] for r in sandbox.ledger(FLAVOR)["refunds"]] == ["5.00"]


def test_add_internal_note_waits_at_its_gate(markethub: Runner, sandbox: Any):
    # the shipped policy approves internal notes by itself (tests/gates covers that); here
    # the recipe's own gate is what is tested
    del markethub.settings.policy.actions["internal_note"]
    order = sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    result = markethub("add_internal_note", order_id=order.order_id, note="Buyer called: 李伟")
    assert result.state is RunState.PAUSED, result.error
    assert result.gate is not None and result.gate.binds["note"] == "Buyer called: 李伟"
    assert sandbox.ledger(FLAVOR)["notes"] == []


def test_an_expired_session_is_renewed_once_with_a_fresh_code(markethub: Runner, sandbox: Any):
    orders = sandbox.find_orders(FLAVOR, "delivered", limit=2)
    first = markethub("lookup_order", order_id=orders[0].order_id)
    assert first.state is RunState.DONE, first.error
    sandbox.expire_sessions(FLAVOR)
    second = markethub("lookup_order", order_id=orders[1].order_id)
    assert second.state is RunState.DONE, second.error
    assert markethub.event_kinds(second).count("session_login") == 1
    creds = sandbox.credentials(FLAVOR)
    for result in (first, second):
        assert result.run_id is not None
        logged = repr(list(markethub.store.events(result.run_id)))
        assert creds.password not in logged and creds.totp_secret not in logged


def _artifacts(runner: Runner, event: Any) -> list[Any]:
    return [runner.store.artifact(sha) for sha in event.artifacts]
