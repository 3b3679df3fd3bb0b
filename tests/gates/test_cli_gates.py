"""The reviewer CLI in real subprocesses: exactly once under 20 concurrent approvals, a commit
killed with SIGKILL settled by reconcile, and refusals a person can act on."""

from __future__ import annotations

import json
import os
import pty
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.core.states import RunState
from tests.gates.conftest import FLAVOR, Cli, Gates


def test_twenty_concurrent_approvals_refund_once(gates: Gates, cli: Cli):
    prepared = gates.refund()
    procs = [cli.popen("approve", prepared.gate_id, "--yes", user="reviewer") for _ in range(20)]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        outcomes.append((proc.returncode, out, err))
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0] + [5] * 19, outcomes
    refused = [err for code, _, err in outcomes if code == 5]
    assert all("already approved" in " ".join(e.split()) for e in refused), refused[:2]
    assert len(gates.refunds(prepared.order_id)) == 1
    run = gates.store.get_run(prepared.run_id)
    assert run.state is RunState.DONE
    approvals = gates.store.approvals(prepared.gate_id)
    assert [a.approver for a in approvals] == ["reviewer"]


def test_approve_needs_a_tty_or_yes_and_lists_what_waits(gates: Gates, cli: Cli):
    prepared = gates.refund()
    listed = cli("gates", "list", "--json", user="reviewer")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert row["gate_id"] == prepared.gate_id and row["initiator"] == "lead"
    assert "reviewer" in row["approvers"] and "lead" not in row["approvers"]
    mine = cli("gates", "list", "--mine", "--json", user="lead")
    assert json.loads(mine.stdout) == [], "the initiator never sees their own gate as theirs"
    shown = cli("gates", "show", prepared.gate_id)
    assert shown.returncode == 0 and prepared.order_id in shown.stdout
    assert "screenshot" in shown.stdout

    no_tty = cli("approve", prepared.gate_id, user="reviewer")
    assert no_tty.returncode == 5 and "no terminal" in no_tty.stderr
    own = cli("approve", prepared.gate_id, "--yes", user="lead")
    assert own.returncode == 6 and "separation of duties" in " ".join(own.stderr.split())
    stranger = cli("approve", prepared.gate_id, "--yes", user="mallory")  # no account, no token
    assert stranger.returncode == 6 and "not signed in" in stranger.stderr
    approved = cli("approve", prepared.gate_id, "--yes", "--no-resume", user="reviewer")
    assert approved.returncode == 0, approved.stderr
    assert gates.refunds() == [], "--no-resume leaves the commit to `aijia resume`"
    again = cli("approve", prepared.gate_id, "--yes", user="supervisor")
    assert again.returncode == 5 and "already approved" in again.stderr
    resumed = cli("resume", prepared.run_id, user="supervisor")
    assert resumed.returncode == 0, resumed.stderr
    assert len(gates.refunds(prepared.order_id)) == 1


def _state(data_dir: Path, run_id: str) -> str | None:
    db = data_dir / "evidence" / "evidence.db"
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        row = conn.execute("SELECT state FROM runs WHERE run_id = ?", [run_id]).fetchone()
    return row[0] if row else None


