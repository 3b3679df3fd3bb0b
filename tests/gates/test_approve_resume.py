"""What the reviewer approved is exactly what runs, once — in real Chromium on the sandbox."""

from __future__ import annotations

import time

import pytest

from agent.core.errors import GateError, PolicyError
from agent.core.states import RunState
from evidence.leases import LeaseHeld
from tests.gates.conftest import FLAVOR, Gates


def test_no_refund_before_approval_and_exactly_one_after(gates: Gates):
    prepared = gates.refund()
    assert prepared.result.state is RunState.PAUSED and prepared.result.exit_code == 3
    order_id = prepared.order_id
    assert gates.refunds() == [], "nothing is refunded before approval"
    gate = gates.store.get_gate(prepared.gate_id)
    assert gate.required_approvals == 1 and gate.expires_at

    decision = gates.approve(gate.gate_id, "reviewer", note="checked the photos")
    assert decision.complete and gates.store.get_run(decision.run_id).state is RunState.APPROVED
    assert gates.refunds() == [], "approving alone commits nothing"

    done = gates.resume(decision.run_id)
    assert done.state is RunState.DONE, done.error
    assert done.outputs["refund_id"].startswith("RR")
    [refund] = gates.refunds()
    assert refund["order_id"] == order_id and refund["amount"] == "1.50"
    assert gates.store.get_gate(gate.gate_id).state == "used"

    with pytest.raises(GateError, match="already approved and used"):
        gates.approve(gate.gate_id, "supervisor")
    with pytest.raises(GateError, match="is done, not approved"):
        gates.resume(decision.run_id)
    assert len(gates.refunds()) == 1
    kinds = [e.kind for e in gates.store.events(decision.run_id)]
    assert kinds.index("run_initiated") < kinds.index("gate_opened") < kinds.index("approved")
    approved = next(e for e in gates.store.events(decision.run_id) if e.kind == "approved")
    assert approved.data["approver"] == "reviewer" and approved.data["bind_hash"] == gate.bind_hash
    assert gates.store.verify([decision.run_id]).ok

    # the prepare phase ran twice; its pages after each action were captured once (the first
    # pass, which the reviewer saw), its labelled screenshots twice, the commit's pages after
    events = gates.store.events(decision.run_id)
    resumed = next(i for i, e in enumerate(events) if e.kind == "resume_started")
    committing = next(
        i
        for i, e in enumerate(events)
        if e.kind == "state_changed" and e.data.get("to_state") == "committing"
    )
    labels = [(i, e.data["label"]) for i, e in enumerate(events) if e.kind == "page_captured"]
    first = [label for i, label in labels if i < resumed]
    again = [label for i, label in labels if resumed < i < committing]
    after = [label for i, label in labels if i > committing]
    assert any(label.startswith("after step ") for label in first)
    assert again == [label for label in first if not label.startswith("after step ")]
    assert again == ["order_page", "refund_form"]
    assert any(label.startswith("after step ") for label in after)  # the confirm click


def test_drift_is_not_refunded_and_is_gated_again_with_the_difference(gates: Gates):
    prepared = gates.refund()
    gate_id = prepared.gate_id
    order_id = prepared.order_id
    gates.sandbox.mutate_order(FLAVOR, order_id, refund_amount="2.00", refund_reason="other")
    decision = gates.approve(gate_id, "reviewer")

    result = gates.resume(decision.run_id)
    assert result.state is RunState.PAUSED and result.exit_code == 3
    assert result.gate is not None and result.gate.gate_id != gate_id
    assert "refundable_before" in (result.error or "")
    assert [r["amount"] for r in gates.refunds(order_id)] == ["2.00"], "only the outside one"
    assert gates.store.get_gate(gate_id).state == "expired"

    view = gates.view(str(result.gate.gate_id))
    assert view.gate.state == "pending" and "refundable_before" in view.drift
    assert view.initiator == "lead", "the initiator stays the one who started the run"


