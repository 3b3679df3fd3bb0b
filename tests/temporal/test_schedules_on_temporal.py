"""Schedules on the temporal backend: `aijia schedule sync` makes config.yaml's schedules
Temporal schedules, Temporal starts each fire as a workflow on an `aijia worker`, every row
is a run workflow of its own, and the store's schedule ledger records it all as the local
scheduler does. Real Temporal dev server, worker subprocesses, Chromium, the sandbox."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import ScheduleOverlapPolicy, WorkflowExecutionStatus

from agent.core.aio import run_sync
from agent.core.states import RunState
from evidence.schedules import Fire, ScheduleLedger
from tests.gates.conftest import FLAVOR, Cli, Gates
from tests.servers.stack import wait_for
from tests.temporal.conftest import TemporalCli


def with_schedules(tcli: TemporalCli, tmp_path: Path, schedules: dict[str, Any]) -> TemporalCli:
    """`aijia …` on tcli's backend and store, with these schedules in its config (its worker
    was started on a config without them: the sync carries each schedule to the worker)."""
    raw = yaml.safe_load(tcli.config.read_text(encoding="utf-8"))
    raw["schedules"] = schedules
    config = tmp_path / f"schedules-{time.monotonic_ns()}.yaml"
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    found = TemporalCli(tcli, config, tcli.server, tcli.task_queue)
    found.workers = tcli.workers  # stopped with tcli's
    return found


def lookups(orders: list[str], **more: Any) -> dict[str, Any]:
    return {
        "recipe": "lookup_order",
        "site": FLAVOR,
        "inputs": [{"order_id": o} for o in orders],
        "concurrency": 2,
        **more,
    }


def sync(cli: TemporalCli) -> dict[str, dict[str, Any]]:
    done = cli("schedule", "sync", "--json", user="lead")
    assert done.returncode == 0, done.stderr
    return {c["name"]: c for c in json.loads(done.stdout)}


def describe(tcli: TemporalCli, schedule_id: str) -> Any:
    from temporalio.client import Client

    async def look() -> Any:
        client = await Client.connect(tcli.server.address)
        return await client.get_schedule_handle(schedule_id).describe()

    return run_sync(look)


def temporal_schedule_ids(tcli: TemporalCli) -> set[str]:
    from temporalio.client import Client

    async def look() -> set[str]:
        client = await Client.connect(tcli.server.address)
        return {s.id async for s in await client.list_schedules()}

    return run_sync(look)


def ended_fire(gates: Gates, name: str) -> Fire | None:
    fires = [f for f in ScheduleLedger(gates.store).fires(name) if f.state != "running"]
    return fires[0] if fires else None


def test_sync_keeps_temporal_schedules_in_step_with_config(
    gates: Gates, cli: Cli, tcli: TemporalCli, tmp_path: Path
):
    hourly = {**lookups(["X"]), "every_s": 3600, "misfire_grace_s": 120, "jitter_s": 5}
    evening = {
        **lookups(["Y"]),
        "cron": "30 18 * * 1-5",
        "timezone": "Asia/Singapore",
        "enabled": False,
        "overlap": "queue",
    }
    scli = with_schedules(tcli, tmp_path, {"hourly": hourly, "evening": evening})
    changes = sync(scli)
    assert {n: (c["change"], c["paused"]) for n, c in changes.items()} == {
        "hourly": ("created", False),
        "evening": ("created", True),
    }
    hourly_id = changes["hourly"]["schedule_id"]
    assert hourly_id == f"aijia:{tcli.task_queue}:hourly"
    found = describe(tcli, hourly_id).schedule
    assert [i.every for i in found.spec.intervals] == [timedelta(hours=1)]
    assert found.spec.jitter == timedelta(seconds=5)
    assert found.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert found.policy.catchup_window == timedelta(seconds=120)
    assert found.action.task_queue == tcli.task_queue and not found.state.paused
    found = describe(tcli, changes["evening"]["schedule_id"]).schedule
    assert found.spec.time_zone_name == "Asia/Singapore" and found.state.paused
    assert found.policy.overlap == ScheduleOverlapPolicy.BUFFER_ONE
    assert len(found.spec.calendars) == 1  # the cron expression, as Temporal reads it

    # again: nothing to do; a changed schedule is replaced; a removed one is deleted
    assert {n: c["change"] for n, c in sync(scli).items()} == {
        "hourly": "unchanged",
        "evening": "unchanged",
    }
    scli = with_schedules(tcli, tmp_path, {"hourly": {**hourly, "every_s": 1800}})
    assert {n: c["change"] for n, c in sync(scli).items()} == {
        "hourly": "updated",
        "evening": "deleted",
    }
    assert [i.every for i in describe(tcli, hourly_id).schedule.spec.intervals] == [
        timedelta(minutes=30)
    ]
    wait_for(
        "the deleted schedule gone from Temporal's list",
        lambda: f"aijia:{tcli.task_queue}:evening" not in temporal_schedule_ids(tcli),
        timeout_s=30,
    )

    # the daemon would race Temporal for every slot: refused; sync on local: refused
    daemon = scli("schedule", "run", user="lead")
    assert daemon.returncode == 2 and "Temporal fires the schedules" in daemon.stderr
    local = cli("schedule", "sync", user="lead")
    assert local.returncode == 2 and "runs.backend is 'local'" in local.stderr, local.stderr
    # a schedule whose recipe the scheduler's user may not run is refused before Temporal
    bad = with_schedules(
        tcli, tmp_path, {"refunds": {**lookups(["Z"]), "every_s": 60, "recipe": "prepare_refund"}}
    )
    refused = bad("schedule", "sync", user="lead")
    assert refused.returncode == 6, refused.stderr  # a policy refusal
    assert "may not run recipe 'prepare_refund'" in refused.stderr
    scli = with_schedules(tcli, tmp_path, {})
    assert {n: c["change"] for n, c in sync(scli).items()} == {"hourly": "deleted"}


def test_a_temporal_schedule_fires_on_a_worker_and_each_row_is_a_run_workflow(
    gates: Gates, tcli: TemporalCli, tmp_path: Path
):
    orders = [o.order_id for o in gates.sandbox.find_orders(FLAVOR, "delivered", limit=2)]
    scli = with_schedules(tcli, tmp_path, {"often": {**lookups(orders), "every_s": 10}})
    assert sync(scli)["often"]["change"] == "created"
    fire = wait_for("a fire of the schedule ended", lambda: ended_fire(gates, "often"), 90)
    # stop it firing again before looking (a paused schedule starts nothing)
    paused = with_schedules(
        tcli, tmp_path, {"often": {**lookups(orders), "every_s": 10, "enabled": False}}
    )
    assert (sync(paused)["often"]["change"], sync(paused)["often"]["change"]) == (
        "updated",  # enabled: false is a change: the schedule is paused
        "unchanged",
    )
    assert describe(tcli, f"aijia:{tcli.task_queue}:often").schedule.state.paused
    assert fire.state == "done" and (fire.rows, fire.done, fire.failed) == (2, 2, 0), fire
    assert fire.owner and fire.owner.startswith("temporal aijia-fire:")
    slot = fire.slot  # the time Temporal scheduled it, on the interval's grid
    assert slot.endswith("Z") and int(slot[17:19]) % 10 == 0, slot
    items = ScheduleLedger(gates.store).items(fire.fire_id)
    assert [(i.inputs["order_id"], i.state) for i in items] == [(o, "done") for o in orders]
    for item in items:
        assert item.run_id
        run = gates.store.get_run(item.run_id)
        assert run.state is RunState.DONE and run.outputs["order_id"] == item.inputs["order_id"]
        ended = tcli.wait_workflow_end(item.run_id)  # the row's own workflow (id = run id)
        assert ended["status"] == WorkflowExecutionStatus.COMPLETED
        kinds = [e.kind for e in gates.store.events(item.run_id)]
        assert "scheduled" in kinds
        started = [e.data for e in gates.store.events(item.run_id) if e.kind == "run_initiated"]
        assert started[0]["user"] == "scheduler"
    status = scli("schedule", "status", "--json", user="lead")
    assert status.returncode == 0, status.stdout + status.stderr


def test_trigger_on_temporal_runs_one_fire_on_a_worker(
    gates: Gates, tcli: TemporalCli, tmp_path: Path
):
    orders = [o.order_id for o in gates.sandbox.find_orders(FLAVOR, "delivered", limit=2)]
    scli = with_schedules(
        tcli, tmp_path, {"daily": {**lookups([*orders, "NO-SUCH-ORDER"]), "cron": "0 6 * * *"}}
    )
    done = scli("schedule", "trigger", "daily", "--json", user="lead")
    assert done.returncode == 1, done.stderr  # one row failed: the fire failed
    fire = json.loads(done.stdout)
    assert fire["slot"].startswith("manual:") and fire["state"] == "failed", fire
    assert (fire["rows"], fire["done"], fire["failed"]) == (3, 2, 1)
    items = ScheduleLedger(gates.store).items(fire["fire_id"])
    assert [i.state for i in items] == ["done", "done", "failed"]
    assert items[2].reason, items[2]  # why the unknown order failed, on its row
    assert gates.store.get_run(items[0].run_id or "").state is RunState.DONE
    assert tcli.workflow(items[0].run_id or "")["status"] is not None  # a workflow per row

    # no worker polls the task queue: a clear refusal, not a hang
    raw = yaml.safe_load(scli.config.read_text(encoding="utf-8"))
    raw["runs"]["temporal"]["task_queue"] = f"{tcli.task_queue}-nobody"
    scli.config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    nobody = scli("schedule", "trigger", "daily", user="lead")
    assert nobody.returncode == 2, nobody.stderr
    assert "no `aijia worker` polls task queue" in nobody.stderr


def test_a_worker_killed_mid_fire_leaves_the_fire_to_another_worker_rows_run_once(
    gates: Gates, tcli: TemporalCli, tmp_path: Path
):
    orders = [o.order_id for o in gates.sandbox.find_orders(FLAVOR, "delivered", limit=4)]
    scli = with_schedules(
        tcli,
        tmp_path,
        {"batch": {**lookups(orders), "cron": "0 6 * * *", "concurrency": 1}},
    )
    trigger = scli.popen("schedule", "trigger", "batch", "--json", user="lead")
    ledger = ScheduleLedger(gates.store)

    def some_rows_done() -> bool:
        fires = ledger.fires("batch")
        items = ledger.items(fires[0].fire_id) if fires else []
        return any(i.state == "done" for i in items)

    wait_for("a row of the fire done", some_rows_done, timeout_s=120)
    tcli.workers[0].kill()  # SIGKILL: the fire activity and a row's prepare die with it
    tcli.start_worker()  # Temporal retries the fire here once the heartbeat lapses
    out, err = trigger.communicate(timeout=240)
    assert trigger.returncode == 0, err
    fire = json.loads(out)
    assert fire["state"] == "done" and fire["done"] == 4, fire
    assert not fire["owner"].endswith("attempt 1"), fire  # a retry on the new worker ended it
    items = ledger.items(fire["fire_id"])
    assert [i.state for i in items] == ["done"] * 4
    for order in orders:  # one run a row: the retry followed the rows already started
        runs = [
            r
            for r in gates.store.list_runs(limit=500)
            if r.recipe == "lookup_order"
            and r.inputs.get("order_id") == order
            and any(e.kind == "scheduled" for e in gates.store.events(r.run_id))
        ]
        assert len(runs) == 1, [(r.run_id, r.state) for r in runs]
        assert runs[0].state is RunState.DONE
    assert gates.store.verify([i.run_id or "" for i in items]).ok