@pytest.mark.parametrize("kill_at", ["committing", "refund_written"])
def test_sigkill_while_committing_is_in_doubt_and_reconcile_never_refunds_twice(
    gates: Gates, cli: Cli, sandbox: Any, kill_at: str
):
    """Killed as the commit starts (the refund may not have reached the sandbox), or once the
    sandbox wrote the refund but before the agent saw the confirmation page."""
    prepared = gates.refund()
    sandbox.set_faults(FLAVOR, latency=600)  # widen the window around the confirm POST
    proc = cli.popen("approve", prepared.gate_id, "--yes", user="reviewer")
    deadline = time.monotonic() + 90

    def ready() -> bool:
        if _state(gates.settings.data_dir, prepared.run_id) != "committing":
            return False
        return kill_at == "committing" or bool(gates.refunds(prepared.order_id))

    while not ready():
        if proc.poll() is not None:
            raise AssertionError(proc.communicate())
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    assert gates.store.get_run(prepared.run_id).state is RunState.COMMITTING
    sandbox.set_faults(FLAVOR, latency=0)
    time.sleep(1.0)  # let the sandbox finish (or not) the request the dead process sent

    blind = cli("resume", prepared.run_id, user="supervisor")
    assert blind.returncode == 5 and "never retry blindly" in " ".join(blind.stderr.split())
    lease = gates.store.commit_lease(prepared.run_id)
    assert lease is not None, "the killed committer's lease is left to run out by itself"
    settled = None
    if lease.live(datetime.now(UTC) + timedelta(seconds=4)):  # time to ask before it expires
        early = cli("runs", "reconcile", prepared.run_id, user="supervisor")
        if early.returncode == 0 and not lease.live():
            settled = early  # a loaded machine: the lease ran out while the CLI started up
        else:
            assert early.returncode == 5, early.stdout + early.stderr
            assert "being committed by" in " ".join(early.stderr.split())
    while lease.live():
        time.sleep(0.1)
    settled = settled or cli("runs", "reconcile", prepared.run_id, user="supervisor")
    assert settled.returncode == 0, settled.stderr
    state = gates.store.get_run(prepared.run_id).state
    events = gates.store.events(prepared.run_id)
    assert "reconcile_finished" in [e.kind for e in events]
    assert "in_doubt" in [e.data["to_state"] for e in events if e.kind == "state_changed"]
    refunds = gates.refunds(prepared.order_id)
    if kill_at == "refund_written":
        assert refunds, "the refund was written before the kill"
    if refunds:  # the sandbox got the confirm: reconcile found it, no second refund
        assert state is RunState.DONE and len(refunds) == 1
        again = cli("resume", prepared.run_id, user="supervisor")
        assert again.returncode == 5 and len(gates.refunds(prepared.order_id)) == 1
    else:  # it never arrived: back to approved, and resume commits it once
        assert state is RunState.APPROVED
        resumed = cli("resume", prepared.run_id, user="supervisor")
        assert resumed.returncode == 0, resumed.stderr
        assert len(gates.refunds(prepared.order_id)) == 1


def test_interactive_approval_asks_for_the_order_id(gates: Gates, cli: Cli):
    prepared = gates.refund()

    def approve_typing(text: str) -> tuple[int, str]:
        leader, follower = pty.openpty()
        proc = subprocess.Popen(
            cli.argv("approve", prepared.gate_id, "--no-resume"),
            stdin=follower,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=cli.env_of("reviewer"),
        )
        os.close(follower)
        os.write(leader, (text + "\n").encode())
        out, _ = proc.communicate(timeout=60)
        os.close(leader)
        return proc.returncode, " ".join(out.split())

    code, out = approve_typing("00000000000000")
    assert code == 5 and f"expected the order_id '{prepared.order_id}'" in out, out
    assert gates.store.get_run(prepared.run_id).state is RunState.PAUSED
    code, out = approve_typing(prepared.order_id)
    assert code == 0 and "approved by reviewer" in out, out
    assert gates.store.get_run(prepared.run_id).state is RunState.APPROVED


def test_unknown_users_and_roles_without_rights_cannot_run(cli: Cli):
    stranger = cli(
        "run", "lookup_order", "--site", "shoplane", "-i", "order_id=AAAAAAAAAAAAAA", user="mallory"
    )
    assert stranger.returncode == 6 and "not signed in" in stranger.stderr
    reviewer = cli(
        "run",
        "lookup_order",
        "--site",
        "shoplane",
        "-i",
        "order_id=AAAAAAAAAAAAAA",
        user="reviewer",
    )
    assert reviewer.returncode == 6 and "may not run recipe 'lookup_order'" in reviewer.stderr
