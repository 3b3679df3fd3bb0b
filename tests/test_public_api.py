"""The public API (`from agent import Aijia`, the sync twin) against the real sandbox: a run
records who started it, that user may not approve it, another reviewer may, and `resume`
commits exactly one refund. And the sync twin works from a thread whose own event loop is
already running (a Jupyter cell, an async web handler)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from agent import Aijia, PolicyError, RunState, Settings
from tests.recipes.conftest import product  # noqa: F401 - the shipped config on the sandbox

FLAVOR = "shoplane"


@pytest.fixture
def aijia(product: Settings) -> Iterator[Aijia]:  # noqa: F811
    """The sync facade over the shipped config pointed at the sandbox: its own Chromium, its
    own evidence store in the test's data dir, its own loop thread."""
    with Aijia(product) as opened:
        yield opened


def refunds_of(sandbox: Any, order_id: str) -> list[dict[str, Any]]:
    return [r for r in sandbox.ledger(FLAVOR)["refunds"] if r["order_id"] == order_id]


def test_a_run_records_its_initiator_who_may_not_approve_it_and_commits_once(
    aijia: Aijia, sandbox: Any
) -> None:
    order = sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]
    inputs = {"order_id": order.order_id, "amount": "1.50", "reason": "damaged"}
    paused = aijia.run("prepare_refund", inputs, as_user="lead", site=FLAVOR)
    assert paused.state is RunState.PAUSED, paused.error
    assert paused.gate is not None and paused.gate.gate_id and paused.run_id
    gate_id, run_id = paused.gate.gate_id, paused.run_id

    # the initiator is in the run's hash chain, first thing after the run was created
    events = aijia.store.events(run_id)
    initiated = [e.data for e in events if e.kind == "run_initiated"]
    assert [i["user"] for i in initiated] == ["lead"]
    assert initiated[0]["proof"] == "api"  # embedding code named the user
    assert [e.kind for e in events][:2] == ["run_created", "run_initiated"]
    assert aijia.verify([run_id]).ok
    assert aijia.gate(gate_id).initiator == "lead"

    # separation of duties: the initiator is refused, and the refusal is on the trail
    with pytest.raises(PolicyError, match="separation of duties"):
        aijia.approve(gate_id, as_user="lead")
    assert aijia.store.get_run(run_id).state is RunState.PAUSED
    refused = [e.data for e in aijia.store.events(run_id) if e.kind == "approval_refused"]
    assert [r["user"] for r in refused] == ["lead"]
    assert [v.gate.gate_id for v in aijia.pending_gates("lead")] == []
    assert gate_id in [v.gate.gate_id for v in aijia.pending_gates("reviewer")]
    assert refunds_of(sandbox, order.order_id) == []

    decision = aijia.approve(gate_id, as_user="reviewer", note="photos checked")
    assert decision.complete and decision.user == "reviewer"
    assert refunds_of(sandbox, order.order_id) == [], "approving alone commits nothing"

    done = aijia.resume(run_id, as_user="reviewer")
    assert done.state is RunState.DONE, done.error
    [refund] = refunds_of(sandbox, order.order_id)
    assert refund["amount"] == "1.50" and refund["reason"] == "damaged"
    assert done.outputs["refund_id"] == refund["refund_id"]
    assert aijia.store.get_gate(gate_id).state == "used"
    assert aijia.verify([run_id]).ok


def test_the_sync_twin_works_in_a_thread_whose_event_loop_is_running(
    aijia: Aijia, sandbox: Any
) -> None:
    order = sandbox.find_orders(FLAVOR, "delivered", limit=1)[0]

    async def handler() -> Any:
        # a loop runs in this thread: asyncio.run() here would refuse; the twin does not
        assert asyncio.get_running_loop().is_running()
        return threading.current_thread(), aijia.run(
            "lookup_order", {"order_id": order.order_id}, as_user="lead", site=FLAVOR
        )

    with ThreadPoolExecutor(max_workers=1) as pool:
        caller, result = pool.submit(asyncio.run, handler()).result(timeout=120)
    assert caller is not threading.current_thread()
    assert result.state is RunState.DONE, result.error
    assert result.outputs["order_id"] == order.order_id
    initiated = [e.data for e in aijia.store.events(result.run_id) if e.kind == "run_initiated"]
    assert [i["user"] for i in initiated] == ["lead"]
