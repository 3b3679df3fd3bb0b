"""A source-recipe schedule against the sandbox: one fire captures evidence for every ShopLane
return request; the next fire skips them all as fresh, and says so."""

from __future__ import annotations

from typing import Any

from agent.core.settings import ScheduleSettings, Settings
from agent.core.states import RunState
from evidence.schedules import ScheduleLedger
from tests.conftest import aijia_for


def test_one_fire_captures_every_return_request_and_the_next_skips_them_as_fresh(
    sandbox: Any, run: Any, chromium: Any, product: Settings, store: Any
) -> None:
    product.schedules["returns"] = ScheduleSettings.model_validate(
        {
            "cron": "5 * * * *",
            "timezone": "Asia/Singapore",
            "recipe": "capture_order_evidence",
            "site": "shoplane",
            "source": {"recipe": "list_return_requests", "output": "orders"},
            "concurrency": 3,
            "fresh_within_s": 3600,
        }
    )
    logged: list[dict[str, Any]] = []
    scheduler = aijia_for(product, store, chromium).scheduler(
        log=lambda event, **f: logged.append({"event": event, **f})
    )
    expected = {o.order_id for o in sandbox.find_orders("shoplane", "return_requested")}

    fire = run(scheduler.trigger("returns"))
    assert (fire.state, fire.rows, fire.done, fire.failed) == (
        "done",
        len(expected),
        len(expected),
        0,
    )
    captured = [r for r in store.list_runs(state="done") if r.recipe == "capture_order_evidence"]
    assert sorted(r.inputs["order_id"] for r in captured) == sorted(expected)
    # started as the scheduler's policy user: the initiator is on every run's trail
    for done_run in captured:
        initiated = [e.data for e in store.events(done_run.run_id) if e.kind == "run_initiated"]
        assert initiated and initiated[0]["user"] == "scheduler"

    again = run(scheduler.trigger("returns"))
    assert (again.state, again.rows, again.skipped, again.done) == (
        "done",
        len(expected),
        len(expected),
        0,
    )
    items = ScheduleLedger(store).items(again.fire_id)
    assert all(
        i.state == "skipped" and (i.reason or "").startswith("fresh evidence: run ") for i in items
    )
    assert len(
        [
            r
            for r in store.list_runs(state=RunState.DONE.value)
            if r.recipe == "capture_order_evidence"
        ]
    ) == len(expected)
    assert sum(1 for line in logged if line["event"] == "row_skipped") == len(expected)
    view = scheduler.view("returns", scheduler.clock())
    assert view.last is not None and view.last.fire_id == again.fire_id and view.problem is None
