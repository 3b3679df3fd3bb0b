"""Identity that cannot be typed, through the installed `aijia` against the sandbox: the lead
cannot approve their own refund by any means (a flag, an environment variable, their own
token), one person with two sessions is not two approvers, a disabled account or a revoked
token decides nothing, and each approval is a signed event naming who and how proven."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import yaml

from agent.core.states import RunState
from evidence.timeline import build_timeline
from tests.gates.conftest import PASSWORD, Cli, Gates

CURRENCIES = ("MYR", "SGD", "THB", "BRL", "USD")


def _two_approvers(gates: Gates, cli: Cli) -> None:
    """Two distinct approvers for a 1.50 refund, in this process and in the CLI's config."""
    limits = {c: Decimal("1.00") for c in CURRENCIES}
    gates.settings.policy.actions["refund"].two_approvers_above = limits
    raw = yaml.safe_load(cli.config.read_text(encoding="utf-8"))
    raw["policy"]["actions"]["refund"]["two_approvers_above"] = {c: 1.0 for c in CURRENCIES}
    cli.config.write_text(yaml.safe_dump(raw), encoding="utf-8")


def _decisions(gates: Gates, run_id: str) -> list[dict[str, Any]]:
    return [e.data for e in gates.store.events(run_id) if e.kind in ("approved", "rejected")]


def _token_id(cli: Cli, user: str) -> str:
    listed = cli("users", "tokens", user, "--json", user=user)
    assert listed.returncode == 0, listed.stderr
    [token] = [t for t in json.loads(listed.stdout) if t["label"] == "test"]
    return str(token["token_id"])


def test_a_lead_cannot_approve_their_own_refund_by_any_means(gates: Gates, cli: Cli):
    prepared = gates.refund()  # started by lead
    gate = prepared.gate_id

    flag = cli("approve", gate, "--yes", "--as", "reviewer", user="lead")
    assert flag.returncode == 2, flag.stderr
    assert "--as no longer exists" in " ".join(flag.stderr.split())
    assert "aijia login" in flag.stderr

    env_var = cli("approve", gate, "--yes", user="lead", AIJIA_USER="reviewer")
    assert env_var.returncode == 6, env_var.stderr
    assert "$AIJIA_USER is ignored" in env_var.stderr
    assert "separation of duties" in " ".join(env_var.stderr.split())

    no_token = cli("approve", gate, "--yes", AIJIA_USER="reviewer")
    assert no_token.returncode == 6 and "not signed in" in no_token.stderr

    own = cli("approve", gate, "--yes", user="lead")
    assert own.returncode == 6 and "separation of duties" in " ".join(own.stderr.split())

    assert gates.store.approvals(gate) == [] and gates.refunds(prepared.order_id) == []
    assert gates.store.get_run(prepared.run_id).state is RunState.PAUSED
    refused = [e.data for e in gates.store.events(prepared.run_id) if e.kind == "approval_refused"]
    lead_token = _token_id(cli, "lead")
    assert [(r["user"], r["proof"]) for r in refused] == [("lead", f"token {lead_token}")] * 2

    # the reviewer's own token approves; the signed event says who and how it was proven
    approved = cli("approve", gate, "--yes", user="reviewer")
    assert approved.returncode == 0, approved.stderr
    assert len(gates.refunds(prepared.order_id)) == 1
    proof = f"token {_token_id(cli, 'reviewer')}"
    [decision] = _decisions(gates, prepared.run_id)
    assert (decision["approver"], decision["proof"]) == ("reviewer", proof)
    assert [(a.approver, a.proof) for a in gates.store.approvals(gate)] == [("reviewer", proof)]
    assert gates.store.verify([prepared.run_id]).ok
    # the timeline (report, console) says how each person was proven
    titles = [e.title for e in build_timeline(gates.store, prepared.run_id).entries]
    assert "Started by lead (proven by api)" in titles  # gates.refund() is embedding code
    assert f"Approved by reviewer (proven by {proof})" in titles


def test_one_person_with_two_sessions_is_not_two_approvers(gates: Gates, cli: Cli):
    _two_approvers(gates, cli)
    prepared = gates.refund()
    assert gates.store.get_gate(prepared.gate_id).required_approvals == 2

    first = cli("approve", prepared.gate_id, "--yes", user="reviewer")
    assert first.returncode == 0, first.stderr
    assert "1 of 2 approvals" in first.stdout

    # a second session of the same person: `aijia login` saves a new token of reviewer
    login = cli("login", "reviewer", "--password-stdin", stdin=PASSWORD + "\n")
    assert login.returncode == 0, login.stderr
    whoami = cli("whoami", "--json")
    assert json.loads(whoami.stdout)["user"] == "reviewer"
    assert json.loads(whoami.stdout)["proof"] != f"token {_token_id(cli, 'reviewer')}"
    again = cli("approve", prepared.gate_id, "--yes")
    assert again.returncode == 6, again.stderr
    assert "already approved" in again.stderr and "distinct" in " ".join(again.stderr.split())
    assert gates.store.get_run(prepared.run_id).state is RunState.PAUSED

    second = cli("approve", prepared.gate_id, "--yes", user="supervisor")
    assert second.returncode == 0, second.stderr
    assert len(gates.refunds(prepared.order_id)) == 1
    decided = _decisions(gates, prepared.run_id)
    assert [d["approver"] for d in decided] == ["reviewer", "supervisor"]
    assert all(d["proof"].startswith("token t-") for d in decided)
    shown = json.loads(cli("gates", "show", prepared.gate_id, "--json").stdout)
    assert [(d["approver"], d["proof"]) for d in shown["decisions"]] == [
        (d["approver"], d["proof"]) for d in decided
    ]


def test_a_disabled_account_or_a_revoked_token_decides_nothing(gates: Gates, cli: Cli):
    prepared = gates.refund()

    disabled = cli("users", "disable", "reviewer", user="admin")
    assert disabled.returncode == 0, disabled.stderr
    refused = cli("approve", prepared.gate_id, "--yes", user="reviewer")
    assert refused.returncode == 6 and "'reviewer' is disabled" in refused.stderr
    assert "aijia" in refused.stderr  # the hint says what to do

    token_id = _token_id(cli, "supervisor")
    revoked = cli("users", "revoke", token_id, user="supervisor")
    assert revoked.returncode == 0, revoked.stderr
    stale = cli("approve", prepared.gate_id, "--yes", user="supervisor")
    assert stale.returncode == 6 and "revoked" in stale.stderr and "aijia login" in stale.stderr

    assert gates.store.approvals(prepared.gate_id) == []
    assert gates.store.get_run(prepared.run_id).state is RunState.PAUSED

    # in-process, the same rules: the account's roles (none while disabled) win
    enabled = cli("users", "enable", "reviewer", user="admin")
    assert enabled.returncode == 0, enabled.stderr
    decision = gates.approve(prepared.gate_id, "manager")
    assert decision.proof == "api" and decision.complete
    assert [a.proof for a in gates.store.approvals(prepared.gate_id)] == ["api"]
