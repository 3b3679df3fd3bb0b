"""Gaps of the temporal backend that the end-to-end tests found, each pinned by a test:
a gate policy approves by itself is committed by a retried prepare phase, a workflow that
fails outright closes its run with the error, a one-row inputs file keeps its row number."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent.core.states import RunState
from tests.gates.conftest import FLAVOR, Gates
from tests.stack.conftest import Stack

SCALE_ONLY = pytest.mark.parametrize("stack_kind", ["scale"])  # overrides the fixture's params


def test_a_retried_prepare_commits_a_gate_that_policy_approves_by_itself(gates: Gates, run: Any):
    """A worker that died between recording the gate and auto-approving it leaves the run
    paused at a gate policy approves by itself: the retried attempt commits it, once."""
    from temporalio.testing import ActivityEnvironment

    from agent.backends.temporal.activities import RunActivities
    from agent.backends.temporal.messages import RunRequest
    from agent.gates.policy import AUTO_APPROVER

    prepared = gates.refund(amount="1.50")  # paused: the shipped policy never auto-approves
    refund = gates.settings.policy.actions["refund"]
    refund.auto_approve = {c: Decimal("2.00") for c in ("MYR", "SGD", "THB", "BRL", "USD")}
    request = RunRequest(
        run_id=prepared.run_id,
        recipe="prepare_refund",
        inputs={"order_id": prepared.order_id, "amount": "1.50", "reason": "damaged"},
        user="lead",
        site=FLAVOR,
    )
    attempt = ActivityEnvironment().run(RunActivities(gates.aijia).prepare, request)
    outcome = run(attempt)
    assert outcome.state == "done", outcome
    assert gates.store.get_run(prepared.run_id).state is RunState.DONE
    [approval] = gates.store.approvals(prepared.gate_id)
    assert approval.approver == AUTO_APPROVER
    assert len(gates.refunds(prepared.order_id)) == 1

    again = run(ActivityEnvironment().run(RunActivities(gates.aijia).prepare, request))
    assert again.state == "done" and len(gates.refunds(prepared.order_id)) == 1


@SCALE_ONLY
def test_a_workflow_that_fails_outright_closes_its_run_with_the_error(stack: Stack):
    """A worker deployed without the site's password: the prepare phase fails for good (not
    retryable), the workflow fails, and the run says failed, with why."""
    for worker in stack.workers:
        worker.stop()
    secrets = set(stack.gates.sandbox.env())
    env = {k: v for k, v in stack.cli.env_of(None).items() if k not in secrets}
    stack.start_worker(env=env)

    order = stack.gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    done = stack.cli(
        "run",
        "lookup_order",
        "--site",
        FLAVOR,
        "-i",
        f"order_id={order.order_id}",
        "--json",
        user="lead",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    [result] = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert result["state"] == "failed" and "SecretError" in result["error"], result
    run = stack.store.get_run(result["run_id"])
    assert run.state is RunState.FAILED
    assert run.error and "its workflow failed: SecretError" in run.error, run.error
    assert "workflow_failed" in [e.kind for e in stack.store.events(result["run_id"])]
    assert stack.cli("evidence", "verify", "--all").returncode == 0


def test_a_one_row_inputs_file_keeps_its_row_number(stack: Stack, tmp_path: Path):
    order = stack.gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    rows = tmp_path / "one.csv"
    rows.write_text(f"order_id\n{order.order_id}\n", encoding="utf-8")
    done = stack.cli(
        "run", "lookup_order", "--site", FLAVOR, "-f", str(rows), "--json", user="lead"
    )
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.strip().splitlines()]
    assert [(r.get("row"), r["state"]) for r in lines if "run_id" in r] == [(1, "done")], lines


@SCALE_ONLY
def test_approving_in_the_console_wakes_the_workflow_at_once(
    stack: Stack, run: Any, page: Any, tmp_path: Path
):
    """The console records the approval and signals the run's workflow, which commits it now:
    not at its hourly re-read, and not by the console's own commit worker (off on this
    backend, where workflows commit)."""
    from playwright.sync_api import expect

    from agent.serve.server import ConsoleServer
    from tests.serve.conftest import Console, LoopStore
    from tests.stack.test_both_stacks import prepare_refund

    order_id, paused = prepare_refund(stack)  # `aijia run`: its workflow waits at the gate
    evidence = stack.gates.store
    stack.gates.store = LoopStore(evidence, run)  # the console uses it on the loop thread

    async def start() -> ConsoleServer:
        server = ConsoleServer(stack.gates.aijia, port=0, key_file=tmp_path / "console.key")
        await server.start()
        return server

    server = run(start())
    try:
        assert server.worker is None, "on the temporal backend the workflow commits"
        console = Console(server.url, stack.gates, server, stack.cli.tokens)
        console.sign_in(page, "reviewer")
        page.goto(f"{console.url}/gates/{paused['gate_id']}")
        page.get_by_label("Type the order_id").fill(order_id)
        page.get_by_role("button", name="Approve").click()
        assert stack.settled(paused["run_id"], timeout_s=90) is RunState.DONE
        expect(page.locator("#run-state")).to_have_text("done", timeout=30_000)
    finally:
        run(server.stop())
        stack.gates.store = evidence
    assert len(stack.gates.refunds(order_id)) == 1
    [approval] = stack.gates.store.approvals(paused["gate_id"])
    assert approval.approver == "reviewer"
