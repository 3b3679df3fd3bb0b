"""Policy as configured: supervisor and two-approver thresholds, auto-approval, the webhook,
and the gated ShopLane recipes (dispute reply for a supervisor, escalation)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from agent.core.errors import PolicyError
from agent.core.settings import ActionPolicy, PolicySettings, WebhookSettings
from agent.core.states import RunState
from agent.gates.notify import gate_changed
from agent.gates.policy import AUTO_APPROVER, Policy
from tests.gates.conftest import FLAVOR, Gates


def _limits(gates: Gates, **fields: Any) -> None:
    """Thresholds low enough for a 1.50 refund, in every sandbox currency."""
    currencies = ("MYR", "SGD", "THB", "BRL", "USD")
    rules = gates.settings.policy.actions["refund"]
    for name, value in fields.items():
        setattr(rules, name, {c: Decimal(value) for c in currencies})


def test_above_the_limits_a_supervisor_then_two_distinct_approvers(gates: Gates):
    _limits(gates, supervisor_above="1.00", two_approvers_above="1.00")
    prepared = gates.refund(amount="1.50")
    assert gates.store.get_gate(prepared.gate_id).required_approvals == 2
    with pytest.raises(PolicyError, match="needs role supervisor"):
        gates.approve(prepared.gate_id, "reviewer")
    first = gates.approve(prepared.gate_id, "supervisor")
    assert not first.complete and (first.approvals, first.needed) == (1, 2)
    assert gates.store.get_run(prepared.run_id).state is RunState.PAUSED
    with pytest.raises(PolicyError, match="already approved"):
        gates.approve(prepared.gate_id, "supervisor")
    second = gates.approve(prepared.gate_id, "manager")
    assert second.complete
    done = gates.resume(prepared.run_id, user="supervisor")
    assert done.state is RunState.DONE, done.error
    assert len(gates.refunds(prepared.order_id)) == 1


def test_thresholds_read_per_currency_and_fail_safe():
    rules = {
        "refund": ActionPolicy(
            supervisor_above={"USD": Decimal(100)}, two_approvers_above={"USD": Decimal(500)}
        )
    }
    policy = Policy(PolicySettings(actions=rules))
    assert policy.requirements("refund", {"amount": "99.99", "currency": "USD"}).role is None
    over = policy.requirements("refund", {"amount": "100.01", "currency": "USD"})
    assert (over.role, over.approvals) == ("supervisor", 1)
    assert policy.requirements("refund", {"amount": "500.01", "currency": "USD"}).approvals == 2
    unknown = policy.requirements("refund", {"amount": "1", "currency": "XTS"})
    assert (unknown.role, unknown.approvals) == ("supervisor", 2), "no limit listed: above it"
    unreadable = policy.requirements("refund", {"amount": "n/a", "currency": "USD"})
    assert unreadable.approvals == 2
    assert policy.requirements("internal_note", {}).approvals == 1


def test_auto_approval_commits_at_once_below_its_limit_only(gates: Gates):
    order = gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    note = gates.start("add_internal_note", order_id=order.order_id, note="called the buyer")
    assert note.state is RunState.DONE, note.error
    [approval] = gates.store.approvals(gates.store.list_gates(run_id=note.run_id)[0].gate_id)
    assert approval.approver == AUTO_APPROVER
    assert any("called the buyer" in n["body"] for n in gates.sandbox.ledger(FLAVOR)["notes"])

    _limits(gates, auto_approve="2.00")
    small = gates.refund(case="delivered", amount="1.50")  # paused? no: auto-approved
    assert gates.store.get_run(small.run_id).state is RunState.DONE
    big = gates.refund(case="partially_refunded", amount="2.50")
    assert big.result.state is RunState.PAUSED
    assert [r["order_id"] for r in gates.refunds()] == [small.order_id]


def test_dispute_reply_needs_a_supervisor_and_escalation_a_reviewer(gates: Gates):
    order = gates.sandbox.find_orders(FLAVOR, "return_requested", limit=1)[0]
    reply = gates.start("draft_dispute_reply", order_id=order.order_id, decision="investigate")
    assert reply.gate is not None and reply.gate.gate_id, reply.error
    assert reply.gate.binds["reply"].startswith("Dear ")
    with pytest.raises(PolicyError, match="may not approve 'dispute_reply' gates"):
        gates.approve(reply.gate.gate_id, "reviewer")
    assert gates.approve(reply.gate.gate_id, "supervisor").complete
    sent = gates.resume(str(reply.run_id), user="supervisor")
    assert sent.state is RunState.DONE, sent.error

    escalation = gates.start(
        "escalate", order_id=order.order_id, queue="logistics", reason="carrier says delivered"
    )
    assert escalation.gate is not None and escalation.gate.gate_id, escalation.error
    assert gates.approve(escalation.gate.gate_id, "reviewer").complete
    assert gates.resume(str(escalation.run_id)).state is RunState.DONE
    notes = [n["body"] for n in gates.sandbox.ledger(FLAVOR)["notes"]]
    assert any(n.startswith("Reply to buyer: Dear ") for n in notes), notes
    assert any(n.startswith("ESCALATED to logistics") for n in notes), notes


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Hook.received.clear()
    yield f"http://127.0.0.1:{server.server_port}/gates"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_gate_fires_the_webhook_and_a_dead_webhook_is_only_logged(gates: Gates, hook: str):
    gates.settings.webhook.url = hook
    prepared = gates.refund()
    [notice] = _Hook.received
    assert notice["event"] == "gate_opened" and notice["gate_id"] == prepared.gate_id
    assert notice["initiator"] == "lead" and "reviewer" in notice["approvers"]
    assert "webhook_sent" in [e.kind for e in gates.store.events(prepared.run_id)]

    gates.settings.webhook = WebhookSettings(url="http://127.0.0.1:9/nothing", timeout_s=0.5)
    sent = gate_changed(gates.store, gates.settings, gates.policy, prepared.gate_id, "gate_opened")
    assert sent == ["webhook_failed"]
    assert "webhook_failed" in [e.kind for e in gates.store.events(prepared.run_id)]
