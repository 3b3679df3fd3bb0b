"""More kill and wake cases of the temporal backend on the full stack (issue 15):

- a worker SIGKILLed mid-commit *before* its refund reached the site: reconcile finds nothing,
  the approval still holds, and another worker commits the refund once;
- a worker SIGKILLed between a gate policy approved by itself and its commit: another worker
  commits it once;
- a rejection in the review console (a real `aijia serve`, a reviewer signed in over HTTP)
  wakes the run's workflow, which ends at once with nothing committed.
"""

from __future__ import annotations

import contextlib
import re
import select
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from agent.core.states import RunState
from agent.gates.decide import parse_time
from tests.gates.conftest import FLAVOR, PASSWORD, Cli, Gates
from tests.scale_kill.conftest import KillCli, refund_paused, run_lines
from tests.servers.stack import ScaleStack, wait_for

COMMIT_LATENCY_MS = 1500  # every ShopLane answer this late: the refund POST waits this long
# before the site reads it, the window in which its committer is killed
NOTE_LATENCY_MS = 400  # the repeated prepare of an auto-approved note takes seconds
CONSOLE_START_S = 60.0
WOKEN_WITHIN_S = 30.0  # a woken workflow ends in seconds; unwoken it waits for an hour


def _state_changes(gates: Gates, run_id: str) -> list[tuple[str, str]]:
    return [
        (e.data["from_state"], e.data["to_state"])
        for e in gates.store.events(run_id)
        if e.kind == "state_changed"
    ]


def test_a_worker_killed_before_its_refund_reached_the_site_is_committed_once_by_another(
    gates: Gates, kill: KillCli
):
    order_id, run_id, gate_id = refund_paused(gates, kill)
    gates.sandbox.set_faults(FLAVOR, latency=COMMIT_LATENCY_MS)
    approved = kill("approve", gate_id, "--yes", "--json", user="reviewer")
    assert approved.returncode == 0, approved.stderr

    def committing() -> bool:
        state = gates.store.get_run(run_id).state
        assert state in (RunState.APPROVED, RunState.COMMITTING), state
        return state is RunState.COMMITTING

    # `committing` is recorded as the refund POST is released; the site sleeps before reading
    # it, and a connection closed meanwhile (the worker's Chromium dies with it) is never read
    wait_for("the refund request released, the run committing", committing, timeout_s=180)
    kill.workers[0].kill()
    assert gates.refunds(order_id) == [], "killed before the site had the refund"
    assert gates.store.get_run(run_id).state is RunState.COMMITTING
    gates.sandbox.set_faults(FLAVOR, latency=0)
    kill.start_worker()  # Temporal retries the settle activity here once the dead worker's
    # heartbeat lapses: reconcile finds no refund, the approval holds, the refund is committed
    ended = kill.wait_workflows_end([run_id], timeout_s=240)[run_id]
    assert ended["result"] and ended["result"]["state"] == "done", (ended, kill.worker_logs())
    assert gates.store.get_run(run_id).state is RunState.DONE
    refunds = gates.refunds(order_id)
    assert len(refunds) == 1 and refunds[0]["reference"] == f"aijia {run_id}", refunds
    reconciled = [
        e.data["values"] for e in gates.store.events(run_id) if e.kind == "reconcile_finished"
    ]
    assert [v["committed"] for v in reconciled] == [False], "reconcile looked first, found none"
    changes = _state_changes(gates, run_id)
    assert changes[-4:] == [
        ("committing", "in_doubt"),
        ("in_doubt", "approved"),
        ("approved", "committing"),
        ("committing", "done"),
    ], changes
    assert gates.store.get_gate(gate_id).state == "used"
    assert gates.store.verify([run_id]).ok


@pytest.fixture
def auto(cli: Cli, scale: ScaleStack, tmp_path: Path) -> Iterator[KillCli]:
    """`kill` with the shipped policy as it is: internal notes are approved by policy."""
    raw = scale.merge(yaml.safe_load(cli.config.read_text(encoding="utf-8")))
    assert raw["policy"]["actions"]["internal_note"] == {"auto_approve": True}
    config = tmp_path / "auto.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    found = KillCli(Cli(config, {**cli.env, **scale.env()}, cli.tokens), config, scale)
    found.start_worker()
    yield found
    found.stop_workers()


