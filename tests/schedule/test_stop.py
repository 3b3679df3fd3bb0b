"""Stopping the daemon mid-fire against the sandbox: rows in flight past the grace are
interrupted (runs failed, evidence kept), and the next daemon finishes the rest, once each."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from agent.config import ScheduleSettings, Settings
from agent.scheduler import Scheduler
from evidence.schedules import Fire, ScheduleLedger


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
    first = Scheduler(product, store, browser=chromium)

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
        assert [e.kind for e in store.events(item.run_id)][:2] == ["run_created", "run_initiated"]

    second = Scheduler(product, store, browser=chromium)

    async def next_daemon() -> list[Fire]:
        assert [f.fire_id for f in second.recover()] == [stopped.fire_id]
        return list(await asyncio.gather(*second.running.values()))

    (finished,) = run(next_daemon())
    assert finished.fire_id == stopped.fire_id and finished.state == "done"
    done = Counter(
        r.inputs["order_id"]
        for r in store.list_runs(state="done")
        if r.recipe == "capture_order_evidence"
    )
    assert done == Counter(dict.fromkeys(orders, 1))
