"""`aijia schedule status` tells the truth: no alarm for a schedule just added, an alarm (with
the reason) for a failed fire or a slot nobody fired, a missing inputs file said before it
fires, and a fire whose rows all finished is `done` even when SIGTERM came meanwhile."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from agent import AsyncAijia
from agent.core.settings import PROJECT_ROOT, ScheduleSettings, Settings
from agent.schedule.daemon import Scheduler
from agent.schedule.times import latest_slot, slot_key
from evidence.schedules import ScheduleLedger
from evidence.store import EvidenceStore
from tests.conftest import aijia_command
from tests.schedule.test_cli import aijia, write_config
from tests.schedule.test_daemon import log_events, start, wait_for


def status(config: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    done = aijia(config, "status", "--json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, {v["name"]: v for v in json.loads(done.stdout)}


def test_a_schedule_just_added_is_not_overdue_but_one_never_fired_for_hours_is(
    tmp_path: Path,
) -> None:
    config = write_config(
        tmp_path,
        {"minutely": {"every_s": 60, "misfire_grace_s": 0, "recipe": "capture_order_evidence"}},
    )
    code, views = status(config)
    assert code == 0 and views["minutely"]["problem"] is None
    assert views["minutely"]["overdue"] is False

    two_hours_ago = time.time() - 7200  # the schedule was added then; no daemon ever fired it
    os.utime(config, (two_hours_ago, two_hours_ago))
    code, views = status(config)
    assert code == 1 and views["minutely"]["overdue"] is True
    assert "overdue" in views["minutely"]["problem"]


def test_overdue_only_past_the_misfire_grace_and_a_tick(tmp_path: Path) -> None:
    schedule = ScheduleSettings.model_validate(
        {"every_s": 600, "misfire_grace_s": 30, "recipe": "capture_order_evidence"}
    )
    with EvidenceStore(tmp_path / "evidence") as store:
        scheduler = Scheduler(AsyncAijia(Settings(schedules={"s": schedule}), store=store))
        ledger = ScheduleLedger(store)
        slot = latest_slot(schedule, datetime.now(UTC))
        assert slot is not None
        fire = ledger.claim("s", slot_key(slot), owner="test")
        assert fire is not None
        ledger.finish_fire(fire.fire_id, "done")
        following = slot + timedelta(seconds=600)
        # grace 30 s + tick 1 s + slack 5 s: 35 s late is within, 40 s late is not
        assert not scheduler.view("s", following + timedelta(seconds=35)).overdue
        late = scheduler.view("s", following + timedelta(seconds=40))
        assert late.overdue and late.problem and late.problem.startswith("overdue")
        # hours later the daemon would coalesce into the newest slot: still the oldest counts
        assert scheduler.view("s", following + timedelta(seconds=3 * 600 + 10)).overdue


def test_last_fire_failed_gives_the_reason_of_the_failed_row(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "typo": {
                "every_s": 3600,
                "recipe": "capture_order_evidence",
                "site": "shoplane",
                "inputs": [{"order_id": "not-an-order"}],
            }
        },
    )
    fired = aijia(config, "trigger", "typo", "--json")
    assert fired.returncode == 1, fired.stderr
    assert "1 of 1 rows failed (row 1: invalid row:" in json.loads(fired.stdout)["reason"]
    plain = aijia(config, "status")
    assert plain.returncode == 1
    line = next(x for x in plain.stdout.splitlines() if x.startswith("typo:"))
    assert "last fire failed: 1 of 1 rows failed (row 1: invalid row:" in line, plain.stdout
    assert "order_id" in line  # which input was wrong, not an empty "failed:"


def test_a_missing_inputs_file_is_reported_before_the_schedule_fires(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "from_export": {
                "cron": "0 3 * * *",
                "recipe": "capture_order_evidence",
                "site": "shoplane",
                "inputs_file": "exports/orders.csv",
            }
        },
    )
    missing = tmp_path / "exports" / "orders.csv"
    code, views = status(config)
    assert code == 1 and views["from_export"]["last"] is None  # never fired
    assert f"inputs file {missing} does not exist" in views["from_export"]["problem"]

    doctor = subprocess.run(
        [aijia_command(), "doctor", "--json", "--config", str(config)],
        cwd=tmp_path,
        env={**os.environ, "SHOPLANE_PASSWORD": "unused"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    assert checks["schedules"]["ok"] is False and str(missing) in checks["schedules"]["detail"]

    log = tmp_path / "daemon.log"  # the daemon says so as it starts, long before 03:00
    env = {**os.environ, "SHOPLANE_PASSWORD": "unused"}
    daemon = start(config, env, log)
    try:
        wait_for(
            "the daemon's warning",
            lambda: any(e.get("event") == "schedule_inputs_unreadable" for e in log_events(log)),
            timeout=60,
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    [warned] = [e for e in log_events(log) if e.get("event") == "schedule_inputs_unreadable"]
    assert warned["schedule"] == "from_export" and str(missing) in warned["error"], warned

    missing.parent.mkdir()
    missing.write_text("order_id\n2611260K4X7QJ8\n")
    code, views = status(config)
    assert code == 0 and views["from_export"]["problem"] is None


def test_sigterm_while_rows_run_lets_them_finish_and_the_fire_is_done(
    sandbox: Any, tmp_path: Path
) -> None:
    orders = [o.order_id for o in sandbox.find_orders("shoplane", "delivered", limit=2)]
    raw = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text())
    raw["data_dir"] = str(tmp_path / "var")
    for name, url in sandbox.base_urls.items():
        raw["sites"][name]["base_url"] = url.rstrip("/")
    raw["scheduler"].update({"tick_s": 0.5, "stop_grace_s": 90})
    raw["schedules"] = {
        "capture": {  # a new schedule within its grace fires on the daemon's first tick
            "every_s": 3600,
            "misfire_grace_s": 3600,
            "recipe": "capture_order_evidence",
            "site": "shoplane",
            "inputs": [{"order_id": o} for o in orders],
            "concurrency": 2,
        }
    }
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    store = EvidenceStore(tmp_path / "var" / "evidence")
    ledger = ScheduleLedger(store)
    log = tmp_path / "daemon.log"

    def rows_started() -> bool:
        fires = ledger.fires("capture", limit=1)
        return bool(fires) and any(i.run_id for i in ledger.items(fires[0].fire_id))

    daemon = start(config, {**os.environ, **sandbox.env()}, log)
    try:
        wait_for("the fire's rows to start", rows_started)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(120) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()

    events = log_events(log)
    (stopping,) = [e for e in events if e["event"] == "scheduler_stopping"]
    assert stopping["in_flight"] == ["capture"], "SIGTERM came too late: the fire had ended"
    (fire,) = ledger.fires("capture")
    assert (fire.state, fire.reason, fire.done) == ("done", None, 2), fire
    assert [i.state for i in ledger.items(fire.fire_id)] == ["done", "done"]
    assert ledger.open_fires(with_interrupted=True) == []  # nothing left for the next daemon
    store.close()
