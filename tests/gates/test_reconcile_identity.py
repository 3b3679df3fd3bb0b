"""Reconcile by identity, not by arithmetic: the refund the agent sends carries its reference
(`aijia <run id>`, bound by the gate and compared before release), and reconcile settles a
run only by finding that reference, or by positively seeing no refund at all. A refund of
the same size that someone else made never settles the agent's attempt."""

from __future__ import annotations

import pytest

from agent.core.errors import GateError
from agent.core.states import RunState
from tests.gates.conftest import FLAVOR, Gates, Prepared


def in_doubt(gates: Gates, **faults: object) -> Prepared:
    """A refund approved and resumed while the site misbehaves after the release: in_doubt."""
    prepared = gates.refund()
    gates.approve(prepared.gate_id, "reviewer")
    gates.sandbox.set_faults(FLAVOR, **faults)
    result = gates.resume(prepared.run_id)
    assert result.state is RunState.IN_DOUBT, result.error
    gates.sandbox.set_faults(FLAVOR, **{name: 0 for name in faults})
    return prepared


def test_an_unrelated_refund_of_the_same_size_leaves_the_run_in_doubt(gates: Gates):
    prepared = in_doubt(gates, refund_declined=True)  # the agent's refund never happened
    assert gates.refunds() == []
    gates.sandbox.mutate_order(FLAVOR, prepared.order_id, refund_amount="1.50")  # someone else
    [other] = gates.refunds(prepared.order_id)
    assert other["amount"] == "1.50" and other["reference"] == ""

    with pytest.raises(GateError, match=r"could not tell whether refund happened.*in_doubt"):
        gates.reconcile(prepared.run_id)
    assert gates.store.get_run(prepared.run_id).state is RunState.IN_DOUBT
    kinds = [e.kind for e in gates.store.events(prepared.run_id)]
    assert "reconcile_finished" in kinds and "reconcile_undecided" in kinds
    assert gates.store.get_gate(prepared.gate_id).state == "approved"
    assert len(gates.refunds(prepared.order_id)) == 1, "nothing was sent"


def test_the_agents_own_refund_is_found_by_its_reference(gates: Gates):
    # the sandbox saves the refund but answers 500: the agent cannot tell it went through
    prepared = in_doubt(gates, commit_error_rate=1.0)
    [mine] = gates.refunds(prepared.order_id)
    assert mine["reference"] == f"aijia {prepared.run_id}"
    gates.sandbox.mutate_order(FLAVOR, prepared.order_id, refund_amount="1.50")  # and another

    settled = gates.reconcile(prepared.run_id)
    assert (settled.state, settled.committed) == (RunState.DONE, True)
    assert [r["refund_id"] for r in settled.values["mine"]] == [mine["refund_id"]]
    assert gates.store.get_gate(prepared.gate_id).state == "used"
    assert len(gates.refunds(prepared.order_id)) == 2, "reconcile sent nothing"
    assert gates.store.verify([prepared.run_id]).ok


def test_no_refund_on_the_order_means_not_committed_and_the_approval_holds(gates: Gates):
    prepared = in_doubt(gates, refund_declined=True)
    settled = gates.reconcile(prepared.run_id)
    assert (settled.state, settled.committed) == (RunState.APPROVED, False)
    assert settled.values["none_shown"] is not None
    done = gates.resume(prepared.run_id)
    assert done.state is RunState.DONE, done.error
    [refund] = gates.refunds(prepared.order_id)
    assert refund["reference"] == f"aijia {prepared.run_id}"