def test_policy_refusals_say_why(gates: Gates):
    prepared = gates.refund()
    gate_id = prepared.gate_id
    with pytest.raises(PolicyError, match=r"started this run.*separation of duties"):
        gates.approve(gate_id, "lead")
    with pytest.raises(PolicyError, match="'mallory' is not in the policy"):
        gates.approve(gate_id, "mallory")
    gates.settings.policy.users["intern"] = ["agent_runner"]
    with pytest.raises(PolicyError, match="may not approve 'refund' gates"):
        gates.approve(gate_id, "intern")
    kinds = [e.kind for e in gates.store.events(prepared.run_id)]
    assert kinds.count("approval_refused") == 3
    assert gates.store.get_run(prepared.run_id).state is RunState.PAUSED

    with pytest.raises(PolicyError, match="'mallory' is not in the policy"):
        gates.start("lookup_order", user="mallory", order_id="X" * 14)


def test_expired_gate_and_expired_approval_are_refused_and_close_the_run(gates: Gates):
    ttl = gates.settings.policy.approval_ttl_hours
    gates.settings.policy.approval_ttl_hours = 0.5 / 3600  # gates expire half a second on
    first = gates.refund()
    time.sleep(0.6)
    with pytest.raises(GateError, match="expired at"):
        gates.approve(first.gate_id, "reviewer")
    assert gates.store.get_run(first.run_id).state is RunState.EXPIRED

    gates.settings.policy.approval_ttl_hours = ttl
    second = gates.refund(case="partially_refunded")
    decision = gates.approve(second.gate_id, "reviewer")
    gates.settings.policy.approval_ttl_hours = 0.5 / 3600  # now the approval is too old
    time.sleep(0.6)
    with pytest.raises(GateError, match=r"approval of gate .* expired"):
        gates.resume(decision.run_id)
    assert gates.store.get_run(decision.run_id).state is RunState.EXPIRED
    assert gates.refunds() == []
    assert gates.store.verify([first.run_id, decision.run_id]).ok


def test_rejected_run_closes_with_its_evidence(gates: Gates):
    prepared = gates.refund()
    gate_id = prepared.gate_id
    gates.reject(gate_id, "reviewer", reason="buyer withdrew the claim")
    run_id = prepared.run_id
    assert gates.store.get_run(run_id).state is RunState.REJECTED
    with pytest.raises(GateError, match="it was rejected"):
        gates.approve(gate_id, "supervisor")
    rejected = [e for e in gates.store.events(run_id) if e.kind == "rejected"]
    assert rejected[0].data["note"] == "buyer withdrew the claim"
    assert gates.store.verify([run_id]).ok
    assert gates.refunds() == []


def test_reconcile_and_resume_wait_while_a_live_lease_is_held(gates: Gates):
    """Liveness is the commit lease, not the last `commit_owner` event: a lease another
    process holds (and renews) refuses reconcile and resume alike, naming the holder."""
    store = gates.store
    record = store.create_run(recipe="prepare_refund", recipe_version="1", site=FLAVOR, inputs={})
    for a, b in [("pending", "running"), ("running", "paused"), ("paused", "approved")]:
        store.transition(record.run_id, RunState(a), RunState(b))
    store.transition(record.run_id, RunState.APPROVED, RunState.COMMITTING)
    held = store.acquire_commit_lease(
        record.run_id, holder="4242@elsewhere (resume by reviewer)", lease_s=600
    )
    assert not isinstance(held, LeaseHeld)
    with pytest.raises(GateError, match=r"being committed by 4242@elsewhere .*lease until"):
        gates.reconcile(record.run_id, user="supervisor")
    assert store.get_run(record.run_id).state is RunState.COMMITTING
    again = store.acquire_commit_lease(record.run_id, holder="me", lease_s=600)
    assert isinstance(again, LeaseHeld) and again.current.token == held.token
    assert store.renew_commit_lease(record.run_id, held.token, lease_s=600)
    assert not store.renew_commit_lease(record.run_id, "not-the-token", lease_s=600)
