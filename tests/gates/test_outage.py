"""Outage-safe approvals: a site that is down when an approved run resumes sends nothing, so
the approval stays valid; the run stays approved with a retry time, and once the site is back
it commits once, without a new approval. The sandbox's `maintenance` fault takes every page
(the login page too) down with HTTP 503, and switching it off brings the site back."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from agent.core.errors import GateError
from agent.core.states import RunState
from tests.gates.conftest import FLAVOR, Cli, Gates


def test_an_outage_during_resume_keeps_the_approval_and_the_run_commits_once_later(
    gates: Gates, cli: Cli
):
    gates.settings.policy.commit_retry_s = [60.0, 300.0]
    prepared = gates.refund()
    decision = gates.approve(prepared.gate_id, "reviewer")
    gates.sandbox.set_faults(FLAVOR, maintenance=True)

    down = gates.resume(decision.run_id)
    assert down.state is RunState.APPROVED and down.exit_code == 4, down.error
    assert down.pause_reason == "retry"
    assert "nothing was sent; the approval holds: retry at" in (down.error or "")
    assert "(attempt 1)" in (down.error or "") and "503" in (down.error or "")
    assert gates.store.get_run(decision.run_id).state is RunState.APPROVED
    assert gates.store.get_gate(prepared.gate_id).state == "approved"
    [retry] = [e.data for e in gates.store.events(decision.run_id) if e.kind == "commit_retry"]
    assert retry["attempt"] == 1 and retry["delay_s"] == 60.0
    due = datetime.fromisoformat(str(retry["next_at"]).replace("Z", "+00:00"))
    assert 30 < (due - datetime.now(UTC)).total_seconds() <= 61
    assert gates.store.commit_lease(decision.run_id) is None, "the lease was given back"

    view = gates.view(prepared.gate_id)  # what `gates show` prints
    assert view.retry is not None and view.retry["attempt"] == 1
    shown = cli("runs", "show", decision.run_id)
    assert shown.returncode == 0 and "retry at" in shown.stdout and "(attempt 1)" in shown.stdout
    gate_json = json.loads(cli("gates", "show", prepared.gate_id, "--json").stdout)
    assert gate_json["retry"]["attempt"] == 1 and gate_json["state"] == "approved"

    again = cli("resume", decision.run_id, user="reviewer")  # still down: attempt 2
    assert again.returncode == 4, again.stderr
    assert "(attempt 2)" in " ".join(again.stdout.split())
    retries = [e.data for e in gates.store.events(decision.run_id) if e.kind == "commit_retry"]
    assert [r["attempt"] for r in retries] == [1, 2] and retries[1]["delay_s"] == 300.0
    assert gates.refunds() == []

    gates.sandbox.set_faults(FLAVOR, maintenance=False)  # the site is back
    done = gates.resume(decision.run_id)
    assert done.state is RunState.DONE, done.error
    assert len(gates.refunds(prepared.order_id)) == 1
    assert gates.store.get_gate(prepared.gate_id).state == "used"
    assert [a.approver for a in gates.store.approvals(prepared.gate_id)] == ["reviewer"]
    assert gates.store.verify([decision.run_id]).ok


def test_an_expired_approval_still_expires_while_the_site_is_down(gates: Gates):
    prepared = gates.refund()
    decision = gates.approve(prepared.gate_id, "reviewer")
    gates.sandbox.set_faults(FLAVOR, maintenance=True)
    assert gates.resume(decision.run_id).state is RunState.APPROVED
    gates.settings.policy.approval_ttl_hours = 1 / 3600 / 1000  # a millisecond
    gates.sandbox.set_faults(FLAVOR, maintenance=False)
    with pytest.raises(GateError, match=r"approval of gate .* expired"):
        gates.resume(decision.run_id)
    assert gates.store.get_run(decision.run_id).state is RunState.EXPIRED
    assert gates.refunds() == []