def test_a_worker_killed_between_an_auto_approved_gate_and_its_commit_leaves_one_note(
    gates: Gates, auto: KillCli
):
    order_id = gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0].order_id
    body = f"auto-approved note, killed before commit ({time.monotonic_ns()})"
    gates.sandbox.set_faults(FLAVOR, latency=NOTE_LATENCY_MS)
    started = auto.popen(
        "run",
        "add_internal_note",
        "--site",
        FLAVOR,
        "--json",
        "-i",
        f"order_id={order_id}",
        "-i",
        f"note={body}",
        user="lead",
    )
    try:

        def approved_by_policy() -> str | None:
            runs = gates.store.list_runs(state=RunState.APPROVED.value)
            assert started.poll() is None, started.communicate()
            return runs[0].run_id if runs else None

        # approved by policy:auto; the worker now repeats the prepare phase (slow pages)
        # before it sends the note
        run_id = wait_for("the gate approved by policy", approved_by_policy, timeout_s=180)
        auto.workers[0].kill()
        assert gates.store.get_run(run_id).state is RunState.APPROVED, "killed before commit"
        assert gates.sandbox.ledger(FLAVOR)["notes"] == []
        gates.sandbox.set_faults(FLAVOR, latency=0)
        auto.start_worker()
        out, err = started.communicate(timeout=240)
    finally:
        if started.poll() is None:
            started.kill()
            started.communicate()
    # `aijia run` reports the retried prepare phase's outcome: approved, the commit to come
    # (or done, had the workflow committed it before the client's next look)
    first = run_lines(out)[-1]
    assert first["run_id"] == run_id and first["state"] in ("approved", "done"), (out, err)
    # never "every run done" for a run not committed yet: approved is the retry exit code
    assert started.returncode == {"approved": 4, "done": 0}[first["state"]], (out, err)
    ended = auto.wait_workflows_end([run_id], timeout_s=240)[run_id]
    assert ended["result"] and ended["result"]["state"] == "done", (ended, auto.worker_logs())
    assert gates.store.get_run(run_id).state is RunState.DONE
    notes = [n for n in gates.sandbox.ledger(FLAVOR)["notes"] if n["body"] == body]
    assert len(notes) == 1, gates.sandbox.ledger(FLAVOR)["notes"]
    changes = _state_changes(gates, run_id)
    assert changes.count(("approved", "committing")) == 1, changes
    assert changes[-1] == ("committing", "done"), changes
    [gate] = gates.store.list_gates(run_id=run_id)
    assert gate.state == "used"
    approvals = gates.store.approvals(gate.gate_id)
    assert [a.approver for a in approvals] == ["policy:auto"], approvals
    assert gates.store.verify([run_id]).ok


class Console:
    """`aijia serve` in a subprocess on the stack's config; its URL once it listens."""

    def __init__(self, kill: KillCli, log: Path) -> None:
        self.log = log
        # the session's $XDG_CONFIG_HOME (tests/conftest.py): the workers' signing key
        env = kill.env_of(None)
        with self.log.open("w", encoding="utf-8") as err:
            self.process = subprocess.Popen(
                kill.argv("serve", "--port", "0"),
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                env=env,
                stdin=subprocess.DEVNULL,
            )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], CONSOLE_START_S)
        line = self.process.stdout.readline() if ready else ""  # "Aijia review console: URL …"
        if "Aijia review console:" not in line:
            self.stop()
            raise AssertionError(f"`aijia serve` did not start: {line}{self.log.read_text()}")
        self.url = line.split("Aijia review console:", 1)[1].split()[0]

    def signed_in(self, user: str) -> httpx.Client:
        """A client signed in as `user` through the sign-in form."""
        client = httpx.Client(base_url=self.url, timeout=30)
        done = client.post(
            "/signin",
            data={"name": user, "password": PASSWORD, "csrf": csrf_of(client.get("/signin").text)},
        )
        assert done.status_code == 303, done.text
        return client

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        if self.process.stdout is not None:
            self.process.stdout.close()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html[:500]
    return found[1]


@pytest.fixture
def console(kill: KillCli, tmp_path: Path) -> Iterator[Console]:
    started = Console(kill, tmp_path / "console.log")
    yield started
    started.stop()


def test_a_rejection_in_the_console_wakes_the_workflow_which_ends_with_nothing_committed(
    gates: Gates, kill: KillCli, console: Console
):
    order_id, run_id, gate_id = refund_paused(gates, kill)
    expires_at = gates.store.get_gate(gate_id).expires_at
    assert expires_at is not None
    left = parse_time(expires_at) - datetime.now(UTC)
    assert left > timedelta(hours=1), "unwoken, the workflow would wait an hour (RECHECK)"
    with contextlib.closing(console.signed_in("reviewer")) as reviewer:
        page = reviewer.get(f"/gates/{gate_id}")
        assert page.status_code == 200 and "Reject" in page.text, page.text[:500]
        rejected = reviewer.post(
            f"/gates/{gate_id}/reject",
            data={"csrf": csrf_of(page.text), "reason": "the customer withdrew the request"},
        )
        assert rejected.status_code == 303, rejected.text[:1000]
    # woken by the console's signal; else it would wait for the gate's expiry or RECHECK
    ended = kill.wait_workflows_end([run_id], timeout_s=WOKEN_WITHIN_S)[run_id]
    assert ended["result"] and ended["result"]["state"] == "rejected", ended
    assert gates.store.get_run(run_id).state is RunState.REJECTED
    gate = gates.store.get_gate(gate_id)
    assert gate.state == "rejected"
    assert gates.refunds(order_id) == []
    assert ("approved", "committing") not in _state_changes(gates, run_id)
    assert gates.store.verify([run_id]).ok
    assert "Traceback" not in console.log.read_text()
