"""The shipped ShopLane recipes, end to end in real Chromium against the sandbox."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from agent.core.states import RunState
from tests.recipes.conftest import Runner

FLAVOR = "shoplane"


@pytest.fixture
def shoplane(run: Any, chromium: Any, product: Any, store: Any) -> Runner:
    return Runner(FLAVOR, run, chromium, product, store)


def test_lookup_order_matches_the_back_office(shoplane: Runner, sandbox: Any, conditions: str):
    order = sandbox.find_orders(FLAVOR, "partially_refunded", limit=1)[0]
    truth = sandbox.order(FLAVOR, order.order_id)
    result = shoplane("lookup_order", order_id=order.order_id)
    assert result.state is RunState.DONE, result.error
    out = result.outputs
    assert out["order_id"] == order.order_id
    assert Decimal(str(out["totals"]["total"]["amount"])) == Decimal(order.total)
    assert Decimal(str(out["totals"]["refundable"]["amount"])) == Decimal(order.refundable)
    assert out["totals"]["total"]["currency"] == order.currency
    assert len(out["refunds"]) == len(truth["refunds"]) >= 1
    assert out["items"] and all(item["qty"] >= 1 for item in out["items"])
    assert out["tracking"]["events"], "tracking events are read after the late fetch"


def test_check_logistics_tells_delayed_from_delivered(shoplane: Runner, sandbox: Any, conditions):
    delayed = sandbox.find_orders(FLAVOR, "delayed", limit=1)[0]
    delivered = sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    late = shoplane("check_logistics", order_id=delayed.order_id)
    fine = shoplane("check_logistics", order_id=delivered.order_id)
    assert late.state is RunState.DONE, late.error
    assert fine.state is RunState.DONE, fine.error
    assert late.outputs["delayed"] is True and late.outputs["days_without_update"] > 7
    assert fine.outputs["delayed"] is False and fine.outputs["delivered"] is True


def test_capture_order_evidence_stores_pages(shoplane: Runner, sandbox: Any, conditions: str):
    order = sandbox.find_orders(FLAVOR, "in_transit", limit=1)[0]
    result = shoplane("capture_order_evidence", order_id=order.order_id)
    assert result.state is RunState.DONE, result.error
    assert result.run_id is not None
    kinds = {a.kind for e in shoplane.store.events(result.run_id) for a in _artifacts(shoplane, e)}
    assert {"screenshot", "dom"} <= kinds
    report = shoplane.store.verify([result.run_id])
    assert report.ok, report


def test_prepare_refund_stops_at_the_gate_and_refunds_nothing(
    shoplane: Runner, sandbox: Any, conditions: str
):
    order = sandbox.find_orders(FLAVOR, "partially_refunded", limit=1)[0]
    result = shoplane("prepare_refund", order_id=order.order_id, amount="1.50", reason="damaged")
    assert result.state is RunState.PAUSED, result.error
    assert result.gate is not None and result.gate.action == "refund"
    assert result.gate.binds["order_id"] == order.order_id
    assert result.gate.binds["amount"] == "1.50"
    assert result.gate.binds["currency"] == order.currency
    assert sandbox.ledger(FLAVOR)["refunds"] == []


@pytest.mark.parametrize(
    ("case", "amount", "message"),
    [
        ("cancelled", "1.00", "cannot be refunded"),
        ("partially_refunded", "99999", "more than the refundable amount"),
    ],
)
def test_prepare_refund_refuses_what_the_back_office_would(
    shoplane: Runner, sandbox: Any, case: str, amount: str, message: str
):
    order = sandbox.find_orders(FLAVOR, case, limit=1)[0]
    result = shoplane("prepare_refund", order_id=order.order_id, amount=amount, reason="other")
    assert result.state is RunState.FAILED
    assert message in (result.error or "")
    assert sandbox.ledger(FLAVOR)["refunds"] == []


def test_add_internal_note_waits_at_its_gate(shoplane: Runner, sandbox: Any):
    # the shipped policy approves internal notes by itself (tests/gates covers that); here
    # the recipe's own gate is what is tested
    del shoplane.settings.policy.actions["internal_note"]
    order = sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    result = shoplane("add_internal_note", order_id=order.order_id, note="Buyer called: กรุณา")
    assert result.state is RunState.PAUSED, result.error
    assert result.gate is not None and result.gate.binds["note"] == "Buyer called: กรุณา"
    assert sandbox.ledger(FLAVOR)["notes"] == []


def test_an_expired_session_is_renewed_once(shoplane: Runner, sandbox: Any):
    orders = sandbox.find_orders(FLAVOR, "delivered", limit=2)
    first = shoplane("lookup_order", order_id=orders[0].order_id)
    assert first.state is RunState.DONE, first.error
    sandbox.expire_sessions(FLAVOR)
    second = shoplane("lookup_order", order_id=orders[1].order_id)
    assert second.state is RunState.DONE, second.error
    assert shoplane.event_kinds(second).count("session_login") == 1


def _artifacts(runner: Runner, event: Any) -> list[Any]:
    return [runner.store.artifact(sha) for sha in event.artifacts]
