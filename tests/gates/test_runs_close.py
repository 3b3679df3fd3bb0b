"""`aijia runs close RUN --reason …`: a refund the back office refused after approval no
longer loops between reconcile and resume; a person with the right role closes the run,
policy-checked and evidenced. And a done run's gate is never left approved."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.core.errors import GateError
from agent.core.states import RunState
from agent.engine.lifecycle import repair_done_gates
from evidence.store import EvidenceStore
from tests.gates.conftest import FLAVOR, Cli, Gates


def test_a_refund_the_back_office_refused_is_closed_by_a_supervisor(gates: Gates, cli: Cli):
    prepared = gates.refund()
    gates.approve(prepared.gate_id, "reviewer")
    gates.sandbox.set_faults(FLAVOR, refund_declined=True)  # the provider declines, every time
    first = gates.resume(prepared.run_id)
    assert first.state is RunState.IN_DOUBT, first.error
    settled = gates.reconcile(prepared.run_id)
    assert settled.state is RunState.APPROVED  # positively not refunded: the approval holds
    again = gates.resume(prepared.run_id)
    assert again.state is RunState.IN_DOUBT, "declined again: resuming would loop"

    own = cli("runs", "close", prepared.run_id, "--reason", "declined", user="lead")
    assert own.returncode == 6 and "separation of duties" in " ".join(own.stderr.split())
    stranger = cli("runs", "close", prepared.run_id, "--reason", "declined", user="mallory")
    assert stranger.returncode == 6 and "not signed in" in stranger.stderr  # no account
    blank = cli("runs", "close", prepared.run_id, "--reason", " ", user="supervisor")
    assert blank.returncode == 5 and "needs a reason" in blank.stderr

    why = "payment provider declined (PD-51); buyer refunded by bank transfer"
    closed = cli("runs", "close", prepared.run_id, "--reason", why, user="supervisor")
    assert closed.returncode == 0, closed.stderr
    assert "failed" in closed.stdout
    run = gates.store.get_run(prepared.run_id)
    assert run.state is RunState.FAILED and run.error == f"closed by supervisor: {why}"
    assert gates.store.get_gate(prepared.gate_id).state == "expired"
    [event] = [e.data for e in gates.store.events(prepared.run_id) if e.kind == "run_closed"]
    assert (event["user"], event["reason"], event["from_state"]) == ("supervisor", why, "in_doubt")
    refused = [e.data for e in gates.store.events(prepared.run_id) if e.kind == "close_refused"]
    assert [r["user"] for r in refused] == ["lead"]  # not signed in: never reached the run
    assert gates.store.verify([prepared.run_id]).ok
    assert gates.refunds() == []

    twice = cli("runs", "close", prepared.run_id, "--reason", why, user="supervisor")
    assert twice.returncode == 5 and "only an approved or in_doubt run" in twice.stderr
    with pytest.raises(GateError, match="not approved"):
        gates.resume(prepared.run_id, "supervisor")


def test_an_approved_run_is_closed_by_a_reviewer_who_may_approve_it(gates: Gates):
    prepared = gates.refund()
    gates.approve(prepared.gate_id, "reviewer")
    record = gates._run(
        gates.aijia.close_run(prepared.run_id, as_user="reviewer", reason="buyer withdrew")
    )
    assert record.state is RunState.FAILED
    assert gates.store.get_gate(prepared.gate_id).state == "expired"
    with pytest.raises(GateError, match="is failed, not approved"):
        gates.resume(prepared.run_id)
    assert gates.refunds() == []


def test_a_done_runs_gate_left_approved_is_repaired(tmp_path: Path):
    """A store from before `done` and `used` were one transaction, killed between them."""
    with EvidenceStore(tmp_path / "store") as store:
        run = store.create_run(recipe="prepare_refund", recipe_version="1", site="x", inputs={})
        store.transition(run.run_id, RunState.PENDING, RunState.RUNNING)
        gate = store.record_gate(run.run_id, action="refund", summary="s", binds={"amount": "1"})
        store.transition(run.run_id, RunState.RUNNING, RunState.PAUSED)
        store.gate_transition(gate.gate_id, "pending", "approved")
        store.transition(run.run_id, RunState.PAUSED, RunState.APPROVED)
        store.transition(run.run_id, RunState.APPROVED, RunState.COMMITTING)
        store.finish_run(run.run_id, outputs={})
        store.transition(run.run_id, RunState.COMMITTING, RunState.DONE)  # killed here, before
        assert store.get_gate(gate.gate_id).state == "approved"  # …the gate became used

        assert repair_done_gates(store) == [gate.gate_id]
        assert store.get_gate(gate.gate_id).state == "used"
        [changed] = [e.data for e in store.events(run.run_id) if e.kind == "gate_state_changed"][
            -1:
        ]
        assert changed["to_state"] == "used" and "repair" in changed["reason"]
        assert repair_done_gates(store) == []
        assert store.verify([run.run_id]).ok, store.verify([run.run_id]).breaks
