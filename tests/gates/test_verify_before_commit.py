"""The commit path verifies before it acts: someone who edits the store's SQLite file (a gate's
amount with its bind hash recomputed, a run's inputs, an approver's name) gets a refusal,
and nothing reaches the sandbox. Real sandbox, real Chromium, the store's real SQLite file."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from agent.core.errors import EvidenceError
from agent.core.states import RunState
from evidence.gates import compute_bind_hash
from tests.gates.conftest import Cli, Gates


def tamper(gates: Gates, sql: str, params: list[Any], rows: int = 1) -> None:
    """Write to the store's database behind its back, as someone with file access would."""
    db: Path = gates.store.root / "evidence.db"
    with closing(sqlite3.connect(db, timeout=10)) as conn, conn:
        assert conn.execute(sql, params).rowcount == rows


def test_a_gate_amount_raised_in_sqlite_is_refused_at_approve_and_nothing_is_sent(
    gates: Gates, cli: Cli
):
    prepared = gates.refund(amount="3.00")
    gate = gates.store.get_gate(prepared.gate_id)
    run = gates.store.get_run(prepared.run_id)
    binds = {**gate.binds, "amount": "30.00"}
    forged = compute_bind_hash(
        run_id=run.run_id,
        recipe=run.recipe,
        recipe_version=run.recipe_version,
        site=run.site,
        action=gate.action,
        binds=binds,
    )
    tamper(
        gates,
        "UPDATE gates SET binds = ?, bind_hash = ? WHERE gate_id = ?",
        [json.dumps(binds), forged, gate.gate_id],
    )
    tamper(
        gates,
        "UPDATE runs SET inputs = ? WHERE run_id = ?",
        [json.dumps({**run.inputs, "amount": "30.00"}), run.run_id],
    )

    with pytest.raises(EvidenceError, match=f"evidence of run {run.run_id} does not verify"):
        gates.approve(gate.gate_id, "reviewer")
    approved = cli("approve", gate.gate_id, "--yes", user="reviewer")
    assert approved.returncode == 7, approved.stderr
    assert "does not verify" in " ".join(approved.stderr.split())
    assert gates.store.approvals(gate.gate_id) == [], "no decision was recorded"
    assert gates.store.get_run(run.run_id).state is RunState.PAUSED
    assert gates.refunds() == [], "nothing reached the sandbox"

    view = gates.view(gate.gate_id)
    assert view.problems, "gates show marks what it could not verify"
    differ = "bound values differ(s) from the gate_opened event"
    assert any(differ in p for p in view.problems), view.problems
    shown = cli("gates", "show", gate.gate_id)
    assert shown.returncode == 0 and "NOT VERIFIED" in shown.stdout
    assert "does not verify" in " ".join(shown.stdout.split())


def test_run_inputs_changed_after_approval_make_resume_refuse(gates: Gates):
    prepared = gates.refund(amount="3.00")
    decision = gates.approve(prepared.gate_id, "reviewer")
    run = gates.store.get_run(decision.run_id)
    tamper(
        gates,
        "UPDATE runs SET inputs = ? WHERE run_id = ?",
        [json.dumps({**run.inputs, "amount": "30.00"}), run.run_id],
    )
    with pytest.raises(EvidenceError, match=r"does not verify.*inputs"):
        gates.resume(run.run_id)
    assert gates.refunds() == [], "nothing reached the sandbox"
    assert gates.store.get_run(run.run_id).state is RunState.APPROVED
    kinds = [e.kind for e in gates.store.events(run.run_id)]
    assert "resume_started" not in kinds, "no browser work began"
    assert gates.store.commit_lease(run.run_id) is None, "the lease was given back"


def test_an_approver_renamed_in_sqlite_is_marked_not_verified(gates: Gates, cli: Cli):
    prepared = gates.refund()
    gates.approve(prepared.gate_id, "reviewer")
    view = gates.view(prepared.gate_id)
    assert view.problems == [] and view.approved_by == ["reviewer"]
    # the store's trigger refuses the update; someone with the file drops it first
    tamper(gates, "DROP TRIGGER approvals_no_update", [], rows=-1)
    tamper(
        gates,
        "UPDATE approvals SET approver = 'supervisor' WHERE gate_id = ?",
        [prepared.gate_id],
    )
    view = gates.view(prepared.gate_id)
    assert view.approved_by == ["supervisor"], "the row says so…"
    assert any("'supervisor' is not in the chain" in p for p in view.problems or [])
    shown = cli("gates", "show", prepared.gate_id, "--json")
    data = json.loads(shown.stdout)
    assert data["verified"] is False and data["problems"]
    with pytest.raises(EvidenceError, match="does not verify"):
        gates.resume(prepared.run_id)
    assert gates.refunds() == []
