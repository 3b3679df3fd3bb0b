"""Stopping the daemon mid-fire against the sandbox: rows in flight past the grace are
interrupted (runs failed, evidence kept), and the next daemon finishes the rest, once each."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from agent.core.settings import ScheduleSettings, Settings
from evidence.schedules import Fire, ScheduleLedger
from tests.conftest import aijia_for


def finished_run_id(store: Any, order_id: str) -> str:
    (done,) = [r for r in store.list_runs(state="done") if r.inputs["order_id"] == order_id]
    return str(done.run_id)


def test_a_stop_interrupts_rows_in_flight_and_the_next_daemon_finishes_the_fire(
    sandbox: Any, run: Any, chromium: Any, product: Settings, store: Any
) -> None:
    orders = [o.order_id for o in sandbox.find_orders("shoplane", "in_transit", limit=4)]
    product.scheduler.stop_grace_s = 0  # in-flight rows are interrupted at once
    product.schedules["capture"] = ScheduleSettings.model_validate(
        {
            "every_s": 3600,
            "recipe": "capture_order_evidence",
            "site": "shoplane",
            "inputs": [{"order_id": o} for o in orders],
            "concurrency": 2,
        }
    )
    ledger = ScheduleLedger(store)
    first = aijia_for(product, store, chromium).scheduler()

    async def stop_mid_fire() -> Fire:
        fire = asyncio.create_task(first.trigger("capture"))
        while not any(i.run_id for f in ledger.open_fires() for i in ledger.items(f.fire_id)):
            await asyncio.sleep(0.05)
        first.stop.set()
        return await fire

    stopped = run(stop_mid_fire())
    assert stopped.state == "interrupted" and stopped.reason == "the scheduler is stopping"
    cut = [i for i in ledger.items(stopped.fire_id) if i.state == "interrupted"]
    assert cut, ledger.items(stopped.fire_id)
    for item in cut:
        assert item.run_id is not None
        cut_run = store.get_run(item.run_id)
        assert cut_run.state.value == "failed" and "interrupted" in (cut_run.error or "")
        kinds = [e.kind for e in store.events(item.run_id)]
        assert kinds[:3] == ["run_created", "run_initiated", "scheduled"]

    second = aijia_for(product, store, chromium).scheduler()

    async def next_daemon() -> list[Fire]:
        assert [f.fire_id for f in second.recover()] == [stopped.fire_id]
        return list(await asyncio.gather(*second.running.values()))

    (finished,) = run(next_daemon())
    scheduled = [
        e.data for e in store.events(finished_run_id(store, orders[0])) if e.kind == "scheduled"
    ]
    assert scheduled == [
        {"schedule": "capture", "fire_id": stopped.fire_id, "slot": stopped.slot, "row": 1}
    ]
    # the interrupted and the finished runs verify and report like any other
    from evidence.report import standalone_report

    every = [r.run_id for r in store.list_runs() if r.recipe == "capture_order_evidence"]
    assert store.verify(every).ok
    assert "capture_order_evidence" in standalone_report(store, every)
    assert finished.fire_id == stopped.fire_id and finished.state == "done"
    done = Counter(
        r.inputs["order_id"]
        for r in store.list_runs(state="done")
        if r.recipe == "capture_order_evidence"
    )
    assert done == Counter(dict.fromkeys(orders, 1))


def test_a_fire_over_its_max_run_time_is_stopped_and_failed(
    sandbox: Any, run: Any, chromium: Any, product: Settings, store: Any
) -> None:
    orders = [o.order_id for o in sandbox.find_orders("shoplane", "delivered", limit=3)]
    product.schedules["slow"] = ScheduleSettings.model_validate(
        {
            "every_s": 3600,
            "recipe": "capture_order_evidence",
            "site": "shoplane",
            "inputs": [{"order_id": o} for o in orders],
            "concurrency": 1,
            "max_run_time_s": 1.0,  # not even one capture fits
        }
    )
    scheduler = aijia_for(product, store, chromium).scheduler()
    fire = run(scheduler.trigger("slow"))
    assert (fire.state, fire.reason) == ("failed", "max_run_time_s exceeded")
    items = ScheduleLedger(store).items(fire.fire_id)
    assert [i.state for i in items] == ["interrupted", "pending", "pending"]
    cut = store.get_run(items[0].run_id)
    assert cut.state.value == "failed" and "max_run_time_s exceeded" in (cut.error or "")
    assert scheduler.recover() == []  # a failed fire is over: nobody picks it up
