"""The daemon commits runs approved with `--no-resume`, exactly once each, waits for a
retry time, settles runs a dead committer left committing, and closes overdue gates."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from agent.core.states import RunState
from agent.gates.recorder import OWNER
from tests.conftest import aijia_for


def paused_refund(sandbox: Any, run: Any, aijia: Any, amount: str) -> tuple[Any, Any]:
    """A ShopLane refund prepared by the lead, paused at its gate: (order, run result)."""
    order = sandbox.find_orders("shoplane", "delivered", limit=1)[0]
    prepared = run(
        aijia.run(
            "prepare_refund",
            {"order_id": order.order_id, "amount": amount, "reason": "damaged"},
            as_user="lead",
            site="shoplane",
        )
    )
    assert prepared.state is RunState.PAUSED and prepared.gate is not None, prepared.error
    return order, prepared


def test_the_daemon_commits_an_approved_run_once(
    sandbox: Any, run: Any, chromium: Any, product: Any, store: Any
) -> None:
    aijia = aijia_for(product, store, chromium)
    order, prepared = paused_refund(sandbox, run, aijia, "1.50")
    run(aijia.approve(prepared.gate.gate_id, as_user="reviewer"))  # as `approve --no-resume`
    assert store.get_run(prepared.run_id).state is RunState.APPROVED  # nobody resumed it yet

    product.scheduler.resume_after_s = 0
    scheduler = aijia.scheduler()

    async def two_ticks() -> None:
        await scheduler.tick()
        assert scheduler._resuming is not None
        await scheduler._resuming
        scheduler._last_resume_check = scheduler._last_resume_check.replace(year=2000)
        await scheduler.tick()  # nothing approved is left: no second commit
        if scheduler._resuming is not None:
            await asyncio.gather(scheduler._resuming)

    run(two_ticks())
    assert store.get_run(prepared.run_id).state is RunState.DONE
    owners = [e.data for e in store.events(prepared.run_id) if e.kind == OWNER]
    assert [o["user"] for o in owners] == ["scheduler"]
    refunds = [r for r in sandbox.ledger("shoplane")["refunds"] if r["order_id"] == order.order_id]
    assert len(refunds) == 1


def test_the_daemon_waits_for_the_retry_time_after_an_outage(
    sandbox: Any, run: Any, chromium: Any, product: Any, store: Any
) -> None:
    """An approved run whose resume found the site down is retried when its `commit_retry`
    says, not on every tick; once the site is back it commits once."""
    aijia = aijia_for(product, store, chromium)
    order, prepared = paused_refund(sandbox, run, aijia, "1.25")
    run(aijia.approve(prepared.gate.gate_id, as_user="reviewer"))
    product.scheduler.resume_after_s = 0
    product.policy.commit_retry_s = [3600.0]
    scheduler = aijia.scheduler()

    async def tick() -> None:
        scheduler._last_resume_check = scheduler._last_resume_check.replace(year=2000)
        await scheduler.tick()
        if scheduler._resuming is not None:
            await asyncio.gather(scheduler._resuming)
            scheduler._resuming = None

    def retries() -> list[dict[str, Any]]:
        return [dict(e.data) for e in store.events(prepared.run_id) if e.kind == "commit_retry"]

    sandbox.set_faults("shoplane", maintenance=True)
    try:
        run(tick())
        assert [r["attempt"] for r in retries()] == [1]
        run(tick())  # the next attempt is an hour away: not resumed again
        assert [r["attempt"] for r in retries()] == [1]
    finally:
        sandbox.set_faults("shoplane", maintenance=False)
    assert store.get_run(prepared.run_id).state is RunState.APPROVED

    product.policy.commit_retry_s = [0.0]  # a person resumes it, or the time has come:
    run(aijia.resume(prepared.run_id, as_user="reviewer"))
    assert store.get_run(prepared.run_id).state is RunState.DONE
    refunds = [r for r in sandbox.ledger("shoplane")["refunds"] if r["order_id"] == order.order_id]
    assert len(refunds) == 1


def test_the_daemon_settles_a_run_a_dead_committer_left_committing(
    sandbox: Any, run: Any, chromium: Any, product: Any, store: Any
) -> None:
    """A committer claimed the run (approved -> committing) and died before its request
    reached the site, leaving no live lease: the daemon reconciles it (the refund with the
    run's reference is not there, so the approval holds) and then commits it, once."""
    aijia = aijia_for(product, store, chromium)
    order, prepared = paused_refund(sandbox, run, aijia, "1.10")
    run(aijia.approve(prepared.gate.gate_id, as_user="reviewer"))
    assert store.transition(prepared.run_id, RunState.APPROVED, RunState.COMMITTING)
    assert store.commit_lease(prepared.run_id) is None  # nobody holds it: the committer died
    product.scheduler.resume_after_s = 0
    scheduler = aijia.scheduler()

    async def tick() -> None:
        await scheduler.tick()
        if scheduler._resuming is not None:
            await asyncio.gather(scheduler._resuming)

    run(tick())
    assert store.get_run(prepared.run_id).state is RunState.DONE
    kinds = [e.kind for e in store.events(prepared.run_id)]
    assert "reconcile_finished" in kinds and kinds.index("reconcile_finished") < kinds.index(
        "action_done"
    )
    refunds = [r for r in sandbox.ledger("shoplane")["refunds"] if r["order_id"] == order.order_id]
    assert len(refunds) == 1
    assert store.verify([prepared.run_id]).ok


def test_the_daemon_closes_a_gate_past_its_expiry(
    sandbox: Any, run: Any, chromium: Any, product: Any, store: Any
) -> None:
    aijia = aijia_for(product, store, chromium)
    order, prepared = paused_refund(sandbox, run, aijia, "1.20")
    gate = store.get_gate(prepared.gate.gate_id)
    assert gate.state == "pending" and gate.expires_at is not None
    expiry = datetime.fromisoformat(gate.expires_at.replace("Z", "+00:00"))
    scheduler = aijia.scheduler()
    run(scheduler.tick(expiry + timedelta(seconds=1)))
    assert store.get_gate(gate.gate_id).state == "expired"
    assert store.get_run(prepared.run_id).state is RunState.EXPIRED
    assert [
        r for r in sandbox.ledger("shoplane")["refunds"] if r["order_id"] == order.order_id
    ] == []
