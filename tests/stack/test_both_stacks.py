"""The end-to-end scenarios on both stacks (tests/stack/conftest.py), through the real CLI:
a lookup, a batch, a gated refund approved by a second person, and an in-doubt commit that
reconcile settles. The evidence verifies on both; on scale it is in PostgreSQL and S3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.core.states import RunState
from tests.gates.conftest import FLAVOR
from tests.stack.conftest import Stack


def run_json(stack: Stack, *args: str) -> tuple[int, list[dict[str, Any]]]:
    """`aijia run ARGS --site FLAVOR --json` as lead: its exit code and JSON lines."""
    done = stack.cli("run", *args, "--site", FLAVOR, "--json", user="lead")
    assert done.stdout.strip(), done.stderr
    return done.returncode, [json.loads(line) for line in done.stdout.strip().splitlines()]


def prepare_refund(stack: Stack) -> tuple[str, dict[str, Any]]:
    """A refund prepared as lead, paused at its gate."""
    order = stack.gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    code, [paused] = run_json(
        stack,
        "prepare_refund",
        *("-i", f"order_id={order.order_id}", "-i", "amount=1.50", "-i", "reason=damaged"),
    )
    assert code == 3 and paused["state"] == "paused" and paused["gate_id"], paused
    return order.order_id, paused


def assert_evidence(stack: Stack, *run_ids: str) -> None:
    """`aijia evidence verify --all` passes; on scale the rows are in PostgreSQL and the
    blobs in the bucket."""
    verified = stack.cli("evidence", "verify", "--all", "--json", user="lead")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    if stack.scale is not None:
        for run_id in run_ids:
            assert stack.scale.count_rows("runs", "run_id = %s", run_id) == 1
            assert stack.scale.count_rows("events", "run_id = %s", run_id) > 1
        keys = stack.scale.blob_keys()
        assert keys and all(k.startswith("evidence/") for k in keys), keys[:3]
        local_blobs = stack.cli.config.parent / "var" / "evidence" / "objects"
        assert not any(p.is_file() for p in local_blobs.rglob("*")), "no blob stays local"


def test_lookup_answers_the_same_as_the_facade(stack: Stack):
    order = stack.gates.sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    code, [remote] = run_json(stack, "lookup_order", "-i", f"order_id={order.order_id}")
    assert code == 0 and remote["state"] == "done", remote
    here = stack.gates.start("lookup_order", order_id=order.order_id)  # in this process
    assert here.state is RunState.DONE, here.error
    assert remote["outputs"] == json.loads(json.dumps(here.outputs, default=str))
    assert remote["outputs"]["order_id"] == order.order_id
    assert stack.store.get_run(remote["run_id"]).state is RunState.DONE
    if stack.scale is not None:  # it ran as a workflow (id = run id) on the worker
        assert stack.workflow_status(remote["run_id"]) == "COMPLETED"
    assert_evidence(stack, remote["run_id"], str(here.run_id))


def test_a_batch_of_three_rows(stack: Stack, tmp_path: Path):
    orders = [o.order_id for o in stack.gates.sandbox.find_orders(FLAVOR, "delivered", limit=3)]
    assert len(orders) == 3
    rows = tmp_path / "orders.csv"
    rows.write_text("order_id\n" + "".join(f"{o}\n" for o in orders), encoding="utf-8")
    code, lines = run_json(stack, "lookup_order", "-f", str(rows))
    assert code == 0, lines
    found = [(r["row"], r["state"], r["outputs"]["order_id"]) for r in lines if "row" in r]
    assert found == [(n, "done", o) for n, o in enumerate(orders, start=1)], lines
    assert_evidence(stack, *(r["run_id"] for r in lines if "run_id" in r))


def test_a_gated_refund_is_committed_once_after_a_second_persons_approval(stack: Stack):
    order_id, paused = prepare_refund(stack)
    assert stack.gates.refunds(order_id) == [], "nothing is committed before the approval"
    own = stack.cli("approve", paused["gate_id"], "--yes", user="lead")
    assert own.returncode == 6, "the initiator never approves"
    approved = stack.cli("approve", paused["gate_id"], "--yes", "--json", user="reviewer")
    assert approved.returncode == 0, approved.stderr

    assert stack.settled(paused["run_id"]) is RunState.DONE
    if stack.scale is not None:
        assert json.loads(approved.stdout)["committed_by"] == "workflow"
    [refund] = stack.gates.refunds(order_id)
    assert refund["reference"] == f"aijia {paused['run_id']}"
    again = stack.cli("approve", paused["gate_id"], "--yes", user="supervisor")
    assert again.returncode == 5, "a used gate is refused"
    assert len(stack.gates.refunds(order_id)) == 1
    assert_evidence(stack, paused["run_id"])


def test_an_in_doubt_commit_is_settled_by_reconcile_without_a_second_refund(stack: Stack):
    order_id, paused = prepare_refund(stack)
    run_id = paused["run_id"]
    # the sandbox saves the refund but answers 500: the agent cannot tell it went through
    stack.gates.sandbox.set_faults(FLAVOR, commit_error_rate=1.0)
    stack.cli("approve", paused["gate_id"], "--yes", user="reviewer")
    assert stack.settled(run_id) is RunState.IN_DOUBT
    stack.gates.sandbox.set_faults(FLAVOR, commit_error_rate=0)
    [mine] = stack.gates.refunds(order_id)

    settled = stack.cli("runs", "reconcile", run_id, user="supervisor")
    assert settled.returncode == 0, settled.stdout + settled.stderr
    assert stack.store.get_run(run_id).state is RunState.DONE
    assert stack.gates.refunds(order_id) == [mine], "reconcile sent nothing"
    kinds = [e.kind for e in stack.store.events(run_id)]
    assert "reconcile_finished" in kinds
    assert_evidence(stack, run_id)
